# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""What a release needs from a host, read in one call: Compose v2, memory, disk, nginx and its config.

Each read is a round trip when done by its own task (the command, setup, systemd modules);
together they are one.
"""

from __future__ import annotations

import os
import re

# "2026/12/04 23:50:39 [emerg] 9662#9662: unknown directive ..." -> "unknown directive ..."
EMERG_PREFIX = re.compile(r"^.*?\[emerg\]\s*(\d+#\d+:\s*)?")

DEFAULT_DOCKER_ROOT = "/var/lib/docker"


def memory_available_mb(meminfo):
    """MB the kernel says a new process can have without swapping (MemAvailable), from /proc/meminfo.

    Kernels older than 3.14 have no MemAvailable: free plus buffers plus page cache, as Ansible's
    ``memory_mb.nocache.free`` counts it.
    """
    kib = {}
    for line in meminfo.splitlines():
        name, _sep, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            kib[name.strip()] = int(fields[0])
    if "MemAvailable" in kib:
        return kib["MemAvailable"] // 1024
    return sum(kib.get(name, 0) for name in ("MemFree", "Buffers", "Cached")) // 1024


def nearest_existing(path, exists=os.path.exists):
    """``path`` or the nearest directory above it that exists: the filesystem it is (or will be) on."""
    path = os.path.abspath(path)
    while not exists(path) and path != os.path.dirname(path):
        path = os.path.dirname(path)
    return path


def disk_free_mb(path, statvfs=os.statvfs, exists=os.path.exists):
    """Free MB (for an unprivileged writer: what docker can use) on the filesystem of ``path``."""
    where = nearest_existing(path, exists)
    stats = statvfs(where)
    return {"path": where, "free_mb": stats.f_bavail * stats.f_frsize // 1048576}


def cli_status(run, argv):
    """Whether ``argv`` (a docker command) answered: ok, its output as the version, or why not."""
    try:
        rc, out, err = run(argv)
    except OSError as error:
        return {"ok": False, "version": "", "error": "docker not found (%s)" % error}
    if rc != 0:
        return {"ok": False, "version": "", "error": (err or out).strip() or "%s exited with %d" % (" ".join(argv[:2]), rc)}
    return {"ok": True, "version": out.strip(), "error": ""}


def compose_status(run):
    """``docker compose version --short``: the Compose v2 plugin (no engine needed)."""
    return cli_status(run, ["docker", "compose", "version", "--short"])


def engine_status(run):
    """The Docker engine's version, which only a running engine gives."""
    return cli_status(run, ["docker", "version", "--format", "{{.Server.Version}}"])


def engine_root_dir(run):
    """Docker's data directory as the engine says (``data-root`` in daemon.json), or '' when it does not say."""
    answer = cli_status(run, ["docker", "info", "--format", "{{.DockerRootDir}}"])
    return answer["version"] if answer["ok"] and answer["version"].startswith("/") else ""


def unit_state(run, unit):
    """systemd's active state of ``unit`` (active, inactive, failed, ...), or unknown when systemctl is missing."""
    try:
        _rc, out, _err = run(["systemctl", "is-active", unit])
    except OSError:
        return "unknown"
    return out.strip() or "unknown"


def nginx_config_status(run, test_command):
    """Whether nginx accepts its config as it is on the host (``nginx -t``): a config that something else
    broke fails every reload the release needs. Not tested (``tested`` false) when nginx is not installed."""
    answer = None
    if test_command:
        try:
            answer = run(test_command)
        except OSError:  # nginx is not installed yet
            pass
    if answer is None:
        return {"tested": False, "ok": True, "error": ""}
    rc, out, err = answer
    if rc == 0:
        return {"tested": True, "ok": True, "error": ""}
    lines = [line.strip() for line in (err or out).splitlines() if line.strip()]
    reasons = [EMERG_PREFIX.sub("", line) for line in lines if "[emerg]" in line] or lines
    return {"tested": True, "ok": False, "error": "; ".join(reasons) or "%s exited with %d" % (" ".join(test_command), rc)}


def read_host(run, docker_root, unit, meminfo, nginx_test_command=("nginx", "-t")):
    """Everything at once; ``run(argv) -> (rc, stdout, stderr)``. An empty ``docker_root`` is the
    engine's own data directory (a host may keep it on a disk of its own), else /var/lib/docker."""
    engine = engine_status(run)
    root = docker_root or (engine_root_dir(run) if engine["ok"] else "") or DEFAULT_DOCKER_ROOT
    return {"compose": compose_status(run), "engine": engine, "memory_available_mb": memory_available_mb(meminfo),
            "disk": disk_free_mb(root), "nginx_state": unit_state(run, unit),
            "nginx_config": nginx_config_status(run, list(nginx_test_command))}
