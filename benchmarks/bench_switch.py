"""make bench-switch: ways to update a service under the same live load, side by side.

1. naive      the tag edited in the compose file, then ``docker compose up -d`` in place
              (what people do without a tool), on simulated host nr-bench-1;
2. reload     three plain ``nginx -s reload`` on nr-bench-2: what a switch by reload costs
              keep-alive clients (the collection switched this way before route files);
3. blue-green ``playbooks/blue-green-deploy.yml -e target_version=1.1.0`` on nr-bench-2,
4. rollback   ``playbooks/rollback.yml`` right after it, a warm switch back to 1.0.0, then two more
   warm rollbacks (to 1.1.0 and back to 1.0.0, ``-e target_version``), and the deploy again;
5. the same no-op and deploy with ANSIBLE_STRATEGY=linear (the builtin strategy, one new Python
   process per task) beside ansible.cfg's nextgen.rollout.mitogen_linear (Mitogen), and the rollback
   through Mitogen (rollback.yml runs with nextgen.rollout.linear, no Mitogen, unless rollout_rollback_strategy
   says otherwise);
then the deploy and the warm rollback on nr-bench-ssh-1, reached over SSH instead of docker exec.

Each way runs under three loads through nginx on 127.0.0.1, started before and stopped after
it: the project's GET load (keep-alive, retries a GET once when the server closed an idle
connection, counted as ``retried``), ``wrk`` (keep-alive, never retries: a socket error or a
non-2xx answer is a failure) and a ``POST /run-agent`` load that never retries.

``noop_playbook_s`` is the wall time of ansible-playbook running one module on the same host and
connection (benchmarks/noop.yml), the faster of the two strategies: the floor of any Ansible-driven
action, which ``rollback_vs_noop`` and ``deploy_vs_noop`` divide by. Each ratio compares best with
best, as the floor is the fastest of six no-ops: the deploy is the faster of the two deploys through
Mitogen, the warm rollback the fastest of the three; ``first_deploy_wall_s`` and
``rollback_walls_s`` keep every one, for the noise.
``cutover_s`` is the time from the switch (when nginx's route moved, recorded in the ledger as
``switched_at``) to the last answer from the old version, read from nginx's access log.
The last line printed is one JSON object with the figures.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from support.load import Load  # noqa: E402  (path set just above)
from support.playbook import host_exec, ledger, run_playbook, simulated_hosts  # noqa: E402

PREFIX, BASE_PORT = "nr-bench", 18960
SSH_PREFIX, SSH_BASE_PORT = "nr-bench-ssh", 18970
NAIVE, OURS, OURS_SSH = PREFIX + "-1", PREFIX + "-2", SSH_PREFIX + "-1"
RATE, POST_RATE = 150, 40
WRK_CONNECTIONS, WRK_DELAY_MS = 8, 25
OLD, NEW = "1.0.0", "1.1.0"
COMPOSE_FILE = "/opt/nextgen-rollout/agent-loop/blue.compose.yml"
ACCESS_LOG = "/var/log/nginx/agent-loop.access.json"
NOOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "noop.yml")
MITOGEN = "nextgen.rollout.mitogen_linear"


def url(index, base_port=BASE_PORT, path="/"):
    return "http://127.0.0.1:%d%s" % (base_port + index, path)


class Wrk(object):
    """wrk against 127.0.0.1 (keep-alive, no retry), throttled by a per-connection delay, until stop()."""

    def __init__(self, target, directory):
        if not target.startswith("http://127.0.0.1:"):
            raise ValueError("load goes to loopback only")
        script = os.path.join(directory, "delay.lua")
        with open(script, "w") as handle:
            handle.write("function delay()\n  return %d\nend\n" % WRK_DELAY_MS)
        self.proc = subprocess.Popen(["wrk", "-t1", "-c%d" % WRK_CONNECTIONS, "-d300s", "--timeout", "5s", "-s", script,
                                      target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        out = self.proc.communicate(timeout=30)[0]
        requests = re.search(r"(\d+) requests in", out)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if not requests:
            raise SystemExit("wrk printed no summary:\n" + out)
        socket_errors = sum(int(n) for n in errors.groups()) if errors else 0
        return {"requests": int(requests.group(1)), "socket_errors": socket_errors,
                "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
                "failed": socket_errors + (int(non_2xx.group(1)) if non_2xx else 0)}


def under_load(index, actions, directory, settle_s=2.0, base_port=BASE_PORT):
    """Run each action() in turn with the three loads flowing before, during and settle_s after.
    Returns ([wall_s of each action], {get, wrk, post summaries})."""
    get = Load(url(index, base_port), rate_per_s=RATE, max_requests=60000, max_seconds=400, workers=8).start()
    post = Load(url(index, base_port, "/run-agent"), rate_per_s=POST_RATE, max_requests=20000, max_seconds=400,
                workers=4, method="POST", body='{"task": "bench"}', retry=False).start()
    wrk = Wrk(url(index, base_port), directory)
    walls = []
    try:
        time.sleep(settle_s)
        for action in actions:
            started = time.monotonic()
            action()
            walls.append(time.monotonic() - started)
            time.sleep(settle_s)
    finally:
        loads = {"get": get.stop(), "post": post.stop(), "wrk": wrk.stop()}
    return walls, loads


def access_log(host):
    records = []
    for line in host_exec(host, "cat", ACCESS_LOG).stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        records.append((float(record["msec"]), record.get("version") or ""))
    return records


def cutover(records, switched_at, old_version, until=None):
    """Seconds from the switch to the last answer nginx logged from the old version (0 if none)."""
    stale = [t for t, version in records
             if t >= switched_at and (until is None or t < until) and version == old_version]
    return round(max(stale) - switched_at, 3) if stale else 0.0


def naive_update():
    script = ("sed -i 's/agent-loop:%s/agent-loop:%s/' %s && docker compose --project-name agent-loop-blue "
              "--file %s up -d --wait" % (OLD, NEW, COMPOSE_FILE, COMPOSE_FILE))
    done = host_exec(NAIVE, "sh", "-c", script)
    if done.returncode != 0:
        raise SystemExit("naive update failed: %s" % done.stderr[-2000:])


def nginx_reloads():
    for _reload in range(3):
        if host_exec(OURS, "nginx", "-s", "reload").returncode != 0:
            raise SystemExit("nginx -s reload failed on %s" % OURS)
        time.sleep(1)


def checked(result, what):
    if result.rc != 0:
        raise SystemExit("%s failed (rc=%d):\n%s" % (what, result.rc, result.output[-3000:]))
    return result


def playbook(name, inventory, extra, what):
    return lambda: checked(run_playbook(name, inventory, extra), what)


def with_strategy(strategy, action):
    """action() run with ANSIBLE_STRATEGY=strategy (ansible-playbook inherits the environment)."""
    def run():
        with mock.patch.dict(os.environ, {"ANSIBLE_STRATEGY": strategy}):
            return action()
    return run


def noop_seconds(inventory, extra):
    """Best of three: the floor, not the noise."""
    walls = []
    for _run in range(3):
        started = time.monotonic()
        checked(run_playbook(NOOP, inventory, extra), "no-op playbook")
        walls.append(time.monotonic() - started)
    return min(walls)


def main():
    print("==> starting simulated hosts %s (naive) and %s (nextgen.rollout), first release %s on both"
          % (NAIVE, OURS, OLD), flush=True)
    with tempfile.TemporaryDirectory() as tmp, simulated_hosts(PREFIX, 2, BASE_PORT, tmp, OLD) as inventory:
        ours_only = {"rollout_hosts": OURS}
        print("==> naive in-place update under load", flush=True)
        (naive_wall,), naive = under_load(1, [naive_update], tmp)
        print("==> three plain nginx reloads under load (a switch by reload)", flush=True)
        _walls, reload = under_load(2, [nginx_reloads], tmp)
        print("==> no-op playbook on %s, idle" % OURS, flush=True)
        noop_idle = noop_seconds(inventory, ours_only)
        print("==> no-op playbook, blue-green deploy, warm rollback, deploy again, under the same load", flush=True)
        # The floor is measured under the same load as the actions it is compared with.
        walls, ours = under_load(2, [playbook(NOOP, inventory, ours_only, "no-op playbook")] * 3 + [
            playbook("blue-green-deploy.yml", inventory, dict(ours_only, target_version=NEW), "blue-green deploy"),
            playbook("rollback.yml", inventory, ours_only, "rollback"),
            playbook("rollback.yml", inventory, dict(ours_only, target_version=NEW), "warm rollback to %s" % NEW),
            playbook("rollback.yml", inventory, dict(ours_only, target_version=OLD), "warm rollback to %s" % OLD),
            playbook("blue-green-deploy.yml", inventory, dict(ours_only, target_version=NEW), "deploy again"),
        ] + [with_strategy("linear", action) for action in [playbook(NOOP, inventory, ours_only, "no-op playbook")] * 3 + [
            # rollback.yml sets its own strategy (rollout_rollback_strategy, nextgen.rollout.linear by default), not the environment.
            playbook("rollback.yml", inventory, dict(ours_only, rollout_rollback_strategy=MITOGEN), "rollback, Mitogen"),
            playbook("blue-green-deploy.yml", inventory, dict(ours_only, target_version=NEW), "deploy, builtin linear strategy"),
        ]], tmp)
        mitogen_noop, first_deploy_wall, rollback_walls, redeploy_wall = min(walls[:3]), walls[3], walls[4:7], walls[7]
        linear_noop, (mitogen_rollback_wall, linear_deploy_wall) = min(walls[8:11]), walls[11:]
        noop = min(mitogen_noop, linear_noop)
        deploy_wall, rollback_wall = min(first_deploy_wall, redeploy_wall), min(rollback_walls)
        ours_walls = walls[3:8] + walls[11:]
        # Every switch of this run: deploy, three warm rollbacks, deploy, rollback (Mitogen), deploy (linear).
        switches = [entry for entry in ledger(OURS)["history"] if (entry.get("details") or {}).get("switched_at")][-7:]
        records = access_log(OURS)
    print("==> starting simulated host %s, reached over SSH, first release %s" % (OURS_SSH, OLD), flush=True)
    with tempfile.TemporaryDirectory() as tmp, simulated_hosts(SSH_PREFIX, 1, SSH_BASE_PORT, tmp, OLD,
                                                               connection="ssh") as inventory:
        ssh_noop_idle = noop_seconds(inventory, {})
        print("==> no-op playbook, blue-green deploy and warm rollback under load, over SSH", flush=True)
        ssh_noop_run = playbook(NOOP, inventory, {}, "no-op playbook over ssh")
        walls, ssh = under_load(1, [ssh_noop_run] * 3 + [with_strategy("linear", ssh_noop_run)] * 3 + [
            playbook("blue-green-deploy.yml", inventory, {"target_version": NEW}, "blue-green deploy over ssh"),
            playbook("rollback.yml", inventory, {}, "rollback over ssh")], tmp, base_port=SSH_BASE_PORT)
        ssh_noop, (ssh_deploy_wall, ssh_rollback_wall) = min(walls[:6]), walls[6:]

    times = [float(entry["details"]["switched_at"]) for entry in switches]
    cutovers = [cutover(records, at, old, until)
                for at, old, until in zip(times, [OLD, NEW] * 3 + [OLD], times[1:] + [None])]
    figures = {
        "requests": ours["get"]["requests"] + ssh["get"]["requests"],
        "failed": ours["get"]["failed"] + ssh["get"]["failed"],
        "retried": ours["get"]["retried"],
        "wrk_requests": ours["wrk"]["requests"],
        "wrk_failed": ours["wrk"]["failed"],
        "post_requests": ours["post"]["requests"],
        "post_failed": ours["post"]["failed"],
        "ssh_wrk_failed": ssh["wrk"]["failed"],
        "ssh_post_failed": ssh["post"]["failed"],
        "baseline_requests": naive["get"]["requests"],
        "baseline_failed": naive["get"]["failed"],
        "baseline_wrk_failed": naive["wrk"]["failed"],
        "baseline_post_failed": naive["post"]["failed"],
        "baseline_wall_s": round(naive_wall, 2),
        "reload_wrk_requests": reload["wrk"]["requests"],
        "reload_wrk_failed": reload["wrk"]["failed"],
        "reload_post_failed": reload["post"]["failed"],
        "reload_retried": reload["get"]["retried"],
        "noop_playbook_s": round(noop, 2),
        "ssh_noop_playbook_s": round(ssh_noop, 2),
        "noop_idle_playbook_s": round(noop_idle, 2),
        "ssh_noop_idle_playbook_s": round(ssh_noop_idle, 2),
        "deploy_wall_s": round(deploy_wall, 2),
        "first_deploy_wall_s": round(first_deploy_wall, 2),
        "rollback_wall_s": round(rollback_wall, 2),
        "rollback_walls_s": [round(wall, 2) for wall in rollback_walls],
        "redeploy_wall_s": round(redeploy_wall, 2),
        "rollback_vs_noop": round(rollback_wall / noop, 2),
        "deploy_vs_noop": round(deploy_wall / noop, 2),
        "mitogen_noop_playbook_s": round(mitogen_noop, 2),
        "linear_noop_playbook_s": round(linear_noop, 2),
        "linear_deploy_wall_s": round(linear_deploy_wall, 2),
        "mitogen_rollback_wall_s": round(mitogen_rollback_wall, 2),
        "linear_deploy_vs_noop": round(linear_deploy_wall / noop, 2),
        "mitogen_rollback_vs_noop": round(mitogen_rollback_wall / noop, 2),
        "linear_to_mitogen_deploy_ratio": round(linear_deploy_wall / deploy_wall, 2),
        "ssh_deploy_wall_s": round(ssh_deploy_wall, 2),
        "ssh_rollback_wall_s": round(ssh_rollback_wall, 2),
        "ssh_rollback_vs_noop": round(ssh_rollback_wall / ssh_noop, 2),
        "ssh_deploy_vs_noop": round(ssh_deploy_wall / ssh_noop, 2),
        "ssh_to_docker_exec_deploy_ratio": round(ssh_deploy_wall / deploy_wall, 2),
        "ssh_to_docker_exec_rollback_ratio": round(ssh_rollback_wall / rollback_wall, 2),
        "cutover_s": max(cutovers) if cutovers else None,
        "cutovers_s": cutovers,
        "rate_per_s": RATE,
    }
    print("")
    row = "%-36s %8s %9s %7s %8s %9s %9s %10s %10s"
    print(row % ("way to update (same loads)", "wall s", "GET", "failed", "retried", "wrk", "wrk fail",
                 "POST fail", "cutover s"))
    print(row % ("naive: compose up -d in place", "%.2f" % naive_wall, naive["get"]["requests"], naive["get"]["failed"],
                 naive["get"]["retried"], naive["wrk"]["requests"], naive["wrk"]["failed"], naive["post"]["failed"], "-"))
    print(row % ("3 x nginx -s reload (old switch)", "-", reload["get"]["requests"], reload["get"]["failed"],
                 reload["get"]["retried"], reload["wrk"]["requests"], reload["wrk"]["failed"], reload["post"]["failed"],
                 "-"))
    print(row % ("ours: 3 deploys, 4 warm rollbacks", "%.2f" % sum(ours_walls),
                 ours["get"]["requests"], ours["get"]["failed"], ours["get"]["retried"], ours["wrk"]["requests"],
                 ours["wrk"]["failed"], ours["post"]["failed"], "%.3f" % figures["cutover_s"]))
    print(row % ("deploy + rollback over SSH (ours)", "%.2f" % (ssh_deploy_wall + ssh_rollback_wall),
                 ssh["get"]["requests"], ssh["get"]["failed"], ssh["get"]["retried"], ssh["wrk"]["requests"],
                 ssh["wrk"]["failed"], ssh["post"]["failed"], "-"))
    print("")
    print("%-36s %10s %10s %10s" % ("wall time (ratios: against the floor)", "noop s", "deploy s", "rollback s")
          + "   (noop under the same load; idle: %.2f s, %.2f s over ssh)" % (noop_idle, ssh_noop_idle))
    print("docker exec: deploy x%.2f (Mitogen, the faster of two), rollback x%.2f (linear, rollback.yml's default, the fastest"
          " of %s s), against the floor %.2f s (the fastest no-op)" % (
              figures["deploy_vs_noop"], figures["rollback_vs_noop"], ", ".join("%.2f" % wall for wall in rollback_walls), noop))
    print("%-36s %10.2f %10.2f %10.2f   deploy x%.2f, rollback x%.2f" % (
        "docker exec, Mitogen", mitogen_noop, deploy_wall, mitogen_rollback_wall, figures["deploy_vs_noop"],
        figures["mitogen_rollback_vs_noop"]))
    print("%-36s %10.2f %10.2f %10.2f   deploy x%.2f, rollback x%.2f" % (
        "docker exec, builtin linear strategy", linear_noop, linear_deploy_wall, rollback_wall,
        figures["linear_deploy_vs_noop"], figures["rollback_vs_noop"]))
    print("%-36s %10.2f %10.2f %10.2f   deploy x%.2f, rollback x%.2f" % (
        "ssh", ssh_noop, ssh_deploy_wall, ssh_rollback_wall, figures["ssh_deploy_vs_noop"],
        figures["ssh_rollback_vs_noop"]))
    goals = [("wrk_failed = 0", figures["wrk_failed"] == 0), ("post_failed = 0", figures["post_failed"] == 0),
             ("failed = 0", figures["failed"] == 0), ("wrk requests >= 10000", figures["wrk_requests"] >= 10000),
             ("rollback_vs_noop <= 2", figures["rollback_vs_noop"] <= 2),
             ("deploy_vs_noop <= 4", figures["deploy_vs_noop"] <= 4),
             ("cutover <= 0.2 s", figures["cutover_s"] is not None and figures["cutover_s"] <= 0.2)]
    print("goals: " + ", ".join("%s %s" % (name, "met" if ok else "MISSED") for name, ok in goals))
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
