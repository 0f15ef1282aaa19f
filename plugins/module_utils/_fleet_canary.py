# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""One canary across the hosts of a wave, judged on their counts together.

Each host reports, once per interval, what its nginx served since its last report (requests, 5xx
and upstream times of the candidate and of the stable version) and its candidate's health. The
controller merges the hosts' reports of each interval into one sample per interval - the fleet's
error rates and p95 - and puts that series through the same rules as a one-host canary (_decision),
so a bad candidate shows with fewer requests per host, and a verdict of rollback is known, for
every host at once, at the end of the interval where it fired. Each host's own figures are kept
for the report."""

from __future__ import annotations

import json
import time

from ansible_collections.nextgen.rollout.plugins.module_utils._analysis import (
    POOLS, AccessLogReader, PoolStats, window_intervals, window_sample, with_traffic_notes)
from ansible_collections.nextgen.rollout.plugins.module_utils._decision import decide
from ansible_collections.nextgen.rollout.plugins.module_utils._files import atomic_write_text
from ansible_collections.nextgen.rollout.plugins.module_utils._ledger import read_json
from ansible_collections.nextgen.rollout.plugins.module_utils._stats import mann_whitney_greater, two_proportion_greater

# At most this many upstream times per pool and report (uniformly thinned beyond it).
MAX_LATENCIES = 20000


def host_report(records, served, since):
    """What one host served since its last report: ``records`` are parsed access-log lines
    (moment, "colour/version", status, seconds); ``served`` maps each pool to its "colour/version"."""
    pool_of = dict((label, pool) for pool, label in served.items())
    pools = dict((pool, {"requests": 0, "errors": 0, "latencies": []}) for pool in POOLS)
    for moment, label, status, seconds in records:
        pool = pool_of.get(label)
        if pool is None or moment < since:
            continue
        pools[pool]["requests"] += 1
        pools[pool]["errors"] += int(status >= 500)
        if seconds is not None:
            pools[pool]["latencies"].append(round(seconds, 4))
    for stats in pools.values():
        if len(stats["latencies"]) > MAX_LATENCIES:
            step = len(stats["latencies"]) / float(MAX_LATENCIES)
            stats["latencies"] = [stats["latencies"][int(i * step)] for i in range(MAX_LATENCIES)]
    return pools


def _stats(reports):
    merged = dict((pool, PoolStats()) for pool in POOLS)
    for report in reports:
        for pool in POOLS:
            stats = (report or {}).get(pool) or {}
            merged[pool].merge(stats.get("requests"), stats.get("errors"), stats.get("latencies"))
    return merged


def left_hosts(intervals, wave_hosts, max_left_percent=0):
    """The hosts of ``wave_hosts`` (those that began the canary) missing from the latest interval's
    reports (their release failed: the candidate never got ready, a report failed), and the reason
    they stop the wave's canary when they are more than ``max_left_percent`` % of it (the share of a
    wave's hosts that may fail: the wave fails beyond it, so the others would be taken back anyway)."""
    wave = sorted(set(wave_hosts or ()))
    latest = set(intervals[-1]) if intervals else set()
    left = [host for host in wave if host not in latest]
    percent = round(100.0 * len(left) / len(wave), 1) if wave else 0.0
    if not left or percent <= float(max_left_percent):
        return left, None
    reason = ("%s left the canary (%d of %d hosts, %g %%, above the %g %% of a wave that may fail): the wave cannot pass, "
              "every host goes back" % (", ".join(left), len(left), len(wave), percent, float(max_left_percent)))
    return left, reason


def fleet_verdict(intervals, interval, planned, policy=None, latency_factor=1.5, min_bucket_requests=10,
                  judge=False, alpha=0.01, max_extensions=0, rate_window=0, wave_hosts=None, max_left_percent=0):
    """The verdict after the intervals reported so far. ``intervals`` is a list, oldest first, of
    {host: {"pools": host_report(...), "health_failures": n}}; ``planned`` intervals make the step.
    Each interval's sample covers the intervals that ended within ``rate_window`` seconds (_analysis).

    ``decision`` is rollback (as soon as a rule fires on the fleet's figures, or when more of
    ``wave_hosts`` than ``max_left_percent`` % left the canary: left_hosts), continue (the step
    goes on), promote, or hold (inconclusive at the step's end, after ``max_extensions`` extensions
    of ``planned`` intervals each); ``done`` says whether the step ended."""
    rows = []
    buckets = [_stats([(r or {}).get("pools") for r in reports.values()]) for reports in intervals]
    for index, reports in enumerate(intervals):
        sample = window_sample(buckets, index, interval, rate_window, float(latency_factor), int(min_bucket_requests))
        failures = [int((r or {}).get("health_failures") or 0) for r in reports.values()]
        if failures:
            sample["health_failures"] = max(failures)
        rows.append(sample)
    hosts = sorted(set(host for reports in intervals for host in reports))
    window = _stats([r.get("pools") for reports in intervals for r in reports.values() if r])
    judgement = None
    if judge:
        candidate, stable = window["candidate"], window["stable"]
        judgement = {"alpha": float(alpha),
                     "latency": mann_whitney_greater(candidate.latencies, stable.latencies)["p"],
                     "errors": two_proportion_greater(candidate.errors, candidate.requests, stable.errors, stable.requests)["p"]}
    verdict = with_traffic_notes(decide(rows, policy, judgement), window, policy)
    left, left_reason = left_hosts(intervals, wave_hosts, max_left_percent)
    if left_reason:
        verdict = dict(verdict, decision="rollback", reasons=[left_reason] + list(verdict["reasons"]))
    completed = len(intervals)
    extensions = max(0, -(-(completed - int(planned)) // int(planned))) if completed > int(planned) else 0
    step_end = completed >= int(planned) and completed % int(planned) == 0
    if verdict["decision"] == "rollback":
        decision, done = "rollback", True
    elif step_end and (verdict["decision"] != "hold" or extensions >= int(max_extensions)):
        decision, done = verdict["decision"], True
    else:
        decision, done = "continue", False
    per_host = dict((host, dict((pool, stats.figures()) for pool, stats in
                                _stats([reports.get(host, {}).get("pools") for reports in intervals]).items()))
                    for host in hosts)
    return {"decision": decision, "done": done, "verdict_so_far": verdict["decision"], "reasons": verdict["reasons"],
            "rules": verdict["rules"], "elapsed_s": round(completed * float(interval), 3), "intervals": completed, "extensions": extensions, "hosts": hosts,
            "left": left,
            "rate_window_s": window_intervals(interval, rate_window) * float(interval),
            "figures": dict((pool, window[pool].figures()) for pool in POOLS), "per_host": per_host,
            "judge": judgement, "series": rows}


def take_report(access_log, state_file, served, since, until, clock=None, sleep=None, health=None):
    """On a host: wait until ``until``, then report what nginx served since the last report (the
    reader's place in the log is kept in ``state_file``, so each line counts once), and the
    candidate's consecutive health failures (``health()`` -> bool, or None for no probe)."""
    clock, sleep = clock or time.time, sleep or time.sleep
    wait = float(until) - clock()
    if wait > 0:
        sleep(wait)
    state = read_json(state_file) or {}
    reader = AccessLogReader(access_log)
    if state.get("access_log") == access_log:
        reader.offset, reader.inode, reader.partial = state.get("offset"), state.get("inode"), state.get("partial", "")
    pools = host_report(reader.read_new(), served, float(since))
    failures = int(state.get("health_failures") or 0)
    if health is not None:
        failures = 0 if health() else failures + 1
    atomic_write_text(state_file, json.dumps({"access_log": access_log, "offset": reader.offset, "inode": reader.inode,
                                              "partial": reader.partial, "health_failures": failures}), 0o600)
    return {"pools": pools, "health_failures": failures if health is not None else None, "read_at": round(clock(), 3)}
