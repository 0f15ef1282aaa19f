"""make bench-fleet: a fleet of simulated hosts (BENCH_FLEET_HOSTS, default 10), each under its own
load through its nginx, side by side in one run:

    one-host deploy      blue-green-deploy.yml --limit <first host>, 1.0.0 -> 1.1.0
    one-host rollback    rollback.yml --limit <first host>: back to the warm 1.0.0
    fleet canary         a bad candidate (1.1.0 answering 20 % of requests with 500) in one canary
                         across every host (rollout_canary_scope fleet, one wave): judged on the
                         fleet's counts, taken back to share 0 everywhere at once
    fleet deploy         every host to 1.2.0 in waves (a pilot, then 20 / 50 / 30 %)
    fleet rollback       rollback.yml on every host at once: back to the warm 1.0.0
    no-op, one host      benchmarks/noop.yml (one module) on the first host, then on every host: the
    no-op, fleet         floor of any Ansible-driven action, and what the fan-out alone costs here
                         (the simulated hosts share the machine's cores with the controller); through
                         Mitogen (ansible.cfg), then with nextgen.rollout.linear (rollback.yml's, no Mitogen)

    fleet_abort_s   the canary's first step start (earliest host) -> share 0 on every host (latest
                    host), from the ledgers; goal: one analysis step (10 s here) + 5 s. The bad
                    candidate fails every 5th request on every host, so at these rates the hosts' errors
                    come in lumps every 2.5 s; each sample covers two 2 s intervals (canary_rate_window
                    4), or an interval between two lumps resets the rule's 4 s
    fleet_rollback_vs_one_host_plus_fanout
                    the fleet rollback against one host's rollback plus what the fan-out adds to a
                    no-op playbook here (fleet no-op - one-host no-op, both linear, as rollback.yml)
    failed          failed requests outside the bad candidate's canary (goal 0); the canary's own
                    bad answers are counted apart (canary_bad_answers)

All load goes to 127.0.0.1 and is bounded in count and time. The last line printed is one JSON object.
"""
import json
import os
import re
import sys
import tempfile
import time
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from support.load import Load  # noqa: E402  (path set just above)
from support.playbook import ledger, run_playbook, simulated_hosts  # noqa: E402

PREFIX, BASE_PORT = "nr-bench-fl", 19700
NOOP = os.path.join(ROOT, "benchmarks", "noop.yml")
COUNT = int(os.environ.get("BENCH_FLEET_HOSTS", "10"))
HOSTS = ["%s-%d" % (PREFIX, i) for i in range(1, COUNT + 1)]
RATE_PER_HOST = int(os.environ.get("BENCH_FLEET_RATE", "20"))
COMMON = {"blue_green_backup_before_change": False, "blue_green_smoke_samples": 3}
WAVES = {"rollout_pilot_count": 1, "rollout_wave_percents": [20, 50, 30]}
CANARY = {"rollout_strategy": "canary", "rollout_canary_scope": "fleet", "rollout_pilot_count": 0,
          "rollout_wave_percents": [100], "rollout_env": {"FAULT_ERROR_RATE": "0.2"},
          "canary_steps": [{"share": 10, "pause": 10}, {"share": 50, "pause": 10}, {"share": 100, "pause": 0}],
          "canary_interval": 2, "canary_rate_window": 4, "canary_hash_key": "$http_x_client_id",
          "canary_policy": {"min_requests": 20, "rules": {"error_rate": {"for": "4s"}}}}


def under_load(label, playbook, inventory, extra, expect_rc=0, limit=None):
    """Run one playbook with every host under load; (wall seconds, load summaries)."""
    loads = [Load("http://127.0.0.1:%d/" % (BASE_PORT + i + 1), rate_per_s=RATE_PER_HOST, max_requests=20000,
                  max_seconds=900, workers=2, key_header="X-Client-Id").start() for i in range(COUNT)]
    try:
        time.sleep(1)
        extra = dict(COMMON, **extra)
        if limit:
            extra["rollout_hosts"] = limit
        result = run_playbook(playbook, inventory, extra)
    finally:
        summaries = [load.stop() for load in loads]
    if (result.rc == 0) != (expect_rc == 0):
        raise SystemExit("%s: %s ended with rc=%d:\n%s" % (label, playbook, result.rc, result.output[-3000:]))
    return result, summaries


def live_versions():
    return [ledger(host)["live"]["version"] for host in HOSTS]


def main():
    rows, figures = [], {"hosts": COUNT, "requests": 0, "failed": 0}

    def row(name, result, summaries, counted=True):
        requests, failed = sum(s["requests"] for s in summaries), sum(s["failed"] for s in summaries)
        figures["requests"] += requests
        if counted:
            figures["failed"] += failed
        rows.append((name, "%.1f" % result.seconds, requests, failed, ",".join(sorted(set(live_versions())))))
        return result.seconds

    with tempfile.TemporaryDirectory() as directory, \
            simulated_hosts(PREFIX, COUNT, BASE_PORT, directory, first_version="1.0.0", extra_vars=COMMON) as inventory:
        figures["one_host_deploy_s"] = row("one-host deploy", *under_load(
            "one-host deploy", "blue-green-deploy.yml", inventory, {"target_version": "1.1.0"}, limit=HOSTS[0]))
        figures["one_host_rollback_s"] = row("one-host rollback", *under_load(
            "one-host rollback", "rollback.yml", inventory, {"target_version": "1.0.0"}, limit=HOSTS[0]))
        result, summaries = under_load("fleet canary", "blue-green-deploy.yml", inventory,
                                       dict(CANARY, target_version="1.1.0"), expect_rc=1)
        row("fleet canary (bad candidate)", result, summaries, counted=False)
        figures["canary_bad_answers"] = sum(s["failed"] for s in summaries)
        steps = [[e for e in ledger(h)["history"] if e["action"] == "canary-step"][-1] for h in HOSTS]
        ends = [[e for e in ledger(h)["history"] if e["action"] == "canary"][-1] for h in HOSTS]
        if any(e["result"] != "aborted" for e in ends) or set(live_versions()) != {"1.0.0"}:
            raise SystemExit("the bad candidate was not aborted everywhere: %s" % [e["result"] for e in ends])
        figures["fleet_abort_s"] = round(max(float(e["details"]["share_zero_at"]) for e in ends)
                                         - min(float(s["details"]["started_at"]) for s in steps), 2)
        figures["canary_candidate_requests"] = steps[0]["details"]["figures"]["candidate"]["requests"]
        figures["canary_step_share"] = steps[0]["share"]
        result, summaries = under_load("fleet deploy", "blue-green-deploy.yml", inventory,
                                       dict(WAVES, target_version="1.2.0"))
        figures["fleet_deploy_s"] = row("fleet deploy in waves", result, summaries)
        planned = re.search(r"(\d+) wave\(s\): ", " ".join(result.output.split()))
        figures["waves"] = int(planned.group(1)) if planned else None
        figures["fleet_rollback_s"] = row("fleet rollback", *under_load(
            "fleet rollback", "rollback.yml", inventory, {"target_version": "1.0.0"}))
        if set(live_versions()) != {"1.0.0"}:
            raise SystemExit("the fleet rollback left %s" % live_versions())
        figures["one_host_noop_s"] = row("no-op, one host", *under_load("no-op", NOOP, inventory, {}, limit=HOSTS[0]))
        figures["fleet_noop_s"] = row("no-op, fleet", *under_load("no-op", NOOP, inventory, {}))
        # rollback.yml runs with nextgen.rollout.linear: its fan-out is that of a no-op with it.
        with mock.patch.dict(os.environ, {"ANSIBLE_STRATEGY": "nextgen.rollout.linear"}):
            figures["one_host_linear_noop_s"] = row("no-op, one host, linear", *under_load(
                "no-op", NOOP, inventory, {}, limit=HOSTS[0]))
            figures["fleet_linear_noop_s"] = row("no-op, fleet, linear", *under_load("no-op", NOOP, inventory, {}))
    figures["fleet_deploy_vs_one_host"] = round(figures["fleet_deploy_s"] / figures["one_host_deploy_s"], 2)
    figures["fleet_rollback_vs_one_host"] = round(figures["fleet_rollback_s"] / figures["one_host_rollback_s"], 2)
    figures["fleet_noop_vs_one_host"] = round(figures["fleet_noop_s"] / figures["one_host_noop_s"], 2)
    figures["fleet_linear_noop_vs_one_host"] = round(figures["fleet_linear_noop_s"] / figures["one_host_linear_noop_s"], 2)
    # "As fast as one host plus the controller's fan-out": one host's rollback plus what the fan-out
    # alone adds to a one-module playbook on this machine, with the rollback's strategy (linear).
    figures["one_host_plus_fanout_s"] = round(
        figures["one_host_rollback_s"] + figures["fleet_linear_noop_s"] - figures["one_host_linear_noop_s"], 2)
    figures["fleet_rollback_vs_one_host_plus_fanout"] = round(
        figures["fleet_rollback_s"] / figures["one_host_plus_fanout_s"], 2)
    print("\n%-30s %8s %9s %7s  %s" % ("run", "wall s", "requests", "failed", "live after"))
    for name, seconds, requests, failed, versions in rows:
        print("%-30s %8s %9d %7d  %s" % (name, seconds, requests, failed, versions))
    print("\nfleet abort %.1f s (goal <= 15); fleet rollback %.2f x one host (goal <= 1.5; a linear no-op playbook: %.2f x),"
          " %.2f x one host plus the fan-out (%.1f s); failed outside the canary %d (goal 0)"
          % (figures["fleet_abort_s"], figures["fleet_rollback_vs_one_host"], figures["fleet_linear_noop_vs_one_host"],
             figures["fleet_rollback_vs_one_host_plus_fanout"], figures["one_host_plus_fanout_s"], figures["failed"]))
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
