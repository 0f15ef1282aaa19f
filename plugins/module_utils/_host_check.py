# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""What a release needs from a host, read in one call: Compose v2, memory, disk, nginx and its config,
whether another process holds a colour port of the service, and whether its named volumes were made
with the definition the service gives them now.

Each read is a round trip when done by its own task (the command, setup, systemd modules);
together they are one.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

# "2026/12/04 23:50:39 [emerg] 9662#9662: unknown directive ..." -> "unknown directive ..."
EMERG_PREFIX = re.compile(r"^.*?\[emerg\]\s*(\d+#\d+:\s*)?")

DEFAULT_DOCKER_ROOT = "/var/lib/docker"

# The state of a listening socket in /proc/net/tcp and tcp6.
TCP_LISTEN = "0A"
# "127.0.0.1:8001->8000/tcp" or "[::]:8001->8000/tcp" in the Ports column of docker ps.
PUBLISHED_PORT = re.compile(r":(\d+)->")


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


def tcp_sockets(proc_net="/proc/net"):
    """The TCP sockets of the host's network namespace (IPv4 and IPv6), as the kernel lists them in
    /proc/net/tcp and tcp6: (state, local port, remote address in hex, remote port, inode) each."""
    for table in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc_net, table)) as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 10:
                continue
            remote_address, remote_port = fields[2].rsplit(":", 1)
            yield fields[3], int(fields[1].rsplit(":", 1)[1], 16), remote_address, int(remote_port, 16), fields[9]


def listening_sockets(proc="/proc"):
    """{port: [socket inode, ...]} of the TCP sockets listening in the host's network namespace (IPv4 and IPv6)."""
    found = {}
    for state, port, _address, _remote_port, inode in tcp_sockets(os.path.join(proc, "net")):
        if state == TCP_LISTEN:
            found.setdefault(port, []).append(inode)
    return found


def process_command(pid, proc="/proc"):
    """The command name of process ``pid``, or None when it ended meanwhile."""
    try:
        with open(os.path.join(proc, pid, "comm")) as handle:
            return handle.read().strip()
    except OSError:
        return None


def fd_links(fd_dir):
    """What the open files of a process point to; none for a process that ended or is not ours to read."""
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return []
    links = []
    for name in names:
        try:
            links.append(os.readlink(os.path.join(fd_dir, name)))
        except OSError:  # closed meanwhile
            continue
    return links


def socket_owners(inodes, proc="/proc"):
    """{inode: "command (pid N)"} of the processes holding these sockets, as far as /proc shows them."""
    wanted = dict(("socket:[%s]" % inode, inode) for inode in inodes)
    owners = {}
    for pid in sorted((name for name in os.listdir(proc) if name.isdigit()), key=int):
        for link in fd_links(os.path.join(proc, pid, "fd")):
            if link in wanted and wanted[link] not in owners:
                owners[wanted[link]] = "%s (pid %s)" % (process_command(pid, proc) or "?", pid)
        if len(owners) == len(wanted):
            break
    return owners


def published_ports(run, service):
    """Host ports that the running containers of ``service`` publish (their docker-proxy listens there)."""
    try:
        rc, out, _err = run(["docker", "ps", "--filter", "label=nextgen.rollout.service=%s" % service, "--format", "{{.Ports}}"])
    except OSError:  # no docker: the pre-checks refuse the host for that
        return set()
    return set(int(port) for port in PUBLISHED_PORT.findall(out)) if rc == 0 else set()


def foreign_listeners(run, service, ports=None, proc="/proc"):
    """{port: [socket inode, ...]} of the TCP sockets listening on the host, but those a running container
    of ``service`` publishes; only on ``ports`` when given (then docker is asked only when one of them listens)."""
    listening = listening_sockets(proc)
    if ports is not None:
        listening = dict((port, inodes) for port, inodes in listening.items() if port in ports)
    if listening:
        own = published_ports(run, service)
        listening = dict((port, inodes) for port, inodes in listening.items() if port not in own)
    return listening


def foreign_port_holders(run, service, ports, proc="/proc"):
    """{colour: who holds its port}: "" when the port is free or held by a container of ``service``,
    else the processes listening there. A colour cannot start on a port another process holds."""
    ports = dict((colour, int(port)) for colour, port in ports.items())
    busy = foreign_listeners(run, service, set(ports.values()), proc)
    owners = socket_owners([inode for inodes in busy.values() for inode in inodes], proc) if busy else {}
    return dict((colour, ", ".join(sorted(set(owners.get(inode, "a process that /proc does not show") for inode in busy[port])))
                 if port in busy else "") for colour, port in ports.items())


def command_runner(module):
    """``run(argv) -> (rc, stdout, stderr)`` through the module, raising OSError when the program is
    not on the PATH (run_command would fail the module)."""
    def run(argv):
        if not module.get_bin_path(argv[0]):
            raise OSError("%s is not on the PATH" % argv[0])
        return module.run_command(argv)
    return run


def _volume_definition(driver, options):
    return (driver or "local", dict((str(key), str(value)) for key, value in (options or {}).items()))


def _described(definition):
    driver, options = definition
    if not options:
        return "driver %s and no options" % driver
    return "driver %s with options %s" % (driver, ", ".join("%s=%s" % item for item in sorted(options.items())))


def volume_changes(run, volumes):
    """One sentence for each volume of ``volumes`` ([{name, driver, driver_options}], the named volumes
    the service defines) that exists with another driver or other driver options: docker never changes
    a volume once made, so its data would stay where it is whatever the definition says now."""
    if not volumes:
        return []
    # A volume that does not exist yet is left out of the output (and makes the rc 1).
    _rc, out, _err = run(["docker", "volume", "inspect", "--format", "{{json .}}"] + [v["name"] for v in volumes])
    made = {}
    for line in out.splitlines():
        try:
            info = json.loads(line)
        except ValueError:
            continue
        made[info.get("Name")] = _volume_definition(info.get("Driver"), info.get("Options"))
    changes = []
    for volume in volumes:
        wanted = _volume_definition(volume.get("driver"), volume.get("driver_options"))
        if volume["name"] in made and made[volume["name"]] != wanted:
            changes.append("volume %s was made with %s, and the service's definition now gives it %s" % (
                volume["name"], _described(made[volume["name"]]), _described(wanted)))
    return changes


def missing_files(paths, exists=os.path.exists):
    return [path for path in paths if not exists(path)]


def read_host(run, docker_root, unit, meminfo, nginx_test_command=("nginx", "-t"), service="", ports=None, proc="/proc",
              volumes=None):
    """Everything at once; ``run(argv) -> (rc, stdout, stderr)``. An empty ``docker_root`` is the
    engine's own data directory (a host may keep it on a disk of its own), else /var/lib/docker.
    ``ports`` ({colour: port}) of ``service``: who else holds them; ``volumes``: see volume_changes.
    The commands run side by side (each waits on docker, systemd or nginx, not on the others): the
    time of the slowest, not of them all."""
    asks = {"compose": lambda: compose_status(run), "engine": lambda: engine_status(run),
            "root": lambda: "" if docker_root else engine_root_dir(run), "nginx_state": lambda: unit_state(run, unit),
            "nginx_config": lambda: nginx_config_status(run, list(nginx_test_command)),
            "port_holders": lambda: foreign_port_holders(run, service, ports or {}, proc),
            "volume_changes": lambda: volume_changes(run, volumes)}
    with ThreadPoolExecutor(max_workers=len(asks)) as pool:
        pending = dict((name, pool.submit(ask)) for name, ask in asks.items())
        engine = pending["engine"].result()
        # What only a running engine can say (its data directory, its volumes) is dropped when it is down.
        answers = dict((name, future.result()) for name, future in pending.items() if engine["ok"] or name not in ("root", "volume_changes"))
    engine_root = answers.pop("root", "")
    root = docker_root or engine_root or DEFAULT_DOCKER_ROOT
    answers.setdefault("volume_changes", [])
    return dict(answers, memory_available_mb=memory_available_mb(meminfo), disk=disk_free_mb(root))
