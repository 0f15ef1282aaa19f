import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._logging_profile import (
    ProfileError, resolve_profile, service_logging_config)

PROFILES = {
    "agents_ia": {"elasticsearch": True, "encryption": True, "async": True, "monitoring": True, "alerting": False},
    "agents_outils": {"elasticsearch": False, "encryption": False, "async": True, "monitoring": True},
    "agents_coordination": {"elasticsearch": True, "encryption": True, "async": True, "monitoring": True,
                            "alerting": True},
}


def test_the_group_chooses_the_profile_and_missing_flags_are_false():
    resolved = resolve_profile(["all", "agents_outils", "eu"], PROFILES)
    assert resolved["agent_type"] == "agents_outils"
    assert resolved["profile"] == {"elasticsearch": False, "encryption": False, "async": True, "monitoring": True,
                                   "alerting": False}


def test_an_explicit_agent_type_wins_over_groups():
    assert resolve_profile(["agents_outils"], PROFILES, "agents_coordination")["profile"]["alerting"] is True


@pytest.mark.parametrize("groups, agent_type, profiles, message", [
    (["web"], "", PROFILES, "none of the agent type groups"),
    (["agents_ia", "agents_outils"], "", PROFILES, "several agent type groups"),
    (["agents_ia"], "agents_x", PROFILES, "has no profile"),
    (["agents_ia"], "", {"agents_ia": {"encrypt": True}}, "unknown setting"),
    (["agents_ia"], "", {"agents_ia": {"async": "yes"}}, "true or false"),
    (["agents_ia"], "", {}, "must map agent types"),
])
def test_bad_profiles_and_groups_are_refused_with_what_to_do(groups, agent_type, profiles, message):
    with pytest.raises(ProfileError, match=message):
        resolve_profile(groups, profiles, agent_type)


def test_the_service_config_carries_the_profile_and_the_fields():
    resolved = resolve_profile(["agents_ia"], PROFILES)
    config = service_logging_config("agent-loop", "host-1", resolved, "/var/log/agent-loop/agent-loop.log", "info", 500)
    assert config["async"] is True and config["monitoring"] is True and config["queue_size"] == 500
    assert config["level"] == "INFO" and config["format"] == "json"
    assert config["fields"] == {"service": "agent-loop", "host": "host-1", "agent_type": "agents_ia"}
    with pytest.raises(ProfileError, match="level"):
        service_logging_config("agent-loop", "h", resolved, "/tmp/x.log", "LOUD")
    with pytest.raises(ProfileError, match="queue size"):
        service_logging_config("agent-loop", "h", resolved, "/tmp/x.log", "INFO", -1)
