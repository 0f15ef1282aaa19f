import datetime

from ansible_collections.nextgen.rollout.plugins.module_utils import _ledger as L
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import Lease
from ansible_collections.nextgen.rollout.plugins.module_utils._retire import due_colours, retire_due

T0 = datetime.datetime(2026, 11, 21, 5, 0, 0, tzinfo=datetime.timezone.utc)


def two_releases(warm):
    doc = L.empty_ledger("agent-loop")
    for colour, version in (("blue", "1.0.0"), ("green", "1.1.0")):
        doc = L.begin(doc, "deploy", "run", colour, version, True, T0)
        doc = L.succeeded(doc, warm, T0)
    return doc


def setup(tmp_path, warm=60):
    ledger = L.Ledger(str(tmp_path / "agent-loop"), "agent-loop")
    ledger.save(two_releases(warm))
    return ledger


def test_only_a_warm_colour_past_its_time_is_due():
    doc = two_releases(60)
    assert due_colours(doc, T0 + datetime.timedelta(seconds=59)) == []
    assert due_colours(doc, T0 + datetime.timedelta(seconds=60)) == ["blue"]
    doc = L.switched(doc, "blue", "1.0.0", T0)  # brought back to traffic meanwhile
    assert due_colours(doc, T0 + datetime.timedelta(seconds=600)) == []


def test_retirement_stops_the_colour_and_records_it_under_the_lock(tmp_path):
    ledger = setup(tmp_path)
    stopped = []
    later = T0 + datetime.timedelta(seconds=61)

    def stop(service, colour):
        assert ledger.load()["colours"][colour]["state"] == "retiring"  # the intent is written first
        stopped.append((service, colour))
    assert retire_due(str(tmp_path), "agent-loop", stop=stop, clock=lambda: later) == ["blue"]
    assert stopped == [("agent-loop", "blue")]
    doc = ledger.load()
    assert doc["colours"]["blue"]["state"] == "retired" and doc["history"][-1]["action"] == "retire"
    assert Lease(ledger.directory, "agent-loop").read() is None


def test_retirement_waits_while_a_run_holds_the_lock(tmp_path):
    ledger = setup(tmp_path)
    later = T0 + datetime.timedelta(seconds=61)
    Lease(ledger.directory, "agent-loop", clock=lambda: later).acquire("run-9", "deploy", 300)
    assert retire_due(str(tmp_path), "agent-loop", stop=lambda s, c: 1 / 0, clock=lambda: later) == []
    assert ledger.load()["colours"]["blue"]["state"] == "warm"
