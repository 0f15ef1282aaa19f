import datetime
import json
import os
import stat

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils import _ledger as L
from ansible_collections.nextgen.rollout.plugins.module_utils._ledger import Ledger, LedgerError, TransitionError, summary

T0 = datetime.datetime(2026, 11, 21, 5, 0, 0, tzinfo=datetime.timezone.utc)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.fixture
def ledger(tmp_path):
    return Ledger(str(tmp_path / "agent-loop"), "agent-loop")


def release(doc, op, colour, version, fresh=True, warm=900, now=T0):
    doc = L.begin(doc, op, "run-1", colour, version, fresh, now)
    doc = L.switched(doc, colour, version, now)
    return L.succeeded(doc, warm, now)


def test_empty_ledger_summary(ledger):
    assert summary(ledger.load()) == {
        "live_colour": None, "live_version": None, "previous_version": None, "idle_colour": "blue",
        "idle_version": None, "idle_state": "empty", "deployed_versions": [], "canary": None, "pending": None, "freeze": None,
        "rollback_to": None, "rollback_stays": False, "rollback_note": "nothing is live yet"}


def test_a_release_makes_the_new_colour_live_and_keeps_the_old_one_warm_until_its_retirement(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    doc = release(doc, "deploy", "green", "1.1.0", now=at(10))
    facts = summary(doc)
    assert (facts["live_colour"], facts["live_version"], facts["previous_version"]) == ("green", "1.1.0", "1.0.0")
    assert (facts["idle_colour"], facts["idle_version"], facts["idle_state"]) == ("blue", "1.0.0", "warm")
    assert doc["colours"]["blue"]["retire_at"] == L.iso(at(910))
    assert "retire_at" not in doc["colours"]["green"]
    assert facts["deployed_versions"] == ["1.0.0", "1.1.0"] and facts["pending"] is None
    assert [(e["id"], e["action"], e["result"]) for e in doc["history"]] == [(1, "deploy", "succeeded"),
                                                                             (2, "deploy", "succeeded")]


def test_warm_seconds_zero_retires_the_old_colour(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    doc = release(doc, "deploy", "green", "1.1.0", warm=0)
    assert doc["colours"]["blue"]["state"] == "retired"


@pytest.mark.parametrize("verb, args, message", [
    ("switched", ("green", "1.1.0"), None),
    ("succeeded", (900,), "no transition is in progress"),
    ("failed", ("boom",), "no transition is in progress"),
    ("canary_verdict", ({"decision": "promote"}, False), "no transition is in progress"),
], ids=["switched-needs-no-intent", "succeeded", "failed", "canary-verdict"])
def test_verbs_that_need_a_pending_transition(ledger, verb, args, message):
    doc = ledger.load()
    if message is None:
        getattr(L, verb)(doc, *(args + (T0,)))
        return
    with pytest.raises(TransitionError, match=message):
        getattr(L, verb)(doc, *(args + (T0,)))


def test_begin_refuses_a_second_transition_and_an_unknown_operation(ledger):
    doc = L.begin(ledger.load(), "deploy", "run-1", "blue", "1.0.0", True, T0)
    with pytest.raises(TransitionError, match="still pending"):
        L.begin(doc, "deploy", "run-2", "green", "1.1.0", True, T0)
    with pytest.raises(TransitionError, match="unknown operation"):
        L.begin(ledger.load(), "upgrade", "run-1", "blue", "1.0.0", True, T0)


def test_the_intent_is_in_the_ledger_before_anything_moves(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    doc = L.begin(doc, "deploy", "run-2", "green", "1.1.0", True, at(5))
    assert doc["pending"]["colour"] == "green" and doc["pending"]["from_colour"] == "blue"
    assert doc["colours"]["green"] == {"version": "1.1.0", "state": "starting", "updated": L.iso(at(5))}
    assert summary(doc)["live_version"] == "1.0.0"


def test_a_failure_before_the_switch_leaves_the_live_colour_and_marks_the_fresh_one_failed(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    doc = L.begin(doc, "deploy", "run-2", "green", "9.9.9", True, at(5))
    doc = L.failed(doc, "never ready", at(6), failed_task="Wait until the colour is ready")
    assert summary(doc)["live_version"] == "1.0.0" and summary(doc)["deployed_versions"] == ["1.0.0"]
    assert doc["colours"]["green"]["state"] == "failed" and doc["pending"] is None
    assert doc["history"][-1]["result"] == "failed" and doc["history"][-1]["failed_task"].startswith("Wait")


def test_a_warm_rollback_does_not_mark_the_warm_colour_failed_when_it_fails(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    doc = release(doc, "deploy", "green", "1.1.0")
    doc = L.begin(doc, "rollback", "run-3", "blue", "1.0.0", False, at(5))
    doc = L.failed(doc, "not ready", at(6))
    assert doc["colours"]["blue"]["state"] == "warm"


def test_a_canary_walks_its_steps_holds_resumes_and_is_promoted(ledger):
    steps = [{"share": 10, "pause": 1, "hold": True}, {"share": 100, "pause": 0}]
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    doc = L.begin(doc, "canary", "run-2", "green", "1.1.0", True, at(1))
    doc = L.canary_share(doc, 0, 10.0, steps, "$remote_addr", at(2))
    assert doc["canary"]["share"] == 10.0 and doc["colours"]["green"]["state"] == "canary"
    doc = L.canary_verdict(doc, {"decision": "promote", "reasons": ["ok"], "figures": {"x": 1}}, True, at(3))
    assert doc["canary"]["state"] == "held" and doc["pending"] is None
    assert doc["history"][-1]["action"] == "canary-step" and doc["history"][-1]["share"] == 10.0
    doc = L.resume(doc, "run-3", at(4))
    assert doc["pending"]["op"] == "canary" and not doc["pending"]["fresh"]
    doc = L.switched(doc, "green", "1.1.0", at(5))
    doc = L.succeeded(doc, 900, at(6))
    assert doc["canary"] is None and summary(doc)["live_version"] == "1.1.0"
    assert doc["colours"]["blue"]["state"] == "warm" and doc["history"][-1]["action"] == "canary"


def test_a_verdict_of_rollback_notes_the_abort_so_a_killed_run_is_finished_by_the_next(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    doc = L.begin(doc, "canary", "run-2", "green", "1.1.0", True, at(1))
    doc = L.canary_share(doc, 0, 10.0, [{"share": 10, "pause": 10}], "$remote_addr", at(2))
    doc = L.canary_verdict(doc, {"decision": "continue", "reasons": []}, False, at(3))
    assert doc["pending"].get("phase") != "aborting"
    doc = L.canary_verdict(doc, {"decision": "rollback", "reasons": ["error_rate 0.2 > 0.01"]}, False, at(4))
    assert doc["pending"]["phase"] == "aborting" and doc["pending"]["reason"] == "error_rate 0.2 > 0.01"
    assert doc["history"][-1]["result"] == "rollback" and doc["canary"]["state"] == "running"


def test_a_canary_end_stops_the_candidate_and_clears_everything(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    doc = L.begin(doc, "canary", "run-2", "green", "1.1.0", True, at(1))
    doc = L.canary_share(doc, 0, 10.0, [{"share": 10, "pause": 1}], "$remote_addr", at(2))
    doc = L.canary_end(doc, "aborted", "error rate", at(3), details={"share_zero_at": 1.5})
    assert doc["canary"] is None and doc["pending"] is None
    assert doc["colours"]["green"]["state"] == "aborted"
    assert doc["history"][-1]["result"] == "aborted" and doc["history"][-1]["holder"] == "run-2"


def test_a_canary_whose_candidate_failed_before_its_first_step_ends_from_the_pending_transition(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    doc = L.begin(doc, "canary", "run-2", "green", "1.1.0", True, at(1), details={"backup_id": "b-1", "image": "app:1.1.0"})
    doc = L.phase(doc, "aborting", at(2), reason="smoke check of green (1.1.0) not healthy")
    doc = L.canary_end(doc, "aborted", "smoke check of green (1.1.0) not healthy", at(3), details={"share_zero_at": None})
    assert doc["canary"] is None and doc["pending"] is None
    assert doc["colours"]["green"]["state"] == "aborted" and doc["live"]["colour"] == "blue"
    entry = doc["history"][-1]
    assert (entry["action"], entry["result"], entry["version"], entry["from_version"], entry["holder"]) == (
        "canary", "aborted", "1.1.0", "1.0.0", "run-2")
    assert entry["details"] == {"backup_id": "b-1", "image": "app:1.1.0", "share_zero_at": None}


def test_a_canary_end_without_a_canary_or_a_pending_canary_is_refused(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    with pytest.raises(TransitionError, match="no canary is in progress"):
        L.canary_end(doc, "aborted", "why", at(1))
    doc = L.begin(doc, "deploy", "run-2", "green", "1.1.0", True, at(1))
    with pytest.raises(TransitionError, match="no canary is in progress"):
        L.canary_end(doc, "aborted", "why", at(2))


def test_save_is_atomic_and_root_only(ledger):
    ledger.save(release(ledger.load(), "deploy", "blue", "1.0.0"))
    mode = stat.S_IMODE(os.stat(ledger.path).st_mode)
    assert mode == 0o600 and stat.S_IMODE(os.stat(ledger.directory).st_mode) == 0o700
    assert [n for n in os.listdir(ledger.directory) if n.startswith(".")] == []
    assert json.load(open(ledger.path))["live"]["version"] == "1.0.0"


def test_a_ledger_of_another_service_or_broken_json_is_refused(ledger, tmp_path):
    ledger.save(release(ledger.load(), "deploy", "blue", "1.0.0"))
    with pytest.raises(LedgerError, match="belongs to service"):
        Ledger(ledger.directory, "other").load()
    with open(ledger.path, "w") as handle:
        handle.write("{")
    with pytest.raises(LedgerError, match="not valid JSON"):
        ledger.load()


def test_failed_and_aborted_releases_are_counted_by_version_beyond_the_history(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "HISTORY_LIMIT", 3)
    metrics_dir = tmp_path / "textfile"
    ledger = Ledger(str(tmp_path / "agent-loop"), "agent-loop", metrics_dir=str(metrics_dir))
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    for attempt in range(3):
        doc = L.begin(doc, "deploy", "run-%d" % attempt, "green", "1.1.0", True, at(attempt))
        doc = L.failed(doc, "not ready", at(attempt))
    doc = L.begin(doc, "canary", "run-9", "green", "1.2.0", True, at(10))
    doc = L.canary_share(doc, 1, 10, [10, 50], "$remote_addr", at(11))
    doc = L.canary_end(doc, "aborted", "error rate", at(12), "run-9")
    ledger.save(doc)
    assert len(doc["history"]) == 3
    text = (metrics_dir / "agent-loop.prom").read_text()
    assert 'deployment_failures_total{service="agent-loop",version="1.1.0"} 3' in text
    assert 'deployment_failures_total{service="agent-loop",version="1.2.0"} 1' in text
    assert 'nextgen_release_live_info{service="agent-loop",version="1.0.0",colour="blue"} 1' in text
    assert stat.S_IMODE(os.stat(str(metrics_dir / "agent-loop.prom")).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(str(metrics_dir)).st_mode) == 0o755


def test_a_freeze_is_kept_with_who_why_and_until_when_and_lifted_once(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    frozen = L.freeze(doc, " incident 42 ", "alice-7", at(10), until=at(3600))
    assert frozen["freeze"] == {
        "reason": "incident 42", "by": "alice-7", "since": "2026-11-21T05:00:10.000000Z", "until": "2026-11-21T06:00:00.000000Z"}
    assert summary(frozen)["freeze"] == frozen["freeze"] and summary(frozen)["live_version"] == "1.0.0"
    assert frozen["history"][-1]["action"] == "freeze" and frozen["history"][-1]["message"] == "incident 42"
    assert 'nextgen_release_frozen{service="agent-loop"} 1' in L.metrics_text(frozen)
    lifted = L.unfreeze(frozen, "bob-3", at(20))
    assert lifted.get("freeze") is None and 'nextgen_release_frozen{service="agent-loop"} 0' in L.metrics_text(lifted)
    assert (lifted["history"][-1]["action"], lifted["history"][-1]["details"]) == (
        "unfreeze", {"by": "bob-3", "frozen_since": "2026-11-21T05:00:10.000000Z", "reason": "incident 42"})
    assert L.unfreeze(lifted, "bob-3", at(30)) == lifted, "nothing to lift: no entry"
    with pytest.raises(TransitionError, match="a freeze needs a reason"):
        L.freeze(doc, "  ", "alice-7", at(10))


def test_a_freeze_holds_until_its_end_and_one_without_an_end_until_lifted(ledger):
    doc = L.freeze(ledger.load(), "release train closed", "alice-7", at(0), until=at(60))
    assert L.active_freeze(doc["freeze"], at(59)) == doc["freeze"]
    assert L.active_freeze(doc["freeze"], at(60)) is None
    forever = L.freeze(doc, "audit", "alice-7", at(0))
    assert L.active_freeze(forever["freeze"], at(10 ** 8)) == forever["freeze"]
    assert L.active_freeze(None, at(0)) is None


def test_a_rollback_without_a_version_goes_to_the_version_before_a_deploy_and_not_back_after_a_rollback(ledger):
    doc = release(ledger.load(), "deploy", "blue", "1.0.0")
    assert (summary(doc)["rollback_to"], summary(doc)["rollback_stays"], summary(doc)["rollback_note"]) == (
        None, False, "no version was live before 1.0.0")
    doc = release(doc, "deploy", "green", "1.1.0", now=at(10))
    assert (summary(doc)["rollback_to"], summary(doc)["rollback_stays"]) == ("1.0.0", False)
    assert doc["live"]["made_by"] == "deploy"
    doc = release(doc, "rollback", "blue", "1.0.0", fresh=False, now=at(20))
    facts = summary(doc)
    # previous_version says where it came from; a second rollback must not bring 1.1.0 back.
    assert (facts["previous_version"], facts["rollback_to"], facts["rollback_stays"]) == ("1.1.0", None, True)
    assert facts["rollback_note"] == ("1.0.0 went live by a rollback from 1.1.0; nothing to undo without a version "
                                      "(-e target_version=1.1.0 goes back to it)")
    doc = release(doc, "canary", "green", "1.2.0", now=at(30))
    assert (summary(doc)["rollback_to"], summary(doc)["rollback_stays"]) == ("1.0.0", False)
    doc = release(doc, "restore", "blue", "1.0.0", now=at(40))
    assert (summary(doc)["rollback_to"], summary(doc)["rollback_stays"]) == (None, True)


def test_a_release_of_the_live_version_and_a_ledger_from_before_keep_the_previous_version_as_the_way_back(ledger):
    doc = release(release(ledger.load(), "deploy", "blue", "1.0.0"), "deploy", "green", "1.1.0", now=at(10))
    # A restore of the version already live (its data put back) does not make it the way back.
    doc = release(doc, "restore", "blue", "1.1.0", now=at(20))
    assert (summary(doc)["rollback_to"], doc["live"]["made_by"]) == ("1.0.0", "deploy")
    del doc["live"]["made_by"]
    assert (summary(doc)["rollback_to"], summary(doc)["rollback_stays"]) == ("1.0.0", False)


def test_a_failure_that_never_replaced_the_colour_leaves_its_warm_version_as_it_was(ledger):
    doc = release(release(ledger.load(), "deploy", "blue", "1.0.0"), "deploy", "green", "1.1.0", now=at(10))
    warm = dict(doc["colours"]["blue"])
    assert warm["state"] == "warm"
    begun = L.begin(doc, "deploy", "run-2", "blue", "1.2.0", True, at(20))
    assert begun["colours"]["blue"]["state"] == "starting"
    kept = L.failed(begun, "the release command exited with code 1", at(21), colour_kept=True)
    assert kept["colours"]["blue"] == warm and kept["live"] == doc["live"]
    assert kept["history"][-1]["result"] == "failed" and kept["pending"] is None
    marked = L.failed(begun, "not ready", at(21))
    assert (marked["colours"]["blue"]["state"], marked["colours"]["blue"]["version"]) == ("failed", "1.2.0")
