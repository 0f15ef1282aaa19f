# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Retire warm colours whose warm window is over, on the host, from a systemd timer.

The deploy role installs this file (with the ledger and lease code it imports) under
/usr/local/lib/nextgen-rollout and a persistent timer that runs ``main`` every few seconds, so a
retirement survives a reboot of the host. The ledger says what is due (a colour in state ``warm``
whose ``retire_at`` passed, neither live nor a canary); the retirement takes the deploy lock
first and checks again under it, so it never races a deploy, a rollback or a restore, and a
colour brought back to traffic in the meantime is never taken down.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from ansible_collections.nextgen.rollout.plugins.module_utils import _ledger as L
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import RETIREMENT_HOLDER_PREFIX, Lease, LockHeld


def due_colours(doc, now):
    live = (doc.get("live") or {}).get("colour")
    canary = (doc.get("canary") or {}).get("colour")
    due = []
    for colour in L.COLOURS:
        facts = doc["colours"].get(colour) or {}
        if colour in (live, canary) or facts.get("state") != "warm" or not facts.get("retire_at"):
            continue
        if L.parse_iso(facts["retire_at"]) <= now:
            due.append(colour)
    return due


def compose_down(service, colour):
    subprocess.run(["docker", "compose", "--project-name", "%s-%s" % (service, colour), "down"],
                   check=True, capture_output=True, text=True)


def retire_due(state_dir, service, stop=compose_down, clock=L.utc_now, ttl_s=120):
    """Retire what is due under the deploy lock. Returns the colours retired ([] when the lock is
    held by a run: the next tick tries again)."""
    directory = os.path.join(state_dir, service)
    ledger = L.Ledger(directory, service)
    if not due_colours(ledger.load(), clock()):
        return []
    lease = Lease(directory, service, clock=clock)
    holder = "%s%d" % (RETIREMENT_HOLDER_PREFIX, os.getpid())
    try:
        lease.acquire(holder, "retire warm colours of %s" % service, ttl_s)
    except LockHeld:
        return []
    retired = []
    try:
        doc = ledger.load()
        for colour in due_colours(doc, clock()):
            retire_at = doc["colours"][colour]["retire_at"]
            # Intent first: a retirement killed half-way is finished by the next run's reconciliation.
            doc = L.retiring(doc, colour, clock())
            ledger.save(doc)
            stop(service, colour)
            doc = L.retired(doc, colour, "warm window over (retire at %s)" % retire_at, clock())
            ledger.save(doc)
            retired.append(colour)
    finally:
        lease.release(holder)
    return retired


def main(argv=None):
    parser = argparse.ArgumentParser(description="Retire the warm colours of a service whose window is over.")
    parser.add_argument("--state-dir", default="/var/lib/nextgen-rollout")
    parser.add_argument("--service", required=True)
    args = parser.parse_args(argv)
    for colour in retire_due(args.state_dir, args.service):
        sys.stdout.write("retired %s %s\n" % (args.service, colour))
    return 0
