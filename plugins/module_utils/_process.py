# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Who runs this play on the controller, and whether a run recorded in a lock is still alive.

The deploy lock records the controller's host name, the pid of the ansible-playbook (or
ansible-runner) process and that process's start time, so a later run on the same controller can
tell a holder that died (SIGKILL, a closed terminal) from one that still works. The start time
guards against a reused pid.
"""

from __future__ import annotations

import os
import socket

RUNNERS = ("ansible-playbook", "ansible-runner", "ansible-navigator")


def process_start(pid, proc="/proc"):
    """Start time of ``pid`` in clock ticks since boot, or None when there is no such process."""
    try:
        with open(os.path.join(proc, str(pid), "stat")) as handle:
            stat = handle.read()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[19])


def _parent_and_cmdline(pid, proc):
    try:
        with open(os.path.join(proc, str(pid), "stat")) as handle:
            stat = handle.read()
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as handle:
            cmdline = handle.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return None, []
    return int(stat[stat.rfind(")") + 2:].split()[1]), cmdline


def run_owner(pid=None, proc="/proc", hostname=None):
    """{controller, pid, pid_start} of the outermost ansible-playbook (or ansible-runner) process
    above ``pid`` (default this process): the workers ansible-playbook forks carry its command
    line too, and live only for one task."""
    pid = pid or os.getpid()
    found = pid
    seen = 0
    while pid and pid > 1 and seen < 64:
        parent, cmdline = _parent_and_cmdline(pid, proc)
        if any(os.path.basename(part).startswith(RUNNERS) for part in cmdline[:2]):
            found = pid
        pid, seen = parent, seen + 1
    return {"controller": hostname or socket.gethostname(), "pid": found, "pid_start": process_start(found, proc)}


def holder_gone(lock, proc="/proc", hostname=None):
    """Whether the run that holds ``lock`` is known to be gone: it ran on this controller and its
    process no longer exists (or is another process with the same pid)."""
    if not lock or lock.get("controller") != (hostname or socket.gethostname()) or not lock.get("pid"):
        return False
    return process_start(lock["pid"], proc) != lock.get("pid_start")
