"""Run the collection's playbooks against simulated hosts, as an operator would."""
import contextlib
import datetime
import json
import os
import signal
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def simhosts(*args):
    subprocess.run(["python3", os.path.join(ROOT, "scripts", "simhosts.py")] + list(args), check=True,
                   capture_output=True, text=True)


@contextlib.contextmanager
def simulated_hosts(prefix, count, base_port, directory, first_version=None, extra_vars=None, images=(), publish=(),
                    connection="docker", network=None, no_images=False, bare=None):
    """Fresh simulated hosts <prefix>-1..N (nginx on 127.0.0.1:base_port+i) and their inventory,
    with ``first_version`` deployed blue-green when given; removed afterwards. ``images`` are loaded
    instead of the reference service's (none with ``no_images``); ``publish`` adds "BASE:PORT"
    published ports; ``network`` is a docker network they join; the inventory reaches the hosts with
    ``connection`` "docker" (docker exec), "ssh" (as root) or "ssh-sudo" (as the user deploy with a
    sudo password, root's key removed: the README's inventories/example); ``bare`` names the Debian
    release ("bookworm", "trixie") of hosts with no Docker engine and no nginx."""
    simhosts("down", "--prefix", prefix)
    simhosts("up", "--count", str(count), "--prefix", prefix, "--base-port", str(base_port),
             *[flag for image in images for flag in ("--image", image)],
             *[flag for pair in publish for flag in ("--publish", pair)],
             *(["--network", network] if network else []), *(["--no-images"] if no_images else []),
             *(["--bare", "--release", bare] if bare else []))
    try:
        names = ["%s-%d" % (prefix, i) for i in range(1, count + 1)]
        if connection == "ssh-sudo":
            for name in names:
                add_sudo_user(name)
        path = write_inventory(os.path.join(str(directory), "hosts.json"), names, connection)
        if first_version:
            must(run_playbook("blue-green-deploy.yml", path, dict(extra_vars or {}, target_version=first_version)))
        yield path
    finally:
        simhosts("down", "--prefix", prefix)


def must(result):
    """The result of a playbook that has to succeed; its output tail otherwise."""
    assert result.rc == 0, result.output[-3000:]
    return result


SSH_KEY = os.path.join(ROOT, "build", "ssh", "id_ed25519")
SUDO_USER, SUDO_PASSWORD = "deploy", "Sud0-for-deploy"
# What inventories/example/group_vars/all.yml sets for every host: a user with sudo.
SUDO_VARS = {"ansible_user": SUDO_USER, "ansible_become": True, "ansible_become_password": SUDO_PASSWORD}


def add_sudo_user(host):
    """The user deploy, who logs in with the controller's key and becomes root with sudo and a
    password; root can no longer log in over SSH."""
    script = ("useradd -m -s /bin/bash {user} && echo '{user}:{password}' | chpasswd"
              " && install -d -m 700 -o {user} -g {user} /home/{user}/.ssh"
              " && install -m 600 -o {user} -g {user} /root/.ssh/authorized_keys /home/{user}/.ssh/authorized_keys"
              " && echo '{user} ALL=(ALL) ALL' > /etc/sudoers.d/{user} && rm /root/.ssh/authorized_keys"
              ).format(user=SUDO_USER, password=SUDO_PASSWORD)
    subprocess.run(["docker", "exec", host, "sh", "-c", script], capture_output=True, text=True, check=True)


def connection_vars(host, connection):
    if connection == "docker":
        return {"ansible_connection": "docker", "ansible_python_interpreter": "/usr/bin/python3"}
    port = subprocess.run(["docker", "port", host, "22/tcp"], capture_output=True, text=True, check=True).stdout
    return {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": int(port.split(":")[-1]),
            **({} if connection == "ssh-sudo" else {"ansible_user": "root"}), "ansible_ssh_private_key_file": SSH_KEY,
            # Simulated hosts get new host keys with every start: checking them is for real inventories.
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            "ansible_host_key_checking": False,  # what Mitogen's ssh (ansible.cfg's strategy) reads
            "ansible_python_interpreter": "/usr/bin/python3"}


# Waves settings that release every host of a run together.
ALL_AT_ONCE = {"rollout_pilot_count": 0, "rollout_wave_percents": [100]}


def write_inventory(path, hosts, connection="docker"):
    """The hosts, in the group the playbooks target (rollout_targets). The guard after a switch is off
    (its tests turn it on with -e): 3 minutes of it after every deploy would not fit the suite. Every
    host deploys at once (one wave, no pilot): the fleet tests set their waves themselves."""
    inventory = {"all": {"hosts": dict((name, connection_vars(name, connection)) for name in hosts),
                         "vars": dict(ALL_AT_ONCE, rollout_guard_window=0, **(SUDO_VARS if connection == "ssh-sudo" else {})),
                         "children": {"rollout_targets": {"hosts": dict((name, {}) for name in hosts)},
                                      "rollout_pilot": {"hosts": {}}}}}
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    return path


class Result(object):
    def __init__(self, proc, seconds):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.seconds = seconds


def run_playbook(name, inventory, extra_vars=None, check=False, var_files=(), limit=None):
    cmd, env = playbook_command(name, inventory, extra_vars, var_files)
    if check:
        cmd += ["--check", "--diff"]
    if limit:
        cmd += ["--limit", limit]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    return Result(proc, time.monotonic() - started)


def host_exec(host, *cmd):
    return subprocess.run(["docker", "exec", host] + list(cmd), capture_output=True, text=True, check=False)


def ledger_time(iso_text):
    """Seconds since the epoch of a time the ledger wrote (UTC, ISO 8601, with or without Z)."""
    moment = datetime.datetime.fromisoformat(iso_text.rstrip("Z"))
    return moment.replace(tzinfo=datetime.timezone.utc).timestamp()


def ledger(host, service="agent-loop"):
    out = host_exec(host, "cat", "/var/lib/nextgen-rollout/%s/ledger.json" % service)
    return json.loads(out.stdout) if out.returncode == 0 else None


def playbook_command(name, inventory, extra_vars=None, var_files=()):
    """The command line of playbooks/<name> (or of the playbook at an absolute path), with the
    variable files given as -e @file, as an operator would, then ``extra_vars``."""
    cmd = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), os.path.join(ROOT, "playbooks", name),
           "-i", inventory]
    for path in var_files:
        cmd += ["-e", "@" + os.path.join(ROOT, path)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PYTHONUNBUFFERED="1", PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"])
    return cmd, env


def descendants(pid):
    """The pids of every process below ``pid`` (read from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_run(proc, host):
    """The run dies as with SIGKILL and a lost connection: ansible-playbook and its workers on the
    controller, and the module processes on the host: a bare python3 (a pipelined module) or
    Mitogen's python3(mitogen:...) that runs the tasks of ansible.cfg's strategy."""
    # Mitogen's connection multiplexer runs in a session of its own: killpg does not reach it.
    helpers = descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in helpers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    host_exec(host, "pkill", "-9", "-f", r"^/usr/bin/python3($|\(mitogen:)")


class BackgroundRun(object):
    """A playbook running in its own session while the test watches its output."""

    def __init__(self, name, inventory, extra_vars=None):
        cmd, env = playbook_command(name, inventory, extra_vars)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     cwd=ROOT, start_new_session=True)
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stdout.readline, "")),
                                       daemon=True)
        self.reader.start()

    def output(self):
        return "".join(self.lines)

    def running(self):
        return self.proc.poll() is None

    def kill(self, host):
        if self.running():
            kill_run(self.proc, host)
        self.reader.join(5)


def wait_until(condition, timeout_s, what, interval=0.5):
    """Poll ``condition`` until it returns something true (returned), or fail saying ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not within %.0f s" % (what, timeout_s))
        time.sleep(interval)


def run_playbook_until(name, inventory, extra_vars, trigger, host, timeout_s=300):
    """Run a playbook and SIGKILL it the moment ``trigger(output so far)`` is true. Returns
    (output, killed)."""
    run = BackgroundRun(name, inventory, extra_vars)
    try:
        wait_until(lambda: not run.running() or trigger(run.output()), timeout_s, "%s ends or reaches its kill point" % name,
                   interval=0.05)
        killed = run.running()
    finally:
        run.kill(host)
    return run.output(), killed
