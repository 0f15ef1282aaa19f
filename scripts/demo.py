"""make demo: a real blue-green deploy and rollback under live load on a simulated host.

Starts the simulated host of inventories/local (nr-host-1, nginx on 127.0.0.1:18081), deploys
1.0.0, then under continuous load deploys 1.1.0, rolls back, runs a canary of 1.2.0 (analysed at
10 % and 50 %, then promoted) and rolls back again, then kills a deploy (SIGKILL) in the middle of
its switch and shows that the plain re-run finishes it, and prints what was served and the
reconciled status.
A previous nr-host-1 is replaced by a fresh one; the host stays up afterwards (make hosts-down
removes it).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from support.load import Load  # noqa: E402  (path set just above)
from support.playbook import ROOT, run_playbook, run_playbook_until, simhosts  # noqa: E402

INVENTORY = os.path.join(ROOT, "inventories", "local")
URL = "http://127.0.0.1:18081/"
# A short guard after each switch (the default watches 3 minutes): the seeds' error rule over 4 s.
GUARD = {"rollout_guard_window": 10, "rollout_guard_interval": 2,
         "rollout_guard_policy": {"rules": {"error_rate": {"for": "4s"}}}}
# A short canary: clients are told apart by the X-Client-Id header the load sends.
CANARY = dict(GUARD, **{
    "target_version": "1.2.0", "rollout_strategy": "canary", "canary_hash_key": "$http_x_client_id",
    "canary_interval": 2, "canary_steps": [{"share": 10, "pause": 10}, {"share": 50, "pause": 10},
                                           {"share": 100, "pause": 0}],
    # Merged over the canary's own policy: only the windows shrink, to 4 s.
    "canary_policy": {"min_requests": 20, "rules": {
        "error_rate": {"for": "4s"}, "error_rate_vs_baseline": {"for": "4s"}, "p95_vs_baseline": {"for": "4s"}}},
})


def step(title, playbook, extra):
    print("==> %s" % title, flush=True)
    result = run_playbook(playbook, INVENTORY, extra)
    tail = [line for line in result.output.splitlines() if "message:" in line or "msg:" in line]
    for line in tail[-2:]:
        print("    " + line.strip())
    print("    %s in %.1f s" % ("ok" if result.rc == 0 else "FAILED (rc=%d)" % result.rc, result.seconds), flush=True)
    if result.rc != 0:
        print(result.output[-3000:])
        sys.exit(1)
    return result.seconds


def main():
    print("==> starting a fresh simulated host nr-host-1 (nginx on %s)" % URL, flush=True)
    simhosts("down")
    simhosts("up", "--count", "1")
    rows = [("deploy 1.0.0 (first release, nothing to guard)",
             step("deploy 1.0.0", "blue-green-deploy.yml", {"target_version": "1.0.0"}))]
    load = Load(URL, rate_per_s=100, max_requests=50000, max_seconds=300, workers=8, key_header="X-Client-Id").start()
    print("==> live load started: 100 requests/s through nginx, each request from its own client id", flush=True)
    try:
        rows.append(("deploy 1.1.0 under load, guarded 10 s",
                     step("deploy 1.1.0 (guarded 10 s)", "blue-green-deploy.yml", dict(GUARD, target_version="1.1.0"))))
        rows.append(("rollback (warm switch to 1.0.0)", step("rollback", "rollback.yml", {})))
        rows.append(("canary 1.2.0: 10 % then 50 %, analysed, promoted",
                     step("canary 1.2.0 (10 % -> 50 % -> 100 %, 10 s per step)", "blue-green-deploy.yml", CANARY)))
        rows.append(("rollback (warm switch to 1.0.0)", step("rollback", "rollback.yml", {})))
        print("==> deploy 1.1.0, SIGKILLed as soon as nginx starts switching", flush=True)
        _output, killed = run_playbook_until(
            "blue-green-deploy.yml", INVENTORY, dict(GUARD, target_version="1.1.0"),
            lambda output: "TASK [Point nginx at colour" in output, "nr-host-1")
        print("    killed: %s" % ("yes" if killed else "no (the run ended first)"), flush=True)
        rows.append(("re-run of the killed deploy (reconciles, finishes)",
                     step("re-run the deploy of 1.1.0", "blue-green-deploy.yml", dict(GUARD, target_version="1.1.0"))))
    finally:
        summary = load.stop()
    print("")
    print("%-52s %10s" % ("step", "seconds"))
    for title, seconds in rows:
        print("%-52s %10.1f" % (title, seconds))
    print("")
    print("requests served under load : %d (%.0f/s over %.0f s)" % (summary["requests"], summary["rate_per_s"], summary["seconds"]))
    print("failed requests            : %d" % summary["failed"])
    print("keep-alive retries         : %d" % summary["retried"])
    print("versions seen              : %s" % ", ".join(summary["versions"]))
    status = run_playbook("status.yml", INVENTORY, {})
    lines = [line.strip() for line in status.output.splitlines() if line.strip().startswith(("live:", "consistent:"))]
    print("status (playbooks/status.yml): %s" % "; ".join(lines[:2]))
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
