"""Reconciliation, one row per state a killed run can leave behind."""
import datetime

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils import _ledger as L
from ansible_collections.nextgen.rollout.plugins.module_utils._reconcile import Refused, reconcile

T0 = datetime.datetime(2026, 11, 21, 5, 0, 0, tzinfo=datetime.timezone.utc)
PORTS = {"blue": 8001, "green": 8002}
STEPS = [{"share": 10, "pause": 5}, {"share": 100, "pause": 0}]


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def site(live, canary=None, share=0):
    return {"live_port": PORTS[live], "canary_port": PORTS[canary] if canary else None, "share": share}


def runs(**colours):
    return dict((c, {"running": True, "version": v}) for c, v in colours.items())


def blue_live():
    doc = L.empty_ledger("agent-loop")
    doc = L.begin(doc, "deploy", "run-0", "blue", "1.0.0", True, T0)
    return L.succeeded(doc, 900, T0)


def deploying(phase=None):
    doc = L.begin(blue_live(), "deploy", "run-1", "green", "1.1.0", True, at(10))
    return L.phase(doc, phase, at(11)) if phase else doc


def canary_at(share):
    doc = L.begin(blue_live(), "canary", "run-1", "green", "1.1.0", True, at(10))
    return L.canary_share(doc, 0, share, STEPS, "$remote_addr", at(11))


def run(doc, served, containers, now=at(20)):
    return reconcile(doc, served, containers, PORTS, 900, now)


def test_a_consistent_host_changes_nothing():
    doc = blue_live()
    out = run(doc, site("blue"), runs(blue="1.0.0"))
    assert out == {"doc": doc, "findings": [], "route": None, "stop": [], "canary_aborted": False, "put_back": []}


@pytest.mark.parametrize("name, doc, served, containers, live, stop, finding", [
    ("killed after the idle colour started", deploying(), site("blue"), runs(blue="1.0.0", green="1.1.0"),
     ("blue", "1.0.0"), ["green"], "ended before traffic moved"),
    ("killed after the site was written, before the reload (reloaded first: nginx now serves green)",
     deploying("switching"), site("green"), runs(blue="1.0.0", green="1.1.0"), ("green", "1.1.0"), [],
     "reached traffic before its run ended"),
    ("killed right after the reload", deploying("switching"), site("green"), runs(blue="1.0.0", green="1.1.0"),
     ("green", "1.1.0"), [], "the ledger now follows nginx"),
    ("killed during the verification", L.switched(deploying("switching"), "green", "1.1.0", at(12)), site("green"),
     runs(blue="1.0.0", green="1.1.0"), ("green", "1.1.0"), [], "reached traffic"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_deploy_killed_at_each_point_is_finished_or_undone(name, doc, served, containers, live, stop, finding):
    out = run(doc, served, containers)
    new = out["doc"]
    assert ((new["live"]["colour"], new["live"]["version"]), out["stop"]) == (live, stop), name
    assert new["pending"] is None and any(finding in f for f in out["findings"]), out["findings"]
    assert new["history"][-1]["action"] == "reconcile"
    if live[0] == "green":
        assert new["colours"]["blue"]["state"] == "warm" and new["colours"]["blue"]["retire_at"] == L.iso(at(920))
        assert "1.1.0" in L.summary(new)["deployed_versions"]
    else:
        assert new["colours"]["green"]["state"] == "failed"


def test_a_canary_killed_during_a_step_is_known_and_can_be_aborted_or_resumed():
    out = run(canary_at(10.0), site("blue", "green", 10), runs(blue="1.0.0", green="1.1.0"))
    canary = out["doc"]["canary"]
    assert (canary["share"], canary["state"], canary["colour"], canary["version"]) == (10.0, "interrupted", "green", "1.1.0")
    assert out["doc"]["pending"] is None and out["stop"] == []


def test_a_canary_unknown_to_the_ledger_is_adopted_from_nginx():
    out = run(blue_live(), site("blue", "green", 25), runs(blue="1.0.0", green="1.1.0"))
    canary = out["doc"]["canary"]
    assert (canary["version"], canary["share"], canary["stable_version"]) == ("1.1.0", 25.0, "1.0.0")
    assert "a canary the ledger did not know" in out["findings"][0]


def test_a_canary_whose_share_intent_never_reached_nginx_holds_at_0():
    out = run(canary_at(10.0), site("blue"), runs(blue="1.0.0", green="1.1.0"))
    assert out["doc"]["canary"]["share"] == 0.0 and out["doc"]["canary"]["state"] == "interrupted"
    assert out["stop"] == []


def test_an_abort_killed_after_share_0_is_finished():
    doc = L.phase(canary_at(10.0), "aborting", at(12))
    out = run(doc, site("blue"), runs(blue="1.0.0", green="1.1.0"))
    assert out["doc"]["canary"] is None and out["stop"] == ["green"] and out["canary_aborted"]
    assert out["doc"]["colours"]["green"]["state"] == "aborted"


def test_a_run_killed_after_a_verdict_of_rollback_and_share_0_is_finished():
    doc = L.canary_verdict(canary_at(10.0), {"decision": "rollback", "reasons": ["error_rate"]}, False, at(12))
    out = run(doc, site("blue"), runs(blue="1.0.0", green="1.1.0"))
    assert out["doc"]["canary"] is None and out["stop"] == ["green"] and out["canary_aborted"]
    before_share_0 = run(doc, site("blue", "green", 10), runs(blue="1.0.0", green="1.1.0"))
    assert before_share_0["doc"]["canary"]["state"] == "interrupted" and "abort it" in before_share_0["findings"][-1]


def test_a_promotion_killed_after_the_switch_is_recorded():
    doc = L.phase(canary_at(100.0), "switching", at(12))
    out = run(doc, site("green"), runs(blue="1.0.0", green="1.1.0"))
    assert out["doc"]["live"]["version"] == "1.1.0" and out["doc"]["canary"] is None
    assert out["doc"]["history"][-2]["action"] == "canary" and out["doc"]["history"][-2]["result"] == "succeeded"


def test_traffic_to_a_stopped_container_goes_back_to_the_running_live_colour():
    doc = L.switched(deploying("switching"), "green", "1.1.0", at(12))
    doc = L.succeeded(doc, 900, at(13))
    doc = L.begin(doc, "rollback", "run-2", "blue", "1.0.0", False, at(14))
    out = run(doc, site("blue"), runs(green="1.1.0"))
    assert out["route"] == {"live": "green", "canary": None, "share": 0}
    assert out["doc"]["live"]["colour"] == "green" and out["doc"]["colours"]["blue"]["state"] == "retired"


def test_traffic_to_a_stopped_container_with_nothing_to_take_it_is_refused():
    with pytest.raises(Refused, match="whose container is not running.*up -d"):
        run(blue_live(), site("blue"), {})


def test_a_site_pointing_at_an_unknown_port_is_refused():
    with pytest.raises(Refused, match="no colour's port"):
        run(blue_live(), {"live_port": 9999, "share": 0}, runs(blue="1.0.0"))


def test_a_warm_colour_past_its_retirement_is_retired_and_one_that_died_is_noted():
    doc = L.switched(deploying("switching"), "green", "1.1.0", at(12))
    doc = L.succeeded(doc, 60, at(13))
    out = run(doc, site("green"), runs(blue="1.0.0", green="1.1.0"), now=at(80))
    assert out["stop"] == ["blue"] and out["doc"]["colours"]["blue"]["state"] == "retired"
    out = run(doc, site("green"), runs(green="1.1.0"), now=at(20))
    assert out["stop"] == [] and out["doc"]["colours"]["blue"]["state"] == "retired"
    assert "no instant rollback" in out["findings"][0]


def test_a_host_restart_in_the_warm_window_keeps_everything_when_containers_came_back():
    doc = L.switched(deploying("switching"), "green", "1.1.0", at(12))
    doc = L.succeeded(doc, 900, at(13))
    out = run(doc, site("green"), runs(blue="1.0.0", green="1.1.0"), now=at(100))
    assert out["findings"] == [] and out["doc"] == doc


def test_a_retirement_killed_half_way_is_finished():
    doc = L.switched(deploying("switching"), "green", "1.1.0", at(12))
    doc = L.retiring(L.succeeded(doc, 60, at(13)), "blue", at(80))
    out = run(doc, site("green"), runs(blue="1.0.0", green="1.1.0"), now=at(81))
    assert out["stop"] == ["blue"] and out["doc"]["colours"]["blue"]["state"] == "retired"
    out = run(doc, site("green"), runs(green="1.1.0"), now=at(81))
    assert out["stop"] == [] and out["doc"]["colours"]["blue"]["state"] == "retired"
    assert out["doc"]["history"][-2]["action"] == "retire"


def deploying_onto_a_warm_colour():
    """1.1.0 live on green, 1.0.0 warm on blue (a rollback's way back), and a deploy of 1.2.0 begun on blue."""
    doc = L.succeeded(L.switched(deploying(), "green", "1.1.0", at(12)), 900, at(13))
    assert (doc["live"]["colour"], doc["colours"]["blue"]["state"], doc["colours"]["blue"]["version"]) == ("green", "warm", "1.0.0")
    return L.begin(doc, "deploy", "run-2", "blue", "1.2.0", True, at(14))


def test_a_deploy_killed_before_the_colour_was_replaced_keeps_the_warm_version_there():
    doc = deploying_onto_a_warm_colour()
    warm_before = doc["pending"]["colour_before"]
    # Killed during the release command: blue still runs 1.0.0 (its one-off container is not counted).
    out = run(doc, site("green"), runs(green="1.1.0", blue="1.0.0"))
    new = out["doc"]
    assert (out["stop"], out["put_back"], out["route"]) == ([], ["blue"], None)
    assert new["colours"]["blue"] == warm_before and new["pending"] is None
    assert any(f.endswith("1.1.0 keeps serving; 1.0.0 stays warm on blue") for f in out["findings"]), out["findings"]
    assert L.summary(new)["idle_version"] == "1.0.0" and L.summary(new)["idle_state"] == "warm"
    failed = [e for e in new["history"] if e["result"] == "failed"][-1]
    assert failed["version"] == "1.2.0" and failed["details"]["completed_by"] == "reconciliation"
    # Killed once the colour was replaced (1.2.0 runs there) or taken down: no warm version left, stopped as before.
    replaced = run(doc, site("green"), runs(green="1.1.0", blue="1.2.0"))
    assert (replaced["stop"], replaced["put_back"]) == (["blue"], [])
    assert replaced["doc"]["colours"]["blue"]["state"] == "failed"
    gone = run(doc, site("green"), runs(green="1.1.0"))
    assert gone["put_back"] == [] and gone["doc"]["colours"]["blue"]["state"] == "failed"
