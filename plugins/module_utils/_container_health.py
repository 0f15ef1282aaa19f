# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Wait until the containers of a compose project are healthy, without waiting for docker's clock.

Docker before 25 (Debian 12 ships 20.10) runs a container's first healthcheck one whole interval
after the start: with the common ``--interval=30s`` a service ready in one second stays "starting"
for 30 s, and ``docker compose up --wait`` with it. Here the container's own healthcheck (the
test docker would run: same command, user, environment and timeout) is run through ``docker exec``
as soon as the container runs, and again until it passes: every ``interval`` at first, then never
later than a quarter of the time waited so far (at most ``max_interval``), so that a service slow to
start is not checked four times a second for a minute; docker's own verdict is taken too when it
comes first. A container that exits, that docker restarted three times or finds
unhealthy fails the wait at once. A container without a healthcheck is ready when it runs.
"""

from __future__ import annotations

import json
import time

from ansible_collections.nextgen.rollout.plugins.module_utils._service import one_line

# A service that crashes once as it starts (its database not up yet) may come up on its restart, as
# compose's wait allows; one that docker had to restart this often (within about a second, docker's
# back-off being 0.1, 0.2, 0.4 s...) is crashing, and the wait stops there instead of at its timeout.
RESTARTS_THAT_FAIL = 3

OUTPUT_WIDTH = 300
# Why a running container whose healthcheck has not passed yet is waited for: then its check is run here.
HEALTH_STARTING = "healthcheck starting"

# Docker's default healthcheck timeout when the definition sets none (nanoseconds in inspect).
DEFAULT_CHECK_TIMEOUT_S = 30


def health_command(config):
    """The argv that runs the healthcheck of a container (``config``: inspect's Config), or None when
    it has none (or one turned off, test NONE)."""
    test = ((config or {}).get("Healthcheck") or {}).get("Test") or []
    if test[:1] == ["CMD"] and len(test) > 1:
        return list(test[1:])
    if test[:1] == ["CMD-SHELL"] and len(test) > 1:
        return list((config or {}).get("Shell") or ["/bin/sh", "-c"]) + [test[1]]
    return None


def check_timeout_s(config):
    timeout_ns = ((config or {}).get("Healthcheck") or {}).get("Timeout") or 0
    return max(1, int(round(timeout_ns / 1e9))) if timeout_ns else DEFAULT_CHECK_TIMEOUT_S


def last_check_output(health):
    checks = (health or {}).get("Log") or []
    return one_line(checks[-1].get("Output"), OUTPUT_WIDTH) if checks else ""


def container_state(container):
    """("ready" | "failed" | "starting", why) of one container (docker inspect's document), by what
    docker knows, without running anything; why is HEALTH_STARTING when it runs and its healthcheck has not passed yet."""
    state = container.get("State") or {}
    status = state.get("Status")
    restarts = container.get("RestartCount") or 0
    if status in ("exited", "dead"):
        return "failed", "exited with code %s" % state.get("ExitCode")
    if restarts >= RESTARTS_THAT_FAIL:
        return "failed", "exited with code %s and was restarted %d times" % (state.get("ExitCode"), restarts)
    if state.get("Restarting"):
        return "starting", "is restarting (exited with code %s)" % state.get("ExitCode")
    if status != "running":
        return "starting", "is %s" % status
    health = state.get("Health") or {}
    if not health or health_command(container.get("Config")) is None:
        return "ready", "runs (no healthcheck)"
    if health.get("Status") == "healthy":
        return "ready", "healthy (docker's check)"
    if health.get("Status") == "unhealthy":
        output = last_check_output(health)
        return "failed", "is unhealthy: its healthcheck failed%s" % ((": " + output) if output else "")
    return "starting", HEALTH_STARTING


def pause_s(waited_s, interval_s, max_interval_s):
    """The pause before the next round of checks: ``interval_s``, or a quarter of the time waited so far
    once that is longer (a check is then at most 25 % late), never more than ``max_interval_s``."""
    return min(max(interval_s, waited_s / 4.0), max(interval_s, max_interval_s))


def wait_healthy(list_names, inspect, run_check, timeout_s, interval_s=0.25, max_interval_s=1.0,
                 clock=time.monotonic, sleep=time.sleep):
    """Wait until every container ``list_names()`` returns is ready, at most ``timeout_s`` seconds.

    ``inspect(names)`` returns docker inspect's documents; ``run_check(name, argv, timeout_s)`` runs
    a container's healthcheck in it and returns (exit code, output). Returns {healthy, waited_s,
    containers: {name: how it became ready, or why not}, message}."""
    started = clock()
    ready = {}
    while True:
        names = list_names()
        waiting = {}
        failed = {}
        for container in inspect([name for name in names if name not in ready]):
            name = str(container.get("Name") or "").lstrip("/")
            verdict, why = container_state(container)
            if why == HEALTH_STARTING:
                config = container.get("Config")
                rc, output = run_check(name, health_command(config), check_timeout_s(config))
                if rc == 0:
                    verdict, why = "ready", "healthy (its healthcheck, run at once)"
                else:
                    why = "%s (run at once, it exited %s%s)" % (HEALTH_STARTING, rc, (": " + one_line(output, OUTPUT_WIDTH)) if output.strip() else "")
            if verdict == "ready":
                ready[name] = why
            elif verdict == "failed":
                failed[name] = why
            else:
                waiting[name] = why
        for name in names:
            if name not in ready and name not in failed and name not in waiting:
                waiting[name] = "could not be inspected"
        waited = round(clock() - started, 2)
        report = dict(ready, **dict(waiting, **failed))
        if not names:
            return {"healthy": False, "waited_s": waited, "containers": {}, "message": "the project has no container"}
        if failed:
            return {"healthy": False, "waited_s": waited, "containers": report,
                    "message": "; ".join("container %s %s" % (name, why) for name, why in sorted(failed.items()))}
        if not waiting:
            return {"healthy": True, "waited_s": waited, "containers": report, "message": ""}
        if waited >= timeout_s:
            return {"healthy": False, "waited_s": waited, "containers": report,
                    "message": "not healthy within %g s: %s" % (timeout_s, "; ".join(
                        "container %s %s" % (name, why) for name, why in sorted(waiting.items())))}
        sleep(pause_s(waited, interval_s, max_interval_s))


def docker_project(run, project, services=None):
    """(list_names, inspect, run_check) for the containers of compose project ``project`` through the
    docker CLI, those of ``services`` only when given (an orphan container of a service no longer in
    the definition is not waited for, as compose's own wait does not); ``run(argv)`` returns (rc, stdout, stderr)."""
    def list_names():
        rc, out, err = run(["docker", "ps", "--all", "--filter", "label=com.docker.compose.project=%s" % project,
                            "--format", '{{.Names}}\t{{.Label "com.docker.compose.service"}}'])
        if rc != 0:
            raise RuntimeError("docker ps failed: %s" % (err.strip() or out.strip()))
        rows = [line.strip().split("\t") + [""] for line in out.splitlines() if line.strip()]
        return sorted(row[0] for row in rows if services is None or row[1] in services)

    def inspect(names):
        if not names:
            return []
        rc, out, err = run(["docker", "inspect"] + list(names))
        if rc != 0:  # a container removed meanwhile: the next round lists the project again
            return []
        return json.loads(out)

    def run_check(name, argv, timeout_s):
        rc, out, err = run(["timeout", "%ds" % timeout_s, "docker", "exec", name] + list(argv))
        return rc, (out + "\n" + err).strip()

    return list_names, inspect, run_check
