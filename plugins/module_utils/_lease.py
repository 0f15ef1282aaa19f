# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""The per-host deploy lock of a service, held as a lease.

``lock.json`` names the holder (a run id), the target host, the controller and process that run
on, why it is held, and when the lease expires. The holder renews it while it works (every
ledger transition and every canary analysis sample does), so a lock stays held as long as its
run is alive, however long a canary takes, and counts as stale only once its lease expired.

Every read-decide-write of the lock happens under ``flock`` on ``lock.guard`` in the same
directory: taking, renewing, releasing and breaking are compare-and-swap operations, so two runs
breaking the same expired lease cannot both win.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import time

from ansible_collections.nextgen.rollout.plugins.module_utils._files import atomic_write_text

FILE_MODE = 0o600
DIR_MODE = 0o700
DEFAULT_TTL_S = 300
# The host's retirement timer holds the lock as retire-timer-<pid> while it stops a warm colour.
RETIREMENT_HOLDER_PREFIX = "retire-timer-"


class LockError(Exception):
    pass


class LockHeld(LockError):
    """Someone else holds the lock; ``lock`` is what they wrote."""

    def __init__(self, message, lock):
        super(LockHeld, self).__init__(message)
        self.lock = lock


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def ensure_dir(path):
    if not os.path.isdir(path):
        os.makedirs(path, DIR_MODE)
    os.chmod(path, DIR_MODE)


def seconds_left(lock, now):
    """Seconds until the lease expires (negative once expired)."""
    return (parse_iso(lock["expires"]) - now).total_seconds()


def describe(lock, now):
    if lock.get("unreadable"):
        return "in a lock file that is not JSON (torn, or edited by hand): nobody can say which run holds it"
    left = seconds_left(lock, now)
    where = ""
    if lock.get("controller"):
        where = " (run from %s, process %s)" % (lock["controller"], lock.get("pid", "?"))
    state = ("lease expires in %.0f s, renewed %s" % (left, lock.get("renewed"))) if left > 0 else (
        "lease EXPIRED %.0f s ago: its holder stopped renewing it" % -left)
    return "held by %r%s since %s for: %s; %s" % (
        lock.get("holder"), where, lock.get("acquired"), lock.get("reason"), state)


class Lease(object):
    """The lock of one service: ``directory`` is the service's state directory."""

    def __init__(self, directory, service, name="lock", clock=utc_now):
        self.directory = directory
        self.service = service
        self.path = os.path.join(directory, name + ".json")
        self.guard_path = os.path.join(directory, name + ".guard")
        self.clock = clock

    @contextlib.contextmanager
    def _guarded(self):
        ensure_dir(self.directory)
        fd = os.open(self.guard_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def read(self):
        try:
            with open(self.path) as handle:
                lock = json.load(handle)
        except IOError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise LockError("cannot read %s: %s" % (self.path, exc))
        except ValueError:
            # A torn or hand-edited file protects nothing: treat it as an expired lease.
            return {"holder": "?", "reason": "unreadable lock file", "acquired": "?", "renewed": "?", "unreadable": True,
                    "expires": iso(datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc))}
        if "expires" not in lock:
            # A lock of the first layout (no lease): it expires stale_after (900 s) after it was taken.
            taken = parse_iso(lock.get("time", "1970-01-01T00:00:00.000000Z"))
            lock = dict(lock, acquired=lock.get("time"), renewed=lock.get("time"),
                        expires=iso(taken + datetime.timedelta(seconds=900)))
        return lock

    def _write(self, lock):
        atomic_write_text(self.path, json.dumps(lock, sort_keys=True) + "\n", FILE_MODE)

    def _new(self, holder, reason, ttl_s, owner, now):
        lock = {"holder": holder, "reason": reason, "service": self.service, "acquired": iso(now),
                "renewed": iso(now), "ttl_s": ttl_s,
                "expires": iso(now + datetime.timedelta(seconds=ttl_s))}
        lock.update(owner or {})
        return lock

    def acquire(self, holder, reason, ttl_s=DEFAULT_TTL_S, owner=None, break_expired=False, takeover=None):
        """Take the lock (or renew it when ``holder`` has it). Returns (changed, broken lock or None).

        ``break_expired`` breaks a lease that expired; ``takeover`` names a holder known to be dead
        whose lease is taken over even before it expires. Raises LockHeld otherwise."""
        with self._guarded():
            now = self.clock()
            current = self.read()
            if current is not None and current.get("holder") == holder:
                self._write(dict(current, renewed=iso(now), expires=iso(now + datetime.timedelta(seconds=ttl_s))))
                return False, None
            self._refuse(current, holder, now, break_expired, takeover)
            self._write(self._new(holder, reason, ttl_s, owner, now))
            return True, current

    def check(self, holder, break_expired=False, takeover=None):
        """Raise LockHeld exactly when ``acquire`` would, without writing anything."""
        self._refuse(self.read(), holder, self.clock(), break_expired, takeover)

    def _refuse(self, current, holder, now, break_expired, takeover):
        if current is None or current.get("holder") == holder:
            return
        if takeover and current.get("holder") == takeover:
            return
        if seconds_left(current, now) > 0:
            raise LockHeld("deploy lock of %s is %s. Another deploy, rollback, restore or backup is running: "
                           "wait for it to end (ansible-playbook playbooks/status.yml shows it)"
                           % (self.service, describe(current, now)), current)
        if not break_expired:
            raise LockHeld("deploy lock of %s is %s. If no run holds it any more, take the lock over with "
                           "-e rollout_break_lock=true" % (self.service, describe(current, now)), current)

    def renew(self, holder, ttl_s=DEFAULT_TTL_S):
        """Extend the lease of ``holder``; raises LockHeld when it no longer holds the lock."""
        with self._guarded():
            now = self.clock()
            current = self.read()
            if current is None or current.get("holder") != holder:
                raise LockHeld("run %r lost the deploy lock of %s (%s): stopping before it changes anything else"
                               % (holder, self.service,
                                  "nobody holds it" if current is None else describe(current, now)), current)
            renewed = dict(current, renewed=iso(now), expires=iso(now + datetime.timedelta(seconds=ttl_s)))
            self._write(renewed)
            return renewed

    def release(self, holder, force=False):
        """Drop the lock if ``holder`` owns it (or ``force``). Returns whether it was removed."""
        with self._guarded():
            current = self.read()
            if current is None:
                return False
            if current.get("holder") != holder and not force:
                raise LockHeld("deploy lock of %s is %s, not by %r: not releasing it"
                               % (self.service, describe(current, self.clock()), holder), current)
            os.unlink(self.path)
            return True


def held_by_retirement(lock):
    return str((lock or {}).get("holder") or "").startswith(RETIREMENT_HOLDER_PREFIX)


def after_retirement(attempt, wait_s, sleep=time.sleep, clock=time.monotonic, poll_s=0.5):
    """Run ``attempt`` (an acquire or a check). While the host's retirement timer holds the lock (it
    stops a warm colour: seconds, or the colour's stop grace period), try again for up to ``wait_s``
    seconds instead of refusing a run that only came at the wrong moment. Any other holder refuses
    at once. Returns (what ``attempt`` returned, seconds waited)."""
    started, slept = clock(), False
    while True:
        try:
            return attempt(), (round(clock() - started, 3) if slept else 0.0)
        except LockHeld as exc:
            if not held_by_retirement(exc.lock) or clock() - started >= wait_s:
                raise
            sleep(poll_s)
            slept = True


def renewer(state_dir, service, holder, ttl):
    """A callable that renews ``holder``'s lease on the lock of ``service`` for ``ttl`` seconds
    (raising LockHeld once the run lost it); a no-op without a holder."""
    if not holder:
        return lambda: None
    lease = Lease(os.path.join(state_dir, service), service)
    return lambda: lease.renew(holder, ttl)
