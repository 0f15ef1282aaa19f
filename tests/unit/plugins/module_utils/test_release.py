"""The release_ledger module's work: one call checks and renews the lease, then applies one verb."""
import datetime

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils import _ledger as L
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import Lease, LockHeld
from ansible_collections.nextgen.rollout.plugins.module_utils._release import (
    Release, docker_running_colours, docker_service_containers, remove_left_one_offs, running_colours)

T0 = datetime.datetime(2026, 11, 21, 5, 0, 0, tzinfo=datetime.timezone.utc)
BASE = {"holder": "run-1", "lease_ttl": 60, "op": None, "colour": None, "version": None, "fresh": False,
        "phase": None, "details": None, "reason": None, "failed_task": None, "warm_seconds": 900.0, "step": None,
        "share": None, "steps": None, "hash_key": None, "analysis": None, "hold": False, "result": "aborted",
        "containers": [], "ports": {"blue": 8001, "green": 8002}}


def params(**kwargs):
    return dict(BASE, **kwargs)


@pytest.fixture
def release(tmp_path):
    Lease(str(tmp_path / "agent-loop"), "agent-loop", clock=lambda: T0).acquire("run-1", "deploy", 60)
    return Release(str(tmp_path), "agent-loop", clock=lambda: T0 + datetime.timedelta(seconds=30))


@pytest.mark.parametrize("steps, live, pending_op", [
    ([("begin", dict(op="deploy", colour="blue", version="1.0.0", fresh=True))], None, "deploy"),
    ([("begin", dict(op="deploy", colour="blue", version="1.0.0", fresh=True)), ("succeeded", {})], "1.0.0", None),
    ([("begin", dict(op="deploy", colour="blue", version="1.0.0", fresh=True)), ("failed", dict(reason="x"))],
     None, None),
    ([("begin", dict(op="deploy", colour="blue", version="1.0.0", fresh=True)), ("phase", dict(phase="switching")),
      ("switched", dict(colour="blue", version="1.0.0"))], "1.0.0", "deploy"),
], ids=["begin", "begin-succeeded", "begin-failed", "begin-phase-switched"])
def test_verbs_through_the_module_work(release, steps, live, pending_op):
    for action, extra in steps:
        changed, doc, extra_out = release.run(action, params(**extra), check_mode=False)
        assert changed
    assert (doc["live"] or {}).get("version") == live
    assert (doc["pending"] or {}).get("op") == pending_op
    assert extra_out["lock"]["expires"] == L.iso(T0 + datetime.timedelta(seconds=90))  # renewed


def test_a_run_that_does_not_hold_the_lock_writes_nothing(release):
    with pytest.raises(LockHeld, match="lost the deploy lock"):
        release.run("begin", params(holder="run-2", op="deploy", colour="blue", version="1.0.0"), check_mode=False)
    assert release.ledger.load()["pending"] is None


def test_check_mode_writes_nothing_and_tolerates_what_earlier_verbs_did_not_write(release):
    changed, doc, _extra = release.run("begin", params(op="deploy", colour="blue", version="1.0.0"), check_mode=True)
    assert changed and doc["pending"]["op"] == "deploy" and release.ledger.load()["pending"] is None
    assert release.run("succeeded", params(), check_mode=True)[0]


def test_running_colours_come_from_the_labels_of_this_service():
    containers = [
        {"Labels": {"nextgen.rollout.service": "agent-loop", "nextgen.rollout.colour": "green",
                    "nextgen.rollout.version": "1.1.0"}},
        {"Labels": {"nextgen.rollout.service": "other", "nextgen.rollout.colour": "blue"}},
        {"Labels": {}},
        # The release command's one-off container of a killed run, still running: not the colour.
        {"Labels": {"nextgen.rollout.service": "agent-loop", "nextgen.rollout.colour": "green",
                    "nextgen.rollout.version": "1.2.0", "com.docker.compose.oneoff": "True"}},
    ]
    assert running_colours(containers, "agent-loop") == {"green": {"running": True, "version": "1.1.0"}}


def test_the_docker_cli_gives_the_same_shape_and_failing_docker_is_an_error():
    seen = []

    def run(argv):
        seen.append(argv)
        return 0, ("green|1.1.0|False|agent-loop-green-agent-loop-1\nblue|1.0.0||agent-loop-blue-agent-loop-1\n|||other\n"
                   "purple|9||x\ngreen|1.2.0|True|agent-loop-green-release\n"), ""
    expected = {"green": {"running": True, "version": "1.1.0"}, "blue": {"running": True, "version": "1.0.0"}}
    assert docker_running_colours(run, "agent-loop") == expected
    assert "label=nextgen.rollout.service=agent-loop" in seen[0]
    assert [c["name"] for c in docker_service_containers(run, "agent-loop") if c["one_off"]] == ["agent-loop-green-release"]
    with pytest.raises(OSError, match="docker ps failed: Cannot connect"):
        docker_running_colours(lambda argv: (1, "", "Cannot connect to the Docker daemon\n"), "agent-loop")


def test_a_release_command_left_running_by_a_killed_run_is_removed_and_said():
    containers = [{"colour": "green", "version": "1.1.0", "one_off": False, "name": "agent-loop-green-agent-loop-1"},
                  {"colour": "blue", "version": "1.2.0", "one_off": True, "name": "agent-loop-blue-release"}]
    seen = []
    removed, found = remove_left_one_offs(lambda argv: seen.append(argv) or (0, "", ""), containers)
    assert seen == [["docker", "rm", "--force", "agent-loop-blue-release"]]  # never the colour's own container
    assert removed and found == ["the release command container(s) agent-loop-blue-release that a killed run left running are removed"]
    removed, failed = remove_left_one_offs(lambda argv: (1, "", "permission denied\n"), containers)
    assert not removed and "could not be removed (permission denied): remove them with docker rm --force" in failed[0]
    assert remove_left_one_offs(lambda argv: pytest.fail("nothing to remove"), containers[:1]) == (False, [])


def test_a_read_says_what_nginx_routes_beside_what_the_ledger_says(release, tmp_path):
    from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import SiteSwitch, build_route
    site = SiteSwitch(str(tmp_path / "agent-loop.conf"), run=None, workers=None, route_path=str(tmp_path / "agent-loop.json"))
    assert release.run("read", params(), False, site=site)[2]["routed"] is None  # no route yet
    blue = build_route("agent-loop", {"live": "blue", "live_version": "1.0.0", "ports": BASE["ports"],
                                      "upstream_prefix": "agent_loop"}, None)
    site.apply_route(build_route("agent-loop", {"live": "green", "live_version": "1.1.0", "ports": BASE["ports"],
                                                "upstream_prefix": "agent_loop"}, blue))
    changed, _doc, extra = release.run("read", params(), False, site=site)
    assert not changed and extra["routed"] == {"colour": "green", "version": "1.1.0"}
    assert "routed" not in release.run("read", params(), False)[2]


def canary_in_progress(release, site):
    """green/1.1.0 live, blue/1.2.0 the candidate at 20 % in the ledger and in the route file."""
    from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import build_route
    release.run("begin", params(op="deploy", colour="green", version="1.1.0", fresh=True), False)
    release.run("succeeded", params(), False)
    release.run("begin", params(op="canary", colour="blue", version="1.2.0"), False)
    steps = [{"share": 20, "pause": 10}, {"share": 100, "pause": 0}]
    release.run("canary_share", params(step=0, share=20, steps=steps, hash_key="$remote_addr"), False)
    site.apply_route(build_route("agent-loop", {"live": "green", "live_version": "1.1.0", "canary": "blue",
                                                "canary_version": "1.2.0", "share": 20, "ports": BASE["ports"],
                                                "upstream_prefix": "agent_loop"}, None))


@pytest.mark.parametrize("decision, route_back, check_mode, share_after", [
    ("rollback", True, False, 0.0),
    ("rollback", False, False, 20.0),
    ("promote", True, False, 20.0),
    ("rollback", True, True, 20.0),
], ids=["rollback-routes-back", "not-asked", "promote-leaves-the-share", "check-mode-writes-nothing"])
def test_a_verdict_of_rollback_sends_everyone_back_in_the_same_call_when_asked(
        release, tmp_path, decision, route_back, check_mode, share_after):
    from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import SiteSwitch, read_route, route_view
    site = SiteSwitch(str(tmp_path / "agent-loop.conf"), run=None, workers=None, route_path=str(tmp_path / "agent-loop.json"))
    canary_in_progress(release, site)
    analysis = {"decision": decision, "reasons": ["error_rate 0.2 > 0.05 for 4s"], "figures": {}}
    _changed, doc, extra = release.run("canary_verdict", params(analysis=analysis, route_back=route_back), check_mode,
                                       site=site)
    route = read_route(site.route_path)
    assert route_view(route)["share"] == share_after and route["live"] == "green"
    assert ("routed_at" in extra) == (share_after == 0.0)
    if not check_mode:
        ledger = release.ledger.load()
        assert ledger["history"][-1]["result"] == decision
        assert (ledger["pending"]["phase"] == "aborting") == (decision == "rollback")


def test_a_freeze_for_some_hours_ends_then_and_a_lift_is_written_once(release):
    changed, doc, _extra = release.run("freeze", params(reason="incident 42", freeze_hours=1.5), check_mode=False)
    assert changed and doc["freeze"]["by"] == "run-1"
    assert doc["freeze"]["until"] == L.iso(T0 + datetime.timedelta(seconds=30, hours=1.5))
    assert release.ledger.load()["freeze"] == doc["freeze"]
    changed, doc, _extra = release.run("unfreeze", params(), check_mode=False)
    assert changed and doc.get("freeze") is None and doc["history"][-1]["action"] == "unfreeze"
    assert release.run("unfreeze", params(), check_mode=False)[0] is False
    changed, doc, _extra = release.run("freeze", params(reason="release train closed"), check_mode=False)
    assert doc["freeze"]["until"] is None
