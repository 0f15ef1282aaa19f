"""make bench-canary: what the canary costs and what it saves, measured on one simulated host.

1. split     the canary held at 10, 25 and 50 %; 5,000 requests with distinct client keys each;
             split_error_pp is the worst distance between the realised and the asked share.
2. abort     a candidate answering 5 % of requests with 5xx, under load: abort_s (share set to
             share 0) and exposed_failed (failed requests users saw).
   baseline  the same faulty version put live by a plain blue-green switch for the same time,
             then rolled back: baseline_exposed_failed, what users see without the canary.
3. latency   a candidate 300 ms slower: latency_abort_s.
4. healthy   BENCH_CANARY_RUNS (default 20) healthy canaries: false_aborts out of runs.

All load goes to 127.0.0.1 and is bounded. The last line printed is one JSON object.
"""
import json
import os
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from support.load import Load, versions_by_key  # noqa: E402  (path set just above)
from support.playbook import ledger, ledger_time, run_playbook, simulated_hosts  # noqa: E402

PREFIX, BASE_PORT = "nr-bench-cn", 18980
HOST = PREFIX + "-1"
URL = "http://127.0.0.1:%d/" % (BASE_PORT + 1)
RATE = 150
RUNS = int(os.environ.get("BENCH_CANARY_RUNS", "20"))
KEYS = ["client-%d" % i for i in range(5000)]


def profile(**overrides):
    with open(os.path.join(ROOT, "tests", "e2e", "files", "canary-fast.yml")) as handle:
        extra = yaml.safe_load(handle)
    extra.update(rollout_strategy="canary", blue_green_smoke_samples=10)
    extra.update(overrides)
    return extra


def checked(result, what):
    if result.rc != 0:
        raise SystemExit("%s failed (rc=%d):\n%s" % (what, result.rc, result.output[-3000:]))
    return result


def other_version():
    return "1.2.0" if ledger(HOST)["live"]["version"] != "1.2.0" else "1.1.0"


def under_load(action):
    load = Load(URL, rate_per_s=RATE, max_requests=40000, max_seconds=240, key_header="X-Client-Id").start()
    try:
        outcome = action()
    finally:
        load.stop()
    return outcome, load


def last(action):
    return [e for e in ledger(HOST)["history"] if e["action"] == action][-1]


def measure_split(inventory):
    steps = [{"share": s, "pause": 0, "hold": True} for s in (10, 25, 50)] + [{"share": 100, "pause": 0}]
    target, worst, rows = other_version(), 0.0, []
    for index, share in enumerate((10, 25, 50)):
        extra = profile(target_version=target, canary_steps=steps) if index == 0 else {
            "rollout_strategy": "canary", "canary_action": "resume"}
        checked(run_playbook("blue-green-deploy.yml", inventory, extra), "canary step %s %%" % share)
        answers = versions_by_key(URL, KEYS)
        realised = 100.0 * sum(1 for v in answers.values() if v == target) / len(KEYS)
        worst = max(worst, abs(realised - share))
        rows.append((share, realised))
    checked(run_playbook("blue-green-deploy.yml", inventory, {"rollout_strategy": "canary", "canary_action": "resume"}),
            "promotion")
    return worst, rows


def measure_abort(inventory, fault):
    target = other_version()
    result, load = under_load(lambda: run_playbook("blue-green-deploy.yml", inventory, profile(
        target_version=target, blue_green_env=fault)))
    if result.rc == 0:
        raise SystemExit("the faulty candidate %s was promoted:\n%s" % (fault, result.output[-3000:]))
    step, end = last("canary-step"), last("canary")
    started, zero = float(step["details"]["started_at"]), float(end["details"]["share_zero_at"])
    return round(zero - started, 3), load.summary()["failed"], step


def measure_baseline(inventory, seconds):
    """A plain blue-green switch to the faulty version: failures users see in the first ``seconds``
    after the switch, the time the canary took to abort."""
    target = other_version()

    def action():
        checked(run_playbook("blue-green-deploy.yml", inventory, {
            "target_version": target, "blue_green_env": {"FAULT_ERROR_RATE": "0.05"}, "blue_green_smoke_samples": 10}),
            "baseline deploy")
        switched = ledger_time(last("deploy")["details"]["switch_started"])
        time.sleep(max(0.0, switched + seconds - time.time()))
        checked(run_playbook("rollback.yml", inventory, {}), "baseline rollback")
        return switched

    switched, load = under_load(action)
    return sum(1 for r in load.snapshot() if switched <= r[0] <= switched + seconds and (r[1] is None or r[1] >= 500))


def main():
    print("==> starting simulated host %s, first release 1.0.0" % HOST, flush=True)
    with tempfile.TemporaryDirectory() as tmp, simulated_hosts(PREFIX, 1, BASE_PORT, tmp, "1.0.0") as inventory:
        print("==> split at 10 / 25 / 50 %", flush=True)
        split_error, split_rows = measure_split(inventory)
        print("==> abort of a candidate with 5 % errors", flush=True)
        abort_s, exposed, abort_step = measure_abort(inventory, {"FAULT_ERROR_RATE": "0.05"})
        print("==> baseline: the same version switched live blue-green for %.1f s" % abort_s, flush=True)
        baseline_exposed = measure_baseline(inventory, abort_s)
        print("==> abort of a candidate 300 ms slower", flush=True)
        latency_abort_s, latency_failed, _latency_step = measure_abort(inventory, {"FAULT_LATENCY_MS": "300"})
        print("==> %d healthy canaries" % RUNS, flush=True)
        false_aborts, healthy_failed, healthy_s = 0, 0, []
        for _run in range(RUNS):
            target = other_version()
            result, load = under_load(lambda: run_playbook("blue-green-deploy.yml", inventory, profile(
                target_version=target, canary_steps=[{"share": 10, "pause": 6}, {"share": 50, "pause": 6},
                                                     {"share": 100, "pause": 0}])))
            false_aborts += int(result.rc != 0)
            healthy_failed += load.summary()["failed"]
            healthy_s.append(result.seconds)

    figures = {
        "split_error_pp": round(split_error, 3),
        "abort_s": abort_s,
        "exposed_failed": exposed,
        "baseline_exposed_failed": baseline_exposed,
        "exposure_ratio": round(exposed / float(baseline_exposed), 3) if baseline_exposed else None,
        "latency_abort_s": latency_abort_s,
        "latency_exposed_failed": latency_failed,
        "false_aborts": false_aborts,
        "runs": RUNS,
        "healthy_failed": healthy_failed,
        "healthy_canary_wall_s": round(sum(healthy_s) / len(healthy_s), 1),
        "abort_reasons": abort_step["reasons"],
    }
    print("")
    print("%-46s %12s" % ("split at share (5,000 distinct clients)", "realised %"))
    for share, realised in split_rows:
        print("%-46s %12.2f" % ("%d %%" % share, realised))
    print("")
    print("%-46s %10s %10s" % ("bad version (5 % errors), same load", "exposed s", "failed"))
    print("%-46s %10.2f %10d" % ("canary 10 % with analysis, auto-abort", abort_s, exposed))
    print("%-46s %10.2f %10d" % ("plain blue-green switch, same time live", abort_s, baseline_exposed))
    print("")
    print("latency +300 ms candidate aborted after %.2f s (%d failed)" % (latency_abort_s, latency_failed))
    print("healthy candidates: %d false aborts in %d runs, %d failed requests, %.1f s per canary"
          % (false_aborts, RUNS, healthy_failed, figures["healthy_canary_wall_s"]))
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
