# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""The operator's release command (rollout_release_command: database migrations, say), run once in
a one-off container of a new version before that version's colour starts: its settings checked
before anything changes, the ``docker compose run`` that runs it within its timeout, and the one
line that says why it failed."""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
import time

from ansible_collections.nextgen.rollout.plugins.module_utils._service import last_output

# coreutils timeout: the status when it stopped the command (TERM), or killed it after the grace
# (timeout then kills itself the same way: -9 for the one that ran it).
TIMED_OUT_CODES = (124, 137, -9)
KILL_AFTER_S = 3
# compose's own progress on stderr (" Network shop-green_default  Creating"): not the command's words.
COMPOSE_PROGRESS = re.compile(r"^\s*(Network|Volume|Container|Image)\s+\S+\s+(Creating|Created|Pulling|Pulled|Starting|Started|"
                              r"Running|Recreate|Recreated|Waiting|Healthy|Removing|Removed)\s*$")


def release_command_problems(command, timeout):
    """Why rollout_release_command or its timeout cannot be right (none when they can): a command
    line (a string) or its arguments (a list of non-empty strings), and more than 0 seconds."""
    problems = []
    if isinstance(command, str):
        usable = command == "" or bool(command.strip())
    else:
        usable = isinstance(command, list) and len(command) > 0 and all(isinstance(arg, str) and arg for arg in command)
    if not usable:
        problems.append("rollout_release_command is %r: give a command line (a string) or its arguments (a list of "
                        "non-empty strings), such as [python3, manage.py, migrate]; '' for none" % (command,))
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or seconds <= 0:
        problems.append("rollout_release_command_timeout is %s: use more than 0 s" % (timeout,))
    return problems


def command_argv(command):
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def command_line(command):
    """The release command as an operator reads it, its arguments quoted as a shell would need."""
    return command if isinstance(command, str) else " ".join(shlex.quote(str(arg)) for arg in command)


def run_argv(project, compose_file, service, command, name, timeout_s):
    """``docker compose run`` of ``command`` in a one-off container ``name`` of ``service``, removed
    when it ends, without the project's other services, within ``timeout_s`` seconds."""
    return (["timeout", "--kill-after=%d" % KILL_AFTER_S, "%gs" % timeout_s,
             "docker", "compose", "--project-name", project, "--file", compose_file,
             "run", "--rm", "--no-deps", "-T", "--name", name, service] + command_argv(command))


def run_release_command(run, project, definition, service, command, name, timeout_s, clock=time.monotonic):
    """Run the release command; ``run(argv) -> (rc, stdout, stderr)``. A container ``name`` left by
    a run that was stopped is removed first, and the container again after a timeout (the command
    may still run in it). Returns rc, stdout, stderr, elapsed_s and timed_out."""
    run(["docker", "rm", "--force", name])
    directory = tempfile.mkdtemp(prefix="nextgen-rollout-release-")
    compose_file = os.path.join(directory, "compose.json")  # JSON is YAML to compose: no PyYAML on the host
    try:
        with os.fdopen(os.open(compose_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            json.dump(definition, handle)
        started = clock()
        rc, out, err = run(run_argv(project, compose_file, service, command, name, timeout_s))
        elapsed = clock() - started
    finally:
        os.remove(compose_file)
        os.rmdir(directory)
    timed_out = rc in TIMED_OUT_CODES and elapsed >= timeout_s
    if timed_out:
        run(["docker", "rm", "--force", name])
    err = "\n".join(line for line in err.splitlines() if not COMPOSE_PROGRESS.match(line))
    return {"rc": rc, "stdout": out, "stderr": err, "elapsed_s": round(elapsed, 2), "timed_out": timed_out}


def failure_report(outcome, command, version, timeout_s, log_lines=10, width=200):
    """Why the release command failed, on one line ('' when it did not): its exit code or its
    timeout, then its last lines of output (none when ``log_lines`` is 0)."""
    if outcome["rc"] == 0:
        return ""
    said = "the release command (rollout_release_command) %s, run in a one-off container of %s before it started," % (
        command_line(command), version)
    if outcome["timed_out"]:
        return said + " did not finish within rollout_release_command_timeout (%g s); its container was removed" % timeout_s
    said += " exited with code %s" % outcome["rc"]
    if log_lines > 0:
        said += "; " + last_output([outcome["stdout"], outcome["stderr"]], log_lines, width)
    return said
