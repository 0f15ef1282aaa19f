import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._logging_profile import (
    ProfileError, peer_addresses, peer_ports, resolve_profile, service_logging_config)

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


def test_each_encrypting_agent_gets_its_own_port_from_the_sorted_names():
    assert peer_ports(["b", "a", "c", "a"], 6514) == {"a": 6514, "b": 6515, "c": 6516}
    assert peer_ports([], 6514) == {}


@pytest.mark.parametrize("peers, first, message", [
    (["a"], 0, "port number"),
    (["a"], True, "port number"),
    (["a", "b"], 65535, "go past 65535"),
])
def test_impossible_ports_are_refused(peers, first, message):
    with pytest.raises(ProfileError, match=message):
        peer_ports(peers, first)


def test_plain_agents_are_known_by_their_address():
    assert peer_addresses(["a 10.0.0.1", "b 10.0.0.2", "a 10.0.0.1"]) == {"10.0.0.1": "a", "10.0.0.2": "b"}


@pytest.mark.parametrize("lines, message", [
    (["a 10.0.0.1", "b 10.0.0.1"], "agents a and b both connect from 10.0.0.1"),
    (["a -", "b 10.0.0.2", "c -"], "cannot resolve the address of a, c"),
    (["a"], "cannot read the agent address line"),
])
def test_agents_the_collector_cannot_tell_apart_are_refused(lines, message):
    with pytest.raises(ProfileError, match=message):
        peer_addresses(lines)
