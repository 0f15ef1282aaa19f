# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Canary analysis: candidate against stable over one step of a canary.

Every ``interval`` seconds from the start of the step, the analysis reads the new lines of nginx's
JSON access log (the colour/version that served, which nginx knows from the upstream that answered;
status; upstream response time), probes the
candidate's health, reads its memory, optionally asks Prometheus, and turns the interval that
just ended into one sample per metric. The samples go through the rule engine of _decision, so
the verdict at each evaluation is the one Prometheus alerts with the same rules would give. The
step ends early on rollback; otherwise at its end with promote or hold.

A sample's log figures are rates over the interval that just ended, or, with ``rate_window``, over
the intervals that ended within that many seconds (rounded up to whole intervals), as a Prometheus
rule's ``rate(...[window])`` overlaps its evaluations: one interval without an error, in low or
bursty traffic, then does not reset a rule's ``for``.

Metrics of a sample (None when the sample's window had fewer than ``min_bucket_requests`` candidate
requests: a rule then goes on with the last value within the policy's lookback, as Prometheus does):
    requests             candidate requests in the interval (not the window)
    error_rate           candidate 5xx share;  baseline_error_rate: the same for stable
    p95_s                candidate p95 upstream time;  baseline_p95_s: the same for stable
    error_rate_excess    error_rate - baseline_error_rate
    p95_excess_s         p95_s - latency_factor * baseline_p95_s
    health_failures      consecutive failed health probes of the candidate at that evaluation
    memory_pct           candidate resident memory in % of memory_limit_mb
    prom_error_rate, prom_p95_s   the candidate's figures according to Prometheus
"""

from __future__ import annotations

import json
import math
import os
import re
import string
import time

from ansible.module_utils.six.moves.urllib.parse import urlencode

from ansible_collections.nextgen.rollout.plugins.module_utils._decision import PolicyError, decide, effective_policy
from ansible_collections.nextgen.rollout.plugins.module_utils._files import (
    PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, atomic_write_text, ensure_directory, remove_if_present)
from ansible_collections.nextgen.rollout.plugins.module_utils._probe import answering, healthy_answer
from ansible_collections.nextgen.rollout.plugins.module_utils._stats import (
    latency_summary, mann_whitney_greater, percentile, two_proportion_greater)

POOLS = ("candidate", "stable")
# At most this much of an existing log is read back when the analysis starts.
MAX_BACKLOG_BYTES = 64 * 1024 * 1024
RSS = re.compile(r"^process_resident_memory_bytes(?:\{[^}]*\})?\s+([0-9.eE+]+)\s*$", re.M)


def parse_line(line):
    """One access-log record as (epoch seconds, "colour/version" that served it, status, upstream
    seconds or None), or None."""
    try:
        record = json.loads(line)
        moment = float(record["msec"])
        status = int(record["status"])
    except (ValueError, KeyError, TypeError):
        return None
    served = "%s/%s" % (record.get("colour") or "", record.get("version") or "")
    timing = (record.get("upstream_response_time") or "").split(",")[-1].strip()
    try:
        seconds = float(timing)
    except ValueError:
        seconds = None
    return moment, served, status, seconds


class AccessLogReader(object):
    """Reads the lines appended to a log since the last call; starts over if it was rotated."""

    def __init__(self, path):
        self.path = path
        self.offset = None
        self.inode = None
        self.partial = ""

    def read_new(self):
        try:
            handle = open(self.path)
        except FileNotFoundError:
            return []
        with handle:
            info = os.fstat(handle.fileno())
            if self.offset is None:
                self.offset = max(0, info.st_size - MAX_BACKLOG_BYTES)
            if info.st_ino != self.inode or info.st_size < self.offset:
                if self.inode is not None:
                    self.offset = 0
                self.inode = info.st_ino
            handle.seek(self.offset)
            text = self.partial + handle.read()
            self.offset = handle.tell()
        lines = text.split("\n")
        self.partial = lines.pop()
        return [r for r in (parse_line(line) for line in lines if line) if r is not None]


class PoolStats(object):
    def __init__(self):
        self.requests = 0
        self.errors = 0
        self.latencies = []

    def merge(self, requests, errors, latencies):
        self.requests += int(requests or 0)
        self.errors += int(errors or 0)
        self.latencies.extend(latencies or [])
        return self

    def add(self, status, seconds):
        self.requests += 1
        self.errors += int(status >= 500)
        if seconds is not None:
            self.latencies.append(seconds)

    def figures(self):
        latency = latency_summary([v * 1000.0 for v in self.latencies])
        return {"requests": self.requests, "errors_5xx": self.errors,
                "error_rate": round(self.errors / float(self.requests), 5) if self.requests else None,
                "latency_ms": latency,
                "summary": "%d requests, %d 5xx%s, p95 %s" % (
                    self.requests, self.errors,
                    " (%g %%)" % round(100.0 * self.errors / self.requests, 2) if self.requests else "",
                    "-" if latency["p95"] is None else "%s ms" % latency["p95"])}


def window_intervals(interval, rate_window):
    """How many intervals a sample covers: ``rate_window`` seconds rounded up to whole intervals, 1 at least."""
    return max(1, int(math.ceil(float(rate_window or 0) / float(interval) - 1e-9)))


def window_start(index, interval, rate_window):
    """The first interval whose counts the sample of interval ``index`` (from 0) covers: those that
    ended within the last ``rate_window`` seconds, rounded up to whole intervals; 0 means this one only."""
    return max(0, index - window_intervals(interval, rate_window) + 1)


def window_sample(buckets, index, interval, rate_window, latency_factor, min_bucket_requests):
    """The sample of interval ``index`` from ``buckets`` (a list, one PoolStats by pool per interval):
    rates and p95 over its window, the candidate's requests of the interval itself."""
    pools = dict((p, PoolStats()) for p in POOLS)
    for bucket in buckets[window_start(index, interval, rate_window):index + 1]:
        for pool, stats in bucket.items():
            pools[pool].merge(stats.requests, stats.errors, stats.latencies)
    return bucket_sample(round((index + 1) * float(interval), 3), pools, latency_factor, min_bucket_requests,
                         buckets[index]["candidate"].requests)


def bucket_sample(t, pools, latency_factor, min_bucket_requests, requests):
    """One sample from ``pools`` (PoolStats by pool, over the sample's window); ``requests``: the
    candidate's requests in the interval itself."""
    candidate, stable = pools["candidate"], pools["stable"]
    sample = {"t": t, "requests": requests}

    def rate(stats):
        return stats.errors / float(stats.requests) if stats.requests >= min_bucket_requests else None

    def p95(stats):
        return percentile(stats.latencies, 95) if stats.requests >= min_bucket_requests and stats.latencies else None

    sample.update(error_rate=rate(candidate), baseline_error_rate=rate(stable),
                  p95_s=p95(candidate), baseline_p95_s=p95(stable))
    if sample["error_rate"] is not None and sample["baseline_error_rate"] is not None:
        sample["error_rate_excess"] = sample["error_rate"] - sample["baseline_error_rate"]
    if sample["p95_s"] is not None and sample["baseline_p95_s"] is not None:
        sample["p95_excess_s"] = sample["p95_s"] - latency_factor * sample["baseline_p95_s"]
    return sample


ONE_SIDED_HINT = ("every client's canary_hash_key put it on the same side, as when every request reaches nginx from "
                  "one address (a load balancer, a proxy) and the key is $remote_addr: set rollout_real_ip_from to the "
                  "addresses it connects from (nginx then hashes each client's own address), or canary_hash_key to a "
                  "cookie or a header")


TOO_FEW_HINT = ("too few requests for the policy: give each step more time (its seconds in rollout_canary_plan, "
                "e.g. 20:300) or more extensions (canary_max_extensions), send it more traffic, or lower "
                "canary_policy.min_requests")


def with_traffic_notes(verdict, window, policy=None):
    """A canary step's verdict with a reason added that says what to change when its traffic cannot
    decide (``window``: the step's PoolStats by pool): one side of the split got every request while the
    policy wanted ``min_requests`` (at a share between 0 and 100 %, most often a hash key that is the
    same for every client), or too few requests came at all. The decision stays."""
    min_requests = effective_policy(policy)["min_requests"]
    candidate, stable = window["candidate"].requests, window["stable"].requests
    if candidate == 0 and stable >= min_requests:
        note = "the candidate got none of the %d requests, the stable version all: %s" % (stable, ONE_SIDED_HINT)
    elif stable == 0 and candidate >= min_requests:
        note = ("the stable version got none of the %d requests, the candidate all, so nothing compared them, and the "
                "canary had every client: %s" % (candidate, ONE_SIDED_HINT))
    elif verdict.get("inconclusive"):
        note = TOO_FEW_HINT
    else:
        return verdict
    return dict(verdict, reasons=list(verdict["reasons"]) + [note])


def memory_pct(metrics_text, limit_mb):
    found = RSS.search(metrics_text or "")
    if not found or not limit_mb:
        return None
    return round(float(found.group(1)) / (limit_mb * 1048576.0) * 100.0, 3)


class CanaryAnalysis(object):
    """One step's analysis. ``fetch(url, timeout) -> _probe.Response`` does every HTTP call."""

    def __init__(self, reader, served, since, duration, interval, policy=None, latency_factor=1.5,
                 min_bucket_requests=10, judge=False, alpha=0.01, fetch=None, health_url=None,
                 metrics_url=None, memory_limit_mb=None, prometheus_url=None, prometheus_queries=None,
                 prometheus_window="30s", rate_window=0,
                 placeholders=None, max_extensions=0, clock=time.time, sleep=time.sleep, on_sample=None):
        self.reader = reader
        self.pool_of = dict((served[pool], pool) for pool in POOLS)
        self.since, self.duration, self.interval = float(since), float(duration), float(interval)
        self.policy = policy
        self.latency_factor, self.min_bucket_requests = float(latency_factor), int(min_bucket_requests)
        self.judge, self.alpha = judge, float(alpha)
        self.fetch = answering(fetch)
        self.health_url, self.metrics_url, self.memory_limit_mb = health_url, metrics_url, memory_limit_mb
        self.prometheus_url = prometheus_url.rstrip("/") if prometheus_url else None
        self.prometheus_queries = prometheus_queries or {}
        self.prometheus_window = prometheus_window
        self.rate_window = float(rate_window or 0)
        # Values of the $service, $colour, $version placeholders of the queries; $window is added.
        self.placeholders = dict(placeholders or {}, window=prometheus_window)
        self.max_extensions = int(max_extensions)
        self.clock, self.sleep = clock, sleep
        # Called once per sample: the module renews the deploy lock's lease there.
        self.on_sample = on_sample or (lambda: None)
        self.buckets = {}
        self.window = dict((pool, PoolStats()) for pool in POOLS)
        self.extras = {}
        self.health_failures = 0
        self.prometheus_errors = []
        # The Prometheus figures whose last query failed (refused, an error status, an unreadable answer): why.
        self.unread_metrics = {}
        # Where the step stands: intervals judged, and how many times it was extended.
        self.completed, self.extensions = 0, 0

    # Progress: what a later call needs to go on where this one stopped ----------------------
    def identity(self):
        """What a progress must have been taken with to be resumed here: the same step (as JSON gives it back)."""
        return [self.since, self.duration, self.interval, self.rate_window, [list(item) for item in sorted(self.pool_of.items())]]

    def progress(self):
        """This analysis so far, as JSON-ready data for resume()."""
        return {
            "identity": self.identity(),
            "reader": {"offset": self.reader.offset, "inode": self.reader.inode, "partial": self.reader.partial},
            "buckets": dict((str(index), dict((pool, [stats.requests, stats.errors, stats.latencies])
                                              for pool, stats in bucket.items()))
                            for index, bucket in self.buckets.items()),
            "extras": dict((str(index), extras) for index, extras in self.extras.items()),
            "health_failures": self.health_failures,
            "prometheus_errors": self.prometheus_errors[-5:],
            "unread_metrics": self.unread_metrics,
            "completed": self.completed, "extensions": self.extensions,
        }

    def resume(self, progress):
        """Go on from ``progress`` (what progress() gave) when it was taken on this same step; a
        progress of another step, or none, leaves the analysis at its start. Returns whether it resumed."""
        if not isinstance(progress, dict) or progress.get("identity") != self.identity():
            return False
        self.reader.offset, self.reader.inode, self.reader.partial = (
            progress["reader"]["offset"], progress["reader"]["inode"], progress["reader"]["partial"])
        for index, bucket in progress["buckets"].items():
            self.buckets[int(index)] = dict((pool, PoolStats().merge(*bucket[pool])) for pool in POOLS)
            for pool in POOLS:
                self.window[pool].merge(*bucket[pool])
        self.extras = dict((int(index), extras) for index, extras in progress["extras"].items())
        self.health_failures = progress["health_failures"]
        self.prometheus_errors = list(progress["prometheus_errors"])
        self.unread_metrics = dict(progress["unread_metrics"])
        self.completed, self.extensions = progress["completed"], progress["extensions"]
        return True

    # Measurements --------------------------------------------------------------------------
    def take_log(self):
        for moment, served, status, seconds in self.reader.read_new():
            pool = self.pool_of.get(served)
            if pool is None or moment < self.since:
                continue
            index = int((moment - self.since) // self.interval)
            bucket = self.buckets.setdefault(index, dict((p, PoolStats()) for p in POOLS))
            bucket[pool].add(status, seconds)
            self.window[pool].add(status, seconds)

    def probe(self, index):
        extras = self.extras.setdefault(index, {})
        if self.health_url:
            response = self.fetch(self.health_url, 2.0)
            healthy = healthy_answer(response)
            self.health_failures = 0 if healthy else self.health_failures + 1
            extras["health_failures"] = self.health_failures
        if self.metrics_url and self.memory_limit_mb:
            response = self.fetch(self.metrics_url, 2.0)
            if response.error is None and response.status == 200:
                extras["memory_pct"] = memory_pct(response.body.decode("utf-8", "replace"), self.memory_limit_mb)
        if self.prometheus_url:
            for metric, template in sorted(self.prometheus_queries.items()):
                extras[metric] = self.query_prometheus(metric, string.Template(template).safe_substitute(self.placeholders))

    def query_prometheus(self, metric, query):
        response = self.fetch("%s/api/v1/query?%s" % (self.prometheus_url, urlencode({"query": query})), 5.0)
        if response.error is not None or response.status != 200:
            return self.unread(metric, "%s: %s" % (query, response.error or response.status))
        try:
            result = json.loads(response.body)["data"]["result"]
            value = float(result[0]["value"][1]) if result else None
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return self.unread(metric, "%s: unexpected answer (%s)" % (query, exc))
        self.unread_metrics.pop(metric, None)
        return None if value is None or math.isnan(value) else value  # NaN: no traffic in the window

    def unread(self, metric, error):
        self.prometheus_errors.append(error)
        self.unread_metrics[metric] = error
        return None

    def blind_rules_hold(self, verdict):
        """A promotion that a rule could not take part in, its Prometheus figure unread, is a hold
        instead (extended while Prometheus may come back): a gate on Prometheus never passes because
        Prometheus is down. The rules themselves stay as Prometheus evaluates them (a series with no
        value is not firing), so decide() still matches promtool."""
        blind = sorted(name for name, rule in verdict["rules"].items() if rule["metric"] in self.unread_metrics)
        if verdict["decision"] != "promote" or not blind:
            return verdict
        reasons = ["%s: %s could not be read from Prometheus (%s)" % (
            name, verdict["rules"][name]["metric"], self.unread_metrics[verdict["rules"][name]["metric"]]) for name in blind]
        return dict(verdict, decision="hold", reasons=reasons)

    # Verdict -------------------------------------------------------------------------------
    def samples(self, completed):
        rows = []
        empty = dict((p, PoolStats()) for p in POOLS)
        buckets = [self.buckets.get(index, empty) for index in range(completed)]
        for index in range(completed):
            sample = window_sample(buckets, index, self.interval, self.rate_window, self.latency_factor, self.min_bucket_requests)
            sample.update(self.extras.get(index, {}))
            rows.append(sample)
        return rows

    def judgement(self):
        if not self.judge:
            return None
        candidate, stable = self.window["candidate"], self.window["stable"]
        return {"alpha": self.alpha,
                "latency": mann_whitney_greater(candidate.latencies, stable.latencies)["p"],
                "errors": two_proportion_greater(candidate.errors, candidate.requests,
                                                 stable.errors, stable.requests)["p"]}

    def run(self, report_every=None):
        """Evaluate at the end of every interval until the step ends or a rule fires. A step that
        ends on hold (a pending rule, or too few requests) is extended by its duration, at most
        max_extensions times. With ``report_every`` (seconds, rounded up to whole intervals), return
        once that much more of the step is judged: ``done`` false, the decision ``continue``, and the
        figures so far; resume() with its progress() goes on from there."""
        per_step = max(1, int(-(-self.duration // self.interval)))
        # From the intervals already past at the least: a step started over (its progress lost) catches up at
        # once, so that every call ends later than the last, and the calls come to the verdict.
        past = max(self.completed, int((self.clock() - self.since) // self.interval))
        stop_at = past + window_intervals(self.interval, report_every) if report_every else None
        done, verdict, rows = True, None, []
        while True:
            self.completed += 1
            due = self.since + self.completed * self.interval
            wait = due - self.clock()
            if wait > 0:
                self.sleep(wait)
            self.on_sample()
            self.probe(self.completed - 1)
            self.take_log()
            rows = self.samples(self.completed)
            verdict = self.blind_rules_hold(decide(rows, self.policy, self.judgement()))
            if verdict["decision"] == "rollback":
                break
            if self.completed >= per_step * (1 + self.extensions):
                if verdict["decision"] != "hold" or self.extensions >= self.max_extensions:
                    break
                self.extensions += 1
            if stop_at is not None and self.completed >= stop_at:
                done = False
                break
        verdict.update(
            done=done,
            elapsed_s=round(self.clock() - self.since, 3),
            intervals=self.completed,
            planned_intervals=per_step * (1 + self.extensions),
            extensions=self.extensions,
            rate_window_s=window_intervals(self.interval, self.rate_window) * self.interval,
            figures=dict((pool, self.window[pool].figures()) for pool in POOLS),
            judge=self.judgement(),
            series=rows,
            prometheus_errors=self.prometheus_errors[-5:],
        )
        if not done:
            verdict["decision"] = "continue"
        return verdict


PROGRESS_FILE = "analysis-progress.json"


def progress_path(state_dir, service):
    """Where a step watched in parts (canary_analysis's report_every) keeps its progress between calls."""
    return os.path.join(state_dir, service, PROGRESS_FILE)


def read_progress(path):
    """The progress kept at ``path``; None when there is none or it cannot be read (the step starts over)."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def run_in_parts(analysis, path, report_every):
    """The next part of ``analysis`` (at most ``report_every`` seconds of its step), resumed from the
    progress kept at ``path``; the progress is kept there after it, or removed once the step has its verdict.
    Without ``report_every``, the whole analysis in this call, and nothing kept."""
    if not report_every:
        return analysis.run()
    analysis.resume(read_progress(path))
    verdict = analysis.run(report_every)
    if verdict["done"]:
        remove_if_present(path)
    else:
        ensure_directory(os.path.dirname(path), PRIVATE_DIR_MODE)
        atomic_write_text(path, json.dumps(analysis.progress()), PRIVATE_FILE_MODE)
    return verdict


# The options of the modules that run an analysis (doc fragment nextgen.rollout.analysis).
ARGUMENT_SPEC = dict(
    access_log=dict(type="path", required=True),
    interval=dict(type="float", default=10),
    policy=dict(type="dict", default={}),
    latency_factor=dict(type="float", default=1.5),
    min_bucket_requests=dict(type="int", default=10),
    judge=dict(type="bool", default=False),
    alpha=dict(type="float", default=0.01),
    health_url=dict(type="str"),
    metrics_url=dict(type="str"),
    memory_limit_mb=dict(type="float"),
    prometheus_url=dict(type="str"),
    prometheus_queries=dict(type="dict"),
    prometheus_window=dict(type="str", default="30s"),
    rate_window=dict(type="float", default=0),
    report_every=dict(type="float", default=0),
    service=dict(type="str"),
    state_dir=dict(type="path", default="/var/lib/nextgen-rollout"),
    holder=dict(type="str"),
    lease_ttl=dict(type="int", default=300),
)
REQUIRED_BY = {"holder": ("service",), "prometheus_url": ("prometheus_queries",)}


def problems(params, served):
    """What is wrong with a module's analysis options (``served``: option name -> "<colour>/<version>")."""
    found = ["%s must be <colour>/<version> as nginx logs it, got %r" % (name, value)
             for name, value in sorted(served.items()) if str(value).count("/") != 1]
    if params["interval"] <= 0:
        found.append("interval must be above 0 s (got %s)" % params["interval"])
    if params["rate_window"] < 0:
        found.append("rate_window must be 0 (one interval) or more seconds (got %s)" % params["rate_window"])
    if params["report_every"] < 0:
        found.append("report_every must be 0 (to the verdict in one call) or more seconds (got %s)" % params["report_every"])
    if params["report_every"] and not params["service"]:
        found.append("report_every needs service: the progress is kept under state_dir/<service>")
    if params["report_every"] and params.get("since") is None:
        found.append("report_every needs since: each call goes on with the analysis that started then")
    try:
        effective_policy(params["policy"])
    except PolicyError as exc:
        found.append("policy: %s" % exc)
    return found


def from_params(params, candidate, stable, since, duration, fetch, max_extensions=0, on_sample=None, clock=time.time):
    """The CanaryAnalysis a module's options describe, watching ``candidate`` against ``stable``."""
    return CanaryAnalysis(
        AccessLogReader(params["access_log"]), {"candidate": candidate, "stable": stable},
        since=since if since is not None else clock(), duration=duration, interval=params["interval"],
        policy=params["policy"], latency_factor=params["latency_factor"],
        min_bucket_requests=params["min_bucket_requests"], judge=params["judge"], alpha=params["alpha"],
        fetch=fetch, health_url=params["health_url"], metrics_url=params["metrics_url"],
        memory_limit_mb=params["memory_limit_mb"], prometheus_url=params["prometheus_url"],
        prometheus_queries=params["prometheus_queries"], prometheus_window=params["prometheus_window"],
        rate_window=params["rate_window"], placeholders=dict(zip(("colour", "version"), candidate.split("/")), service=params["service"] or ""),
        max_extensions=max_extensions, on_sample=on_sample, clock=clock)
