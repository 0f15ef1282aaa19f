"""Start and stop simulated hosts: containers running systemd, their own Docker engine and nginx.

    scripts/simhosts.py up [--count N] [--group NAME] [--prefix P] [--base-port PORT] [--network NET]
                           [--bare [--release bookworm|trixie]]
    scripts/simhosts.py down [--prefix P]
    scripts/simhosts.py list

Each host publishes its HTTP entry port (nginx, port 80 inside) on 127.0.0.1 only, and its sshd
on a free 127.0.0.1 port (root logs in with build/ssh/id_ed25519, which make setup made), gets the
reference service images loaded into its own engine, and carries labels that the dynamic
inventories read (inventories/local reaches the hosts with docker exec, inventories/local-ssh over SSH). `down` removes the containers and
their docker volumes: nothing is left behind.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

HOST_IMAGE = "nextgen/host:bookworm"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Bare Debian hosts (systemd, sshd, Python; no Docker engine, no nginx) for host preparation, one
# image per release that make setup builds (images/bare/releases.txt, the first one by default).
BARE_IMAGE = "nextgen/bare:%s"
with open(os.path.join(ROOT, "images", "bare", "releases.txt")) as releases:
    BARE_RELEASES = releases.read().split()
SSH_KEY = os.path.join(ROOT, "build", "ssh", "id_ed25519")
LABEL = "nextgen.rollout.simhost"
RUN_FLAGS = [
    # --privileged fails on these VMs (no CAP_SYS_RESOURCE): grant everything else instead.
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
]


class SimhostError(Exception):
    pass


def docker(*args, stdin=None, check=True):
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SimhostError("docker %s failed (rc=%d): %s" % (
            " ".join(args[:3]), result.returncode, result.stderr.strip()))
    return result.stdout.strip()


def docker_succeeds(*args):
    return subprocess.run(["docker", *args], capture_output=True, check=False).returncode == 0


def existing(prefix):
    out = docker("ps", "-a", "--filter", "label=%s=%s" % (LABEL, prefix), "--format", "{{.Names}}")
    return sorted(filter(None, out.splitlines()))


def wait_until_ready(name, bare=False, deadline_s=120):
    deadline = time.monotonic() + deadline_s
    state = ""
    while time.monotonic() < deadline:
        state = docker("exec", name, "systemctl", "is-system-running", check=False)
        if state in ("running", "degraded") and (bare or docker_succeeds("exec", name, "docker", "info")):
            return
        time.sleep(1)
    raise SimhostError("%s did not come up within %ds (systemd state: %r); "
                       "see: docker exec %s systemctl --failed" % (name, deadline_s, state, name))


def load_images(name, images):
    if not images:
        return
    save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
    load = subprocess.run(["docker", "exec", "-i", name, "docker", "load", "-q"],
                          stdin=save.stdout, capture_output=True, text=True, check=False)
    save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise SimhostError("loading %s into %s failed: %s" % (" ".join(images), name, load.stderr.strip()))


def authorise_ssh_key(name):
    """Let the controller's key (make setup made it) log in as root over SSH."""
    if not os.path.exists(SSH_KEY + ".pub"):
        raise SimhostError("%s.pub is missing; run `make setup` first" % SSH_KEY)
    with open(SSH_KEY + ".pub") as handle:
        key = handle.read()
    done = subprocess.run(["docker", "exec", "-i", name, "sh", "-c",
                           "install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys"],
                          input=key, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SimhostError("authorising the ssh key on %s failed: %s" % (name, done.stderr.strip()))


def ssh_port(name):
    """The 127.0.0.1 port that leads to the host's sshd."""
    return int(docker("port", name, "22/tcp").split(":")[-1])


def local_app_images():
    out = docker("images", "agent-loop", "--format", "{{.Repository}}:{{.Tag}}")
    return sorted(line for line in out.splitlines() if not line.endswith(":<none>"))


def start_host(name, index, args, images):
    port = args.base_port + index
    docker("volume", "create", "--label", "%s=%s" % (LABEL, args.prefix), name + "-docker")
    docker("run", "-d", "--name", name, "--hostname", name, *RUN_FLAGS,
           "-v", name + "-docker:/var/lib/docker",
           "-p", "127.0.0.1:%d:80" % port,
           "-p", "127.0.0.1::22",
           *[flag for base, inner in args.publish for flag in ("-p", "127.0.0.1:%d:%d" % (base + index, inner))],
           "--label", "%s=%s" % (LABEL, args.prefix),
           "--label", "nextgen.rollout.http_port=%d" % port,
           "--label", "nextgen.rollout.group=%s" % args.group,
           *(["--network", args.network] if args.network else []),
           host_image(args))
    wait_until_ready(name, args.bare)
    authorise_ssh_key(name)
    load_images(name, images)
    return {"name": name, "http_port": port, "group": args.group, "ssh_port": ssh_port(name)}


def host_image(args):
    return BARE_IMAGE % args.release if args.bare else HOST_IMAGE


def up(args):
    image = host_image(args)
    if not docker_succeeds("image", "inspect", image):
        raise SimhostError("image %s is missing; run `make setup` first" % image)
    if args.network and not docker_succeeds("network", "inspect", args.network):
        raise SimhostError("docker network %s does not exist; create it with: docker network create %s"
                           % (args.network, args.network))
    present = existing(args.prefix)
    names = ["%s-%d" % (args.prefix, i) for i in range(1, args.count + 1)]
    todo = [(i, n) for i, n in enumerate(names, 1) if n not in present]
    images = [] if args.no_images or args.bare else (args.image or local_app_images())
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        started = list(pool.map(lambda item: start_host(item[1], item[0], args, images), todo))
    for host in started:
        print("started %(name)s (group %(group)s), nginx on 127.0.0.1:%(http_port)d, ssh on 127.0.0.1:%(ssh_port)d" % host)
    if len(todo) < len(names):
        print("already running: %s" % ", ".join(n for n in names if n in present))


def down(args):
    names = existing(args.prefix)
    if names:
        docker("rm", "-f", "-v", *names)
    volumes = docker("volume", "ls", "-q", "--filter", "label=%s=%s" % (LABEL, args.prefix)).split()
    if volumes:
        docker("volume", "rm", "-f", *volumes)
    print("removed %d host(s) and %d volume(s) with prefix %s" % (len(names), len(volumes), args.prefix))


def list_hosts(args):
    out = docker("ps", "-a", "--filter", "label=%s" % LABEL, "--format", "{{json .}}")
    for line in filter(None, out.splitlines()):
        row = json.loads(line)
        print("%-20s %-10s %s" % (row["Names"], row["State"], row["Ports"]))


def published_port(text):
    base, _sep, inner = text.partition(":")
    if not (base.isdigit() and inner.isdigit()):
        raise argparse.ArgumentTypeError("%r is not BASE:PORT, e.g. 19440:443" % text)
    return int(base), int(inner)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start simulated hosts")
    p_up.add_argument("--count", type=int, default=1)
    p_up.add_argument("--group", default="agents_ia", help="inventory group of these hosts")
    p_up.add_argument("--base-port", type=int, default=18080, help="host i publishes nginx on base+i")
    p_up.add_argument("--image", action="append", help="image to load (default: every agent-loop tag)")
    p_up.add_argument("--publish", action="append", default=[], type=published_port, metavar="BASE:PORT",
                      help="also publish the host's PORT on 127.0.0.1:BASE+i (e.g. 19440:443)")
    p_up.add_argument("--bare", action="store_true", help="bare Debian hosts: no Docker engine, no nginx, no image")
    p_up.add_argument("--release", choices=BARE_RELEASES, default=BARE_RELEASES[0],
                      help="Debian release of the bare hosts (images/bare/releases.txt)")
    p_up.add_argument("--no-images", action="store_true", help="load no image (the hosts pull from a registry)")
    p_up.add_argument("--network", help="docker network to join (it must exist); hosts reach each other by name")
    p_down = sub.add_parser("down", help="remove simulated hosts and their volumes")
    for p in (p_up, p_down):
        p.add_argument("--prefix", default="nr-host", help="host name prefix (also a label value)")
    sub.add_parser("list", help="list simulated hosts")
    args = parser.parse_args(argv)
    try:
        {"up": up, "down": down, "list": list_hosts}[args.command](args)
    except SimhostError as exc:
        sys.stderr.write("ERROR: %s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
