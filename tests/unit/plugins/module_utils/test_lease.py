import datetime
import multiprocessing
import os
import stat

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._lease import Lease, LockHeld, after_retirement, held_by_retirement, iso

T0 = datetime.datetime(2026, 11, 21, 5, 0, 0, tzinfo=datetime.timezone.utc)


class Clock(object):
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += datetime.timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def lease(tmp_path, clock):
    return Lease(str(tmp_path / "agent-loop"), "agent-loop", clock=clock)


def test_take_renew_release(lease, clock):
    assert lease.acquire("run-1", "deploy 1.1.0", ttl_s=30, owner={"controller": "ops", "pid": 7}) == (True, None)
    lock = lease.read()
    assert lock["holder"] == "run-1" and lock["controller"] == "ops" and lock["expires"] == iso(T0 + datetime.timedelta(seconds=30))
    assert stat.S_IMODE(os.stat(lease.path).st_mode) == 0o600
    clock.advance(20)
    assert lease.acquire("run-1", "deploy 1.1.0", ttl_s=30) == (False, None)
    assert lease.renew("run-1", 30)["expires"] == iso(T0 + datetime.timedelta(seconds=50))
    assert lease.release("run-1") and lease.read() is None and not lease.release("run-1")


def test_a_renewed_lease_outlives_any_fixed_stale_age(lease, clock):
    lease.acquire("run-1", "canary", ttl_s=10)
    for _renewal in range(200):  # 1,000 s in all, far past the old 900 s stale age
        clock.advance(5)
        lease.renew("run-1", 10)
    with pytest.raises(LockHeld, match="lease expires in 10 s"):
        lease.acquire("run-2", "deploy", ttl_s=10, break_expired=True)


def test_an_expired_lease_is_broken_only_on_request(lease, clock):
    lease.acquire("run-1", "deploy", ttl_s=10)
    clock.advance(11)
    with pytest.raises(LockHeld, match="EXPIRED 1 s ago.*rollout_break_lock=true"):
        lease.acquire("run-2", "deploy", ttl_s=10)
    changed, broken = lease.acquire("run-2", "deploy", ttl_s=10, break_expired=True)
    assert changed and broken["holder"] == "run-1" and lease.read()["holder"] == "run-2"


def test_a_holder_known_to_be_gone_is_taken_over_before_expiry(lease):
    lease.acquire("run-1", "deploy", ttl_s=300)
    with pytest.raises(LockHeld):
        lease.acquire("run-2", "deploy", takeover="run-0")
    assert lease.acquire("run-2", "deploy", takeover="run-1")[1]["holder"] == "run-1"


def test_a_run_that_lost_its_lock_cannot_renew_or_release_it(lease, clock):
    lease.acquire("run-1", "deploy", ttl_s=10)
    clock.advance(11)
    lease.acquire("run-2", "deploy", ttl_s=10, break_expired=True)
    with pytest.raises(LockHeld, match="lost the deploy lock"):
        lease.renew("run-1", 10)
    with pytest.raises(LockHeld, match="not releasing it"):
        lease.release("run-1")


def test_a_lock_of_the_first_layout_expires_900_s_after_it_was_taken(lease, clock):
    os.makedirs(lease.directory)
    with open(lease.path, "w") as handle:
        handle.write('{"holder": "old", "reason": "deploy", "time": "%s"}' % iso(T0))
    clock.advance(899)
    with pytest.raises(LockHeld):
        lease.acquire("run-2", "deploy", break_expired=True)
    clock.advance(2)
    assert lease.acquire("run-2", "deploy", break_expired=True)[0]


def _break(args):
    directory, index, barrier = args
    barrier.wait()
    try:
        Lease(directory, "agent-loop").acquire("breaker-%d" % index, "deploy", ttl_s=60, break_expired=True)
        return index
    except LockHeld:
        return None


def test_several_processes_breaking_the_same_expired_lease_exactly_one_wins(tmp_path):
    directory = str(tmp_path / "agent-loop")
    past = Clock()
    past.now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    Lease(directory, "agent-loop", clock=past).acquire("dead-run", "deploy", ttl_s=10)
    for _round in range(5):
        with multiprocessing.Manager() as manager:
            barrier = manager.Barrier(8)
            with multiprocessing.Pool(8) as pool:
                winners = [w for w in pool.map(_break, [(directory, i, barrier) for i in range(8)]) if w is not None]
        assert len(winners) == 1, winners
        assert Lease(directory, "agent-loop").read()["holder"] == "breaker-%d" % winners[0]
        # Expire the winner's lease for the next round.
        Lease(directory, "agent-loop").release("breaker-%d" % winners[0])
        Lease(directory, "agent-loop", clock=past).acquire("dead-run", "deploy", ttl_s=10)


def test_check_refuses_exactly_as_acquire_does_and_writes_nothing(lease, clock):
    lease.acquire("run-1", "deploy", ttl_s=10)
    with pytest.raises(LockHeld, match="lease expires in 10 s"):
        lease.check("run-2", break_expired=True)
    clock.advance(11)
    with pytest.raises(LockHeld, match="EXPIRED.*rollout_break_lock=true"):
        lease.check("run-2")
    lease.check("run-2", break_expired=True)
    lease.check("run-2", takeover="run-1")
    assert lease.read()["holder"] == "run-1"


def test_a_lock_file_that_is_not_json_is_refused_with_what_to_do_and_can_be_taken_over(lease):
    lease.acquire("run-1", "deploy")
    with open(lease.path, "w") as handle:
        handle.write("{torn")
    with pytest.raises(LockHeld, match="is in a lock file that is not JSON .*: nobody can say which run holds it. "
                                       "If no run holds it any more, take the lock over with -e rollout_break_lock=true"):
        lease.acquire("run-2", "deploy")
    assert lease.acquire("run-2", "deploy", break_expired=True)[0] is True
    assert lease.read()["holder"] == "run-2"


def test_a_run_waits_while_the_retirement_timer_holds_the_lock_and_takes_it_once_released(lease):
    lease.acquire("retire-timer-77", "retire warm colours of agent-loop", 120)
    ticks = []

    def sleep(seconds):
        ticks.append(seconds)
        if len(ticks) == 3:  # the timer has stopped the warm colour
            lease.release("retire-timer-77")

    seconds = iter(range(100))
    (changed, broken), waited = after_retirement(lambda: lease.acquire("run-2", "deploy 1.1.0"), 60, sleep=sleep,
                                                 clock=lambda: next(seconds))
    assert (changed, broken) == (True, None) and lease.read()["holder"] == "run-2"
    assert ticks == [0.5] * 3 and waited == 4  # the fake clock ticks once a call: 3 tries, then the one that took it


def test_a_run_is_refused_at_once_by_another_run_and_after_its_wait_by_the_retirement_timer(lease):
    lease.acquire("run-1", "deploy 1.1.0")
    slept = []
    with pytest.raises(LockHeld, match="held by 'run-1'"):
        after_retirement(lambda: lease.acquire("run-2", "deploy 1.2.0"), 60, sleep=slept.append)
    assert slept == []
    lease.release("run-1")
    lease.acquire("retire-timer-77", "retire warm colours of agent-loop", 120)
    seconds = iter(range(100))
    with pytest.raises(LockHeld, match="retire-timer-77"):
        after_retirement(lambda: lease.acquire("run-2", "deploy 1.2.0"), 5, sleep=slept.append, clock=lambda: next(seconds))
    assert len(slept) == 4 and held_by_retirement(lease.read()) and not held_by_retirement({"holder": "run-1"})
    # Taken at once: nothing waited, however long the taking itself took.
    lease.release("retire-timer-77")
    seconds = iter(range(100))
    assert after_retirement(lambda: lease.acquire("run-2", "deploy 1.2.0"), 5, sleep=slept.append, clock=lambda: next(seconds)) == (
        (True, None), 0.0)
