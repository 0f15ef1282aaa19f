import datetime
import json
import os
import stat

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._ledger import (
    Ledger, LedgerError, LockHeld, summary)

T0 = datetime.datetime(2026, 11, 21, 5, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def ledger(tmp_path):
    return Ledger(str(tmp_path / "agent-loop"), "agent-loop")


def deploy(led, doc, version, colour, old=None, now=T0):
    colours = {colour: {"version": version, "state": "live"}}
    if old:
        colours[old[0]] = {"version": old[1], "state": "warm"}
    return led.record(doc, {"action": "deploy", "version": version, "result": "succeeded"},
                      live={"colour": colour, "version": version}, colours=colours, now=now)


def test_empty_ledger_summary(ledger):
    assert summary(ledger.load()) == {
        "live_colour": None, "live_version": None, "previous_version": None, "idle_colour": "blue",
        "idle_version": None, "idle_state": "empty", "deployed_versions": [], "canary": None}


def test_deploys_track_live_idle_and_previous(ledger):
    doc = deploy(ledger, ledger.load(), "1.0.0", "blue")
    doc = deploy(ledger, doc, "1.1.0", "green", old=("blue", "1.0.0"))
    facts = summary(doc)
    assert facts["live_colour"] == "green" and facts["live_version"] == "1.1.0"
    assert facts["idle_colour"] == "blue" and facts["idle_version"] == "1.0.0" and facts["idle_state"] == "warm"
    assert facts["previous_version"] == "1.0.0"
    assert facts["deployed_versions"] == ["1.0.0", "1.1.0"]
    assert [e["id"] for e in doc["history"]] == [1, 2]


def test_redeploying_the_live_version_keeps_the_previous_one(ledger):
    doc = deploy(ledger, ledger.load(), "1.0.0", "blue")
    doc = deploy(ledger, doc, "1.1.0", "green")
    doc = ledger.record(doc, {"action": "switch", "result": "succeeded"}, live={"colour": "green", "version": "1.1.0"})
    assert summary(doc)["previous_version"] == "1.0.0"


def test_failed_entries_do_not_count_as_deployed(ledger):
    doc = deploy(ledger, ledger.load(), "1.0.0", "blue")
    doc = ledger.record(doc, {"action": "deploy", "version": "9.9.9", "result": "failed"},
                        colours={"green": {"version": "9.9.9", "state": "failed"}})
    assert summary(doc)["deployed_versions"] == ["1.0.0"]
    assert summary(doc)["live_version"] == "1.0.0"


def test_save_is_atomic_and_root_only(ledger):
    ledger.save(deploy(ledger, ledger.load(), "1.0.0", "blue"))
    assert stat.S_IMODE(os.stat(ledger.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ledger.directory).st_mode) == 0o700
    assert os.listdir(ledger.directory) == ["ledger.json"]  # no temporary file left behind
    assert ledger.load()["live"]["version"] == "1.0.0"


def test_corrupt_ledger_is_reported_not_overwritten(ledger):
    os.makedirs(ledger.directory)
    with open(ledger.path, "w") as handle:
        handle.write("{not json")
    with pytest.raises(LedgerError, match="not valid JSON"):
        ledger.load()


def test_unknown_colour_is_refused(ledger):
    with pytest.raises(LedgerError, match="unknown colour 'red'"):
        ledger.record(ledger.load(), {"action": "x"}, colours={"red": {}})


def test_lock_refuses_a_second_holder_with_the_facts(ledger):
    assert ledger.acquire("run-a", "deploy 1.1.0", now=T0) == (True, None)
    assert ledger.acquire("run-a", "deploy 1.1.0", now=T0) == (False, None)
    with pytest.raises(LockHeld) as caught:
        ledger.acquire("run-b", "deploy 1.2.0", now=T0 + datetime.timedelta(seconds=30))
    message = str(caught.value)
    assert "'run-a'" in message and "deploy 1.1.0" in message and "30 s ago" in message
    assert stat.S_IMODE(os.stat(ledger.lock_path).st_mode) == 0o600


@pytest.mark.parametrize("age_s,break_stale,outcome", [
    (60, False, "refused"),
    (60, True, "refused"),
    (1000, False, "refused"),
    (1000, True, "broken"),
], ids=["fresh", "fresh-with-break", "stale-without-break", "stale-with-break"])
def test_stale_lock_breaks_only_on_request(ledger, age_s, break_stale, outcome):
    ledger.acquire("run-a", "deploy", now=T0)
    later = T0 + datetime.timedelta(seconds=age_s)
    if outcome == "refused":
        with pytest.raises(LockHeld):
            ledger.acquire("run-b", "deploy", break_stale=break_stale, stale_after_s=900, now=later)
        assert ledger.read_lock()["holder"] == "run-a"
    else:
        changed, broken = ledger.acquire("run-b", "deploy", break_stale=True, stale_after_s=900, now=later)
        assert changed and broken["holder"] == "run-a"
        assert ledger.read_lock()["holder"] == "run-b"


def test_release_only_by_holder_unless_forced(ledger):
    ledger.acquire("run-a", "deploy", now=T0)
    with pytest.raises(LockHeld):
        ledger.release("run-b")
    assert ledger.release("run-b", force=True) is True
    assert ledger.release("run-a") is False
    assert ledger.read_lock() is None


def test_history_is_bounded(ledger):
    doc = ledger.load()
    for number in range(510):
        doc = ledger.record(doc, {"action": "deploy", "version": "1.0.%d" % number, "result": "failed"})
    assert len(doc["history"]) == 500
    assert doc["history"][-1]["id"] == 510
    json.dumps(doc)


def test_a_canary_in_progress_is_set_and_cleared(ledger):
    doc = deploy(ledger, ledger.load(), "1.0.0", "blue")
    doc = ledger.record(doc, {"action": "canary-step", "version": "1.1.0", "result": "held"},
                        canary={"version": "1.1.0", "colour": "green", "step": 1, "share": 25, "state": "held"}, now=T0)
    assert summary(doc)["canary"]["share"] == 25 and summary(doc)["canary"]["updated"] == "2026-11-21T05:00:00.000000Z"
    assert summary(doc)["live_version"] == "1.0.0"
    doc = ledger.record(doc, {"action": "canary", "version": "1.1.0", "result": "aborted"}, canary={}, now=T0)
    assert summary(doc)["canary"] is None
