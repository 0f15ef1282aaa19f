# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""The per-host release ledger and deploy lock.

Layout, one directory per service (mode 0700, root only):
    ledger.json  what is live, what each colour holds, and the history of every decision
    lock.json    present while a deploy or rollback runs: holder, reason, time

Every write goes to a temporary file in the same directory, is fsynced, then renamed over the
old one, so a reader sees the old or the new file, never half of one. The lock file is created
with O_EXCL, so two runs racing for it cannot both win.
"""

from __future__ import annotations

import datetime
import errno
import json
import os

from ansible_collections.nextgen.rollout.plugins.module_utils._files import atomic_write_text

COLOURS = ("blue", "green")
HISTORY_LIMIT = 500
FILE_MODE = 0o600
DIR_MODE = 0o700


class LedgerError(Exception):
    pass


class LockHeld(LedgerError):
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


def atomic_write_json(path, document):
    ensure_dir(os.path.dirname(path) or ".")
    atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True) + "\n", FILE_MODE)


def read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise LedgerError("cannot read %s: %s" % (path, exc))
    except ValueError as exc:
        raise LedgerError("%s is not valid JSON (%s): move it aside and re-run, or restore it from a backup"
                          % (path, exc))


def empty_ledger(service):
    return {
        "service": service,
        "live": None,
        "colours": dict((c, {"version": None, "state": "empty"}) for c in COLOURS),
        "history": [],
        "canary": None,
    }


def other_colour(colour):
    return COLOURS[1] if colour == COLOURS[0] else COLOURS[0]


def summary(ledger):
    """The facts a playbook branches on, derived from the ledger in one place."""
    live = ledger.get("live") or {}
    live_colour = live.get("colour")
    idle_colour = other_colour(live_colour) if live_colour else COLOURS[0]
    idle = ledger["colours"].get(idle_colour, {})
    versions = []
    for entry in ledger["history"]:
        if entry.get("result") == "succeeded" and entry.get("version") and entry["version"] not in versions:
            versions.append(entry["version"])
    return {
        "live_colour": live_colour,
        "live_version": live.get("version"),
        "previous_version": live.get("previous_version"),
        "idle_colour": idle_colour,
        "idle_version": idle.get("version"),
        "idle_state": idle.get("state"),
        "deployed_versions": versions,
        "canary": ledger.get("canary"),
    }


class Ledger(object):
    def __init__(self, directory, service):
        self.directory = directory
        self.service = service
        self.path = os.path.join(directory, "ledger.json")
        self.lock_path = os.path.join(directory, "lock.json")

    def load(self):
        document = read_json(self.path)
        if document is None:
            return empty_ledger(self.service)
        if document.get("service") != self.service:
            raise LedgerError("%s belongs to service %r, not %r" % (self.path, document.get("service"), self.service))
        return document

    def record(self, ledger, entry, live=None, colours=None, canary=None, now=None):
        """Return a new ledger with ``entry`` appended and live/colour facts updated.

        ``canary`` sets the canary in progress (a dict), or clears it (an empty dict)."""
        now = now or utc_now()
        updated = json.loads(json.dumps(ledger))
        entry = dict(entry)
        entry.setdefault("time", iso(now))
        entry["id"] = (updated["history"][-1]["id"] + 1) if updated["history"] else 1
        updated["history"] = (updated["history"] + [entry])[-HISTORY_LIMIT:]
        for colour, facts in (colours or {}).items():
            if colour not in COLOURS:
                raise LedgerError("unknown colour %r (expected one of %s)" % (colour, ", ".join(COLOURS)))
            merged = dict(updated["colours"].get(colour, {}))
            merged.update(facts)
            merged["updated"] = iso(now)
            updated["colours"][colour] = merged
        if canary is not None:
            updated["canary"] = dict(canary, updated=iso(now)) if canary else None
        if live:
            old = updated.get("live") or {}
            previous = old.get("version") if old.get("version") != live["version"] else old.get("previous_version")
            updated["live"] = {"colour": live["colour"], "version": live["version"],
                               "since": iso(now), "previous_version": previous}
        return updated

    def save(self, ledger):
        atomic_write_json(self.path, ledger)

    # The lock -----------------------------------------------------------------------------
    def read_lock(self):
        return read_json(self.lock_path)

    def acquire(self, holder, reason, break_stale=False, stale_after_s=900, now=None):
        """Take the lock. Returns (changed, broken_lock_or_None). Raises LockHeld if refused."""
        now = now or utc_now()
        ensure_dir(self.directory)
        current = self.read_lock()
        broken = None
        if current is not None:
            if current.get("holder") == holder:
                return False, None
            age = (now - parse_iso(current["time"])).total_seconds()
            described = "deploy lock of %s is held by %r since %s (%.0f s ago) for: %s" % (
                self.service, current.get("holder"), current.get("time"), age, current.get("reason"))
            if not break_stale:
                raise LockHeld("%s. Another deploy or rollback is running: wait for it to end. If that run "
                               "died, break the lock with -e rollout_break_lock=true once it is older than %d s."
                               % (described, stale_after_s), current)
            if age < stale_after_s:
                raise LockHeld("%s. It is not stale yet (stale after %d s): refusing to break it."
                               % (described, stale_after_s), current)
            os.unlink(self.lock_path)
            broken = current
        document = {"holder": holder, "reason": reason, "time": iso(now), "service": self.service}
        try:
            fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise LockHeld("deploy lock of %s was taken by another run a moment ago: wait for it to end"
                               % self.service, self.read_lock())
            raise
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        return True, broken

    def release(self, holder, force=False):
        """Drop the lock if ``holder`` owns it (or ``force``). Returns whether it was removed."""
        current = self.read_lock()
        if current is None:
            return False
        if current.get("holder") != holder and not force:
            raise LockHeld("deploy lock of %s is held by %r, not by %r: not releasing it"
                           % (self.service, current.get("holder"), holder), current)
        os.unlink(self.lock_path)
        return True
