import json
import os

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils import _ledger as L
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import SiteSwitch, build_route, digest
from ansible_collections.nextgen.rollout.plugins.module_utils._release import Release
from ansible_collections.nextgen.rollout.plugins.module_utils._warm_switch import (
    NotHere, SwitchFailed, plan, release_outcome, warm_rollback)

PORTS = {"blue": 8001, "green": 8002}
SITE = "server {}\n"


def released(doc, version, colour, when):
    doc = L.begin(doc, "deploy", "run-0", colour, version, True, when)
    return L.succeeded(doc, 900, when)


@pytest.fixture
def host(tmp_path):
    """A host where 1.1.0 is live on green and 1.0.0 warm on blue, nginx running its site."""
    release = Release(str(tmp_path / "state"), "agent-loop")
    now = L.utc_now()
    doc = released(released(L.empty_ledger("agent-loop"), "1.0.0", "blue", now), "1.1.0", "green", now)
    release.ledger.save(doc)
    site_path = str(tmp_path / "agent-loop.conf")
    with open(site_path, "w") as handle:
        handle.write(SITE)
    with open(site_path + ".loaded", "w") as handle:
        handle.write(digest(SITE))
    site = SiteSwitch(site_path, run=None, workers=None, route_path=str(tmp_path / "agent-loop.json"))
    site.apply_route(build_route("agent-loop", {"live": "green", "live_version": "1.1.0", "ports": PORTS,
                                                "upstream_prefix": "agent_loop"}, None))
    running = {"blue": {"running": True, "version": "1.0.0"}, "green": {"running": True, "version": "1.1.0"}}
    return release, site, running


def roll_back(host, verify=lambda served: (True, {"served": served}), ready=lambda port: (True, {}), target="",
              only_if_live=""):
    release, site, running = host
    return warm_rollback(release, site, "run-1", {}, 300, running, target, 900, ready, verify, only_if_live=only_if_live)


def test_a_warm_rollback_moves_the_route_and_records_it_in_one_call(host):
    release, site, running = host
    outcome = roll_back(host)
    assert (outcome["colour"], outcome["version"], outcome["from_version"]) == ("blue", "1.0.0", "1.1.0")
    route = json.load(open(site.route_path))
    assert route["live"] == "blue" and route["served"]["127.0.0.1:8001"] == "blue/1.0.0"
    doc = release.ledger.load()
    assert doc["live"]["version"] == "1.0.0" and doc["pending"] is None
    assert doc["colours"]["green"]["state"] == "warm"
    last = doc["history"][-1]
    assert (last["action"], last["result"], last["details"]["one_call"]) == ("rollback", "succeeded", True)
    assert release.lease.read() is None


def test_a_failed_verification_puts_the_route_back_and_records_the_failure(host):
    release, site, running = host
    before = open(site.route_path).read()
    with pytest.raises(SwitchFailed) as raised:
        roll_back(host, verify=lambda served: (False, {"last": "header X-Served-By is 'green/1.1.0'"}))
    assert "Traffic is back on green (1.1.0)" in str(raised.value)
    assert open(site.route_path).read() == before
    doc = release.ledger.load()
    assert doc["live"]["version"] == "1.1.0" and doc["history"][-1]["result"] == "failed" and doc["pending"] is None
    assert release.lease.read() is None


@pytest.mark.parametrize("change, reason", [
    (lambda r, s, running: running.pop("blue"), "needs repairs"),
    (lambda r, s, running: os.unlink(s.loaded_path), "does not run the site file"),
    (lambda r, s, running: os.unlink(s.route_path), "no route file"),
    (lambda r, s, running: r.lease.acquire("someone-else", "deploy", 300), "deploy lock of agent-loop is held"),
])
def test_anything_unusual_leaves_it_to_the_full_path_and_writes_nothing(host, change, reason):
    release, site, running = host
    change(release, site, running)
    ledger_before = release.ledger.load()
    route_before = open(site.route_path).read() if os.path.exists(site.route_path) else None
    with pytest.raises(NotHere) as raised:
        roll_back(host)
    assert reason in str(raised.value)
    assert release.ledger.load() == ledger_before
    assert (open(site.route_path).read() if os.path.exists(site.route_path) else None) == route_before


def test_a_target_that_is_not_warm_is_not_for_this_path(host):
    release, site, running = host
    with pytest.raises(NotHere, match="0.9.0 is not warm"):
        roll_back(host, target="0.9.0")
    with pytest.raises(NotHere, match="does not answer ready"):
        roll_back(host, ready=lambda port: (False, {"attempts": 3}))
    assert release.lease.read() is None


def test_a_rollback_of_a_named_version_switches_only_while_nginx_serves_it(host):
    release, site, running = host
    ledger_before, route_before = release.ledger.load(), open(site.route_path).read()
    with pytest.raises(NotHere, match="1.0.0 is not what nginx serves .1.1.0."):
        roll_back(host, only_if_live="1.0.0")
    assert (release.ledger.load(), open(site.route_path).read()) == (ledger_before, route_before)
    assert release.lease.read() is None
    outcome = roll_back(host, only_if_live="1.1.0")
    assert (outcome["version"], outcome["from_version"]) == ("1.0.0", "1.1.0")


def test_plan_refuses_a_pending_transition_and_a_canary(host):
    release, site, running = host
    doc = release.ledger.load()
    route = json.load(open(site.route_path))
    pending = L.begin(doc, "deploy", "run-9", "blue", "1.2.0", True, L.utc_now())
    with pytest.raises(NotHere, match="pending"):
        plan(pending, route, True, running, "", 900, L.utc_now())
    with pytest.raises(NotHere, match="canary"):
        plan(dict(doc, canary={"version": "1.2.0"}), route, True, running, "", 900, L.utc_now())
    with pytest.raises(NotHere, match="warm_seconds is 0"):
        plan(doc, route, True, running, "", 0, L.utc_now())


def test_a_target_already_live_on_a_host_as_its_ledger_says_is_reported_unchanged_in_the_same_call(host):
    release, site, running = host
    ledger_before, route_before = release.ledger.load(), open(site.route_path).read()
    done = roll_back(host, target="1.1.0")
    assert (done["already_live"], done["colour"], done["version"]) == (True, "green", "1.1.0")
    assert (release.ledger.load(), open(site.route_path).read()) == (ledger_before, route_before)
    assert release.lease.read() is None
    assert release_outcome("agent-loop", done) == {
        "action": "rollback", "result": "unchanged", "version": "1.1.0", "live_colour": "green", "traffic_switched": False,
        "message": "agent-loop 1.1.0 is already live on green"}


def test_a_target_live_in_the_ledger_but_not_running_is_left_to_the_full_path(host):
    release, site, running = host
    running["green"] = {"running": True, "version": "1.0.9"}
    with pytest.raises(NotHere):
        roll_back(host, target="1.1.0")
    assert release.lease.read() is None


def test_the_outcome_of_a_warm_rollback_says_what_moved_and_what_stays_warm(host):
    outcome = release_outcome("agent-loop", roll_back(host))
    assert (outcome["result"], outcome["version"], outcome["from_version"], outcome["traffic_switched"]) == (
        "succeeded", "1.0.0", "1.1.0", True)
    assert outcome["message"] == "agent-loop 1.0.0 is live on blue (1.1.0 kept warm on green)"


def test_a_second_rollback_without_a_version_changes_nothing_and_says_why(host):
    release, site, running = host
    roll_back(host)
    ledger_before, route_before = release.ledger.load(), open(site.route_path).read()
    done = roll_back(host)
    assert (done["already_live"], done["colour"], done["version"]) == (True, "blue", "1.0.0")
    assert (release.ledger.load(), open(site.route_path).read()) == (ledger_before, route_before)
    assert release_outcome("agent-loop", done)["message"] == (
        "agent-loop 1.0.0 is already live on blue: 1.0.0 went live by a rollback from 1.1.0; nothing to undo without a "
        "version (-e target_version=1.1.0 goes back to it)")
    # Named, the version just left is one call away.
    assert roll_back(host, target="1.1.0")["colour"] == "green"
