"""make bench-switch: three ways to update a service under the same live load, side by side.

1. naive      the tag edited in the compose file, then ``docker compose up -d`` in place
              (what people do without a tool), on simulated host nr-bench-1;
2. blue-green ``playbooks/blue-green-deploy.yml -e target_version=1.1.0`` on nr-bench-2;
3. rollback   ``playbooks/rollback.yml`` right after it, a warm switch back to 1.0.0;
then 2 and 3 again on nr-bench-ssh-1, reached over SSH instead of docker exec, so that the two
connections compare side by side in one run.

Each way gets its own load of the same rate through nginx on 127.0.0.1. cutover_s is the time
from the start of the switch task (recorded in the release ledger) to the last answer from the
old version. The last line printed is one JSON object with the figures.
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from support.load import Load  # noqa: E402  (path set just above)
from support.playbook import host_exec, ledger, ledger_time, run_playbook, simulated_hosts  # noqa: E402

PREFIX, BASE_PORT = "nr-bench", 18960
SSH_PREFIX, SSH_BASE_PORT = "nr-bench-ssh", 18970
NAIVE, OURS, OURS_SSH = PREFIX + "-1", PREFIX + "-2", SSH_PREFIX + "-1"
RATE = 150
OLD, NEW = "1.0.0", "1.1.0"
COMPOSE_FILE = "/opt/nextgen-rollout/agent-loop/blue.compose.yml"


def url(index, base_port=BASE_PORT):
    return "http://127.0.0.1:%d/" % (base_port + index)


def cutover(records, switch_started, new_version):
    """Seconds from the switch start to the last answer from any other version (0 if none)."""
    after = [r for r in records if r[0] >= switch_started and r[2]]
    stale = [r[0] for r in after if r[2] != new_version]
    return round(max(stale) - switch_started, 3) if stale else 0.0


def outage(records):
    failed = [r[0] for r in records if r[1] is None or r[1] >= 500]
    return round(max(failed) - min(failed), 3) if failed else 0.0


def under_load(index, action, settle_s=2.0, base_port=BASE_PORT):
    """Run action() with RATE requests/s flowing before, during and settle_s after it."""
    load = Load(url(index, base_port), rate_per_s=RATE, max_requests=40000, max_seconds=240, workers=8).start()
    try:
        time.sleep(settle_s)
        started = time.monotonic()
        outcome = action()
        wall = time.monotonic() - started
        time.sleep(settle_s)
    finally:
        summary = load.stop()
    return wall, outcome, summary, load.snapshot()


def naive_update():
    script = ("sed -i 's/agent-loop:%s/agent-loop:%s/' %s && docker compose --project-name agent-loop-blue "
              "--file %s up -d --wait" % (OLD, NEW, COMPOSE_FILE, COMPOSE_FILE))
    done = host_exec(NAIVE, "sh", "-c", script)
    if done.returncode != 0:
        raise SystemExit("naive update failed: %s" % done.stderr[-2000:])


def checked(result, what):
    if result.rc != 0:
        raise SystemExit("%s failed (rc=%d):\n%s" % (what, result.rc, result.output[-3000:]))
    return result


def main():
    print("==> starting simulated hosts %s (naive) and %s (nextgen.rollout), first release %s on both"
          % (NAIVE, OURS, OLD), flush=True)
    with tempfile.TemporaryDirectory() as tmp, simulated_hosts(PREFIX, 2, BASE_PORT, tmp, OLD) as inventory:
        ours_only = {"rollout_hosts": OURS}
        print("==> naive in-place update under load", flush=True)
        naive_wall, _outcome, naive, naive_records = under_load(1, naive_update)
        print("==> blue-green deploy under load", flush=True)
        deploy_wall, _outcome, deploy, deploy_records = under_load(2, lambda: checked(run_playbook(
            "blue-green-deploy.yml", inventory, dict(ours_only, target_version=NEW)), "blue-green deploy"))
        deployed = ledger(OURS)["history"][-1]
        print("==> warm rollback under load", flush=True)
        rollback_wall, _outcome, rollback, rollback_records = under_load(2, lambda: checked(run_playbook(
            "rollback.yml", inventory, ours_only), "rollback"))
        rolled_back = ledger(OURS)["history"][-1]
    print("==> starting simulated host %s, reached over SSH, first release %s" % (OURS_SSH, OLD), flush=True)
    with tempfile.TemporaryDirectory() as tmp, simulated_hosts(SSH_PREFIX, 1, SSH_BASE_PORT, tmp, OLD,
                                                               connection="ssh") as inventory:
        print("==> blue-green deploy and warm rollback under load, over SSH", flush=True)
        ssh_deploy_wall, _outcome, ssh_deploy, _records = under_load(1, lambda: checked(run_playbook(
            "blue-green-deploy.yml", inventory, {"target_version": NEW}), "blue-green deploy over ssh"),
            base_port=SSH_BASE_PORT)
        ssh_rollback_wall, _outcome, ssh_rollback, _records = under_load(1, lambda: checked(run_playbook(
            "rollback.yml", inventory, {}), "rollback over ssh"), base_port=SSH_BASE_PORT)

    deploy_cutover = cutover(deploy_records, ledger_time(deployed["details"]["switch_started"]), NEW)
    rollback_cutover = cutover(rollback_records, ledger_time(rolled_back["details"]["switch_started"]), OLD)
    figures = {
        "requests": deploy["requests"] + rollback["requests"] + ssh_deploy["requests"] + ssh_rollback["requests"],
        "failed": deploy["failed"] + rollback["failed"] + ssh_deploy["failed"] + ssh_rollback["failed"],
        "retried": deploy["retried"] + rollback["retried"],
        "baseline_requests": naive["requests"],
        "baseline_failed": naive["failed"],
        "baseline_wall_s": round(naive_wall, 2),
        "baseline_outage_s": outage(naive_records),
        "deploy_wall_s": round(deploy_wall, 2),
        "rollback_wall_s": round(rollback_wall, 2),
        "ssh_deploy_wall_s": round(ssh_deploy_wall, 2),
        "ssh_rollback_wall_s": round(ssh_rollback_wall, 2),
        "ssh_to_docker_exec_deploy_ratio": round(ssh_deploy_wall / deploy_wall, 2),
        "ssh_to_docker_exec_rollback_ratio": round(ssh_rollback_wall / rollback_wall, 2),
        "cutover_s": max(deploy_cutover, rollback_cutover),
        "deploy_cutover_s": deploy_cutover,
        "rollback_cutover_s": rollback_cutover,
        "rate_per_s": RATE,
    }
    print("")
    print("%-34s %8s %9s %7s %8s %10s" % ("way to update (same load)", "wall s", "requests", "failed", "retried",
                                          "cutover s"))
    print("%-34s %8.2f %9d %7d %8d %10s" % ("naive: compose up -d in place", naive_wall, naive["requests"],
                                            naive["failed"], naive["retried"], "-"))
    print("%-34s %8.2f %9d %7d %8d %10.3f" % ("nextgen.rollout blue-green deploy", deploy_wall, deploy["requests"],
                                              deploy["failed"], deploy["retried"], deploy_cutover))
    print("%-34s %8.2f %9d %7d %8d %10.3f" % ("nextgen.rollout warm rollback", rollback_wall, rollback["requests"],
                                              rollback["failed"], rollback["retried"], rollback_cutover))
    for name, wall, summary in (("blue-green deploy over SSH", ssh_deploy_wall, ssh_deploy),
                                ("warm rollback over SSH", ssh_rollback_wall, ssh_rollback)):
        print("%-34s %8.2f %9d %7d %8d %10s" % (name, wall, summary["requests"], summary["failed"],
                                                summary["retried"], "-"))
    print("over SSH / over docker exec: deploy x%.2f, warm rollback x%.2f"
          % (figures["ssh_to_docker_exec_deploy_ratio"], figures["ssh_to_docker_exec_rollback_ratio"]))
    goals = [("failed = 0", figures["failed"] == 0), ("warm rollback <= 10 s", rollback_wall <= 10),
             ("cutover <= 1 s", figures["cutover_s"] <= 1)]
    print("goals: " + ", ".join("%s %s" % (name, "met" if ok else "MISSED") for name, ok in goals))
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
