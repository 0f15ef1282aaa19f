"""make bench-guard: how fast a version that goes bad after its release is caught and undone, by the
guard (on the host, during its window) and by the event-driven path (Prometheus, Alertmanager and
ansible-rulebook running rollback.yml, after the window), side by side on one simulated host.

Each round deploys a version that answers 30 % of requests with 500 from 25 s after its start
(1.2.0 for the guard, 1.1.0 for the event-driven path, which leaves it warm: a new version each
time starts a new container), under 50 requests/s through nginx, and waits until 1.0.0 serves again. Both paths use the same rule:
error rate above 1 % for 5 s (the guard samples every 2 s; Prometheus scrapes and evaluates every
second over a 10 s rate window).

    detect_s    first bad answer the load saw -> the rule firing (guard: the ledger's fired_at;
                event-driven: Prometheus showing the alert firing, polled every 0.25 s)
    recover_s   the rule firing -> traffic back on 1.0.0 (the route's move, from the ledger)
    total_s     first bad answer -> traffic back
    bad         failed answers the load saw

BENCH_GUARD_RUNS rounds of each (default 3), alternating. All load goes to 127.0.0.1 and is
bounded. The last line printed is one JSON object.
"""
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from support.alerting import Stack  # noqa: E402  (path set just above)
from support.load import Load  # noqa: E402
from support.playbook import ledger, run_playbook, simulated_hosts, wait_until  # noqa: E402

PREFIX, BASE_PORT, NODE_EXPORTER_BASE = "nr-bench-gd", 19800, 19850
PORTS = {"prometheus": 19890, "alertmanager": 19891, "rulebook": 19892}
HOST = PREFIX + "-1"
URL = "http://127.0.0.1:%d/" % (BASE_PORT + 1)
RUNS = int(os.environ.get("BENCH_GUARD_RUNS", "3"))
FAULTS = {"rollout_env": {"FAULT_ERROR_RATE": "0.3", "FAULT_START_AFTER_S": "25"}}
GUARD = {"rollout_guard_window": 120, "rollout_guard_interval": 2,
         "rollout_guard_policy": {"rules": {"error_rate": {"for": "5s"}}}}


def bad_release(path, inventory, stack):
    """One bad release caught by ``path``: (first bad answer, rule fired, traffic back, bad answers)."""
    load = Load(URL, rate_per_s=50, max_requests=30000, max_seconds=400, workers=4).start()
    try:
        if path == "guard":
            result = run_playbook("blue-green-deploy.yml", inventory, dict(FAULTS, target_version="1.2.0", **GUARD))
            if result.rc == 0 or "the guard switched every client back" not in result.output:
                raise SystemExit("the guard did not switch back:\n" + result.output[-3000:])
            record = ledger(HOST)["history"][-1]["details"]["guard"]
            fired, back = record["fired_at"], record["switched_back_at"]
        else:
            result = run_playbook("blue-green-deploy.yml", inventory, dict(FAULTS, target_version="1.1.0"))
            if result.rc != 0:
                raise SystemExit("the deploy of the bad version failed:\n" + result.output[-3000:])
            alert = stack.wait_for_rollback("1.0.0")
            if alert is None:
                raise SystemExit("no alert was seen firing before the rollback")
            rollback = [e for e in ledger(HOST)["history"] if e["action"] == "rollback"][-1]
            fired, back = alert["seen_at"], float(rollback["details"]["switched_at"])
        time.sleep(1)
    finally:
        load.stop()
    failed = [r for r in load.snapshot() if r[1] is None or r[1] >= 500]
    if not failed:
        raise SystemExit("the load saw no bad answer: the fault did not start while 1.2.0 was live")
    return failed[0][0], fired, back, len(failed)


def main():
    rows = {"guard": [], "event": []}
    with tempfile.TemporaryDirectory() as tmp, \
            simulated_hosts(PREFIX, 1, BASE_PORT, tmp, "1.0.0", publish=("%d:9100" % NODE_EXPORTER_BASE,)) as inventory:
        stack = Stack(tmp, HOST, inventory, PORTS)
        try:
            stack.start(BASE_PORT + 1, NODE_EXPORTER_BASE + 1)
            checked = run_playbook("alert-rules.yml", inventory, stack.rules_playbook_vars())
            if checked.rc != 0:
                raise SystemExit("alert-rules.yml failed:\n" + checked.output[-3000:])
            wait_until(stack.rules_loaded, 30, "the release rules in Prometheus")
            for _round in range(RUNS):
                for path in ("guard", "event"):
                    if path == "event":
                        stack.restart_rulebook()  # its throttle would take the same version's alert as the same incident
                    first_bad, fired, back, bad = bad_release(path, inventory, stack)
                    rows[path].append({"detect_s": fired - first_bad, "recover_s": back - fired,
                                       "total_s": back - first_bad, "bad": bad})
                    print("  %-6s detect %5.1f s  recover %5.2f s  total %5.1f s  bad answers %d" % (
                        path, fired - first_bad, back - fired, back - first_bad, bad), flush=True)
        finally:
            stack.stop()
    figures = {"runs": RUNS}
    print("")
    print("%-28s %12s %12s" % ("median of %d runs" % RUNS, "guard", "event-driven"))
    for key, label in (("detect_s", "first bad -> rule firing (s)"), ("recover_s", "firing -> traffic back (s)"),
                       ("total_s", "first bad -> traffic back (s)"), ("bad", "bad answers seen")):
        guard = statistics.median(r[key] for r in rows["guard"])
        event = statistics.median(r[key] for r in rows["event"])
        figures["guard_" + key], figures["event_" + key] = round(guard, 2), round(event, 2)
        print("%-28s %12.2f %12.2f" % (label, guard, event))
    figures["total_ratio_event_vs_guard"] = round(figures["event_total_s"] / max(figures["guard_total_s"], 0.001), 2)
    print("%-28s %25.2f" % ("event-driven / guard, total", figures["total_ratio_event_vs_guard"]))
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
