# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # The measurements and rules shared by the canary analysis and the guard after a switch.
    DOCUMENTATION = r"""
options:
  access_log:
    description: nginx JSON access log of the service.
    type: path
    required: true
  interval:
    description: Seconds per sample (evaluation interval).
    type: float
    default: 10
  policy:
    description:
      - Rules merged over the defaults, C(rules) keyed by name, each with C(metric), C(op), C(threshold),
        C(for) and optionally C(judge); a rule set to null is removed; C(min_requests); and C(lookback_s), how long
        the last value stands in for missing ones (300 s as in Prometheus; 0 makes a gap reset a rule's window).
      - Metrics are listed in the module_utils C(_analysis) docstring, among them C(error_rate), C(p95_s),
        C(error_rate_excess), C(p95_excess_s), C(health_failures), C(memory_pct), C(prom_error_rate).
    type: dict
    default: {}
  latency_factor:
    description: Factor applied to the stable p95 in C(p95_excess_s).
    type: float
    default: 1.5
  min_bucket_requests:
    description: Fewer candidate (or stable) requests in a sample's window leave its rates and latencies unset.
    type: int
    default: 10
  rate_window:
    description:
      - Seconds of traffic each sample's log figures (rates, p95) cover, rounded up to whole intervals, as a Prometheus
        rule's C(rate(...[window])) overlaps its evaluations. V(0) is the interval alone.
      - A longer window keeps one interval without an error, in low or lumpy traffic, from resetting a rule's C(for).
    type: float
    default: 0
  report_every:
    description:
      - Seconds of the analysis, rounded up to a whole number of O(interval) periods, after which the module returns with its
        figures so far, V(continue) as its decision and C(done) false, so that a playbook can show them
        and call it again; V(0) watches to the verdict in one call.
      - Requires O(service) and the start of the analysis (C(since)). Between calls the progress is kept on the host in
        C(<state_dir>/<service>/analysis-progress.json) (mode 0600); the next call with the same pools, start, length,
        O(interval) and O(rate_window) goes on from it, a call for another analysis starts over, and the file is removed
        once there is a verdict. A progress that is lost is rebuilt from the access log by the next call (only the
        health probes of the intervals already past are not repeated).
      - Ignored in check mode, which writes nothing on the host.
    type: float
    default: 0
  judge:
    description: Apply the statistical judges (Mann-Whitney U on latencies, two-proportion test on errors) to rules that name one.
    type: bool
    default: false
  alpha:
    description: Significance level of the judges.
    type: float
    default: 0.01
  health_url:
    description: Health endpoint of the version watched, probed at each evaluation.
    type: str
  metrics_url:
    description: Prometheus-format metrics of the version watched, read for C(process_resident_memory_bytes).
    type: str
  memory_limit_mb:
    description: Memory the version watched may use; C(memory_pct) is its resident memory against this.
    type: float
  prometheus_url:
    description: Base URL of a Prometheus that scrapes the service.
    type: str
  prometheus_queries:
    description:
      - PromQL per metric name (for example C(prom_error_rate), C(prom_p95_s)), with the placeholders
        C($service), C($colour), C($version) (those of the version watched) and C($window) (Python's string.Template,
        so a label selector's braces stay as they are), e.g. C(sum(rate(http_requests_total{job="$service"}[$window]\))).
        Required with O(prometheus_url).
    type: dict
  prometheus_window:
    description: Range of the C(rate()) in the Prometheus queries (the C($window) placeholder).
    type: str
    default: 30s
  service:
    description: Service whose deploy lock the analysis renews (with O(holder)).
    type: str
  state_dir:
    description: Directory of the services' ledgers and locks.
    type: path
    default: /var/lib/nextgen-rollout
  holder:
    description:
      - Run id holding the deploy lock of O(service). The lease is renewed at every sample for
        O(lease_ttl) seconds, so the lock is kept however long the analysis runs; the analysis fails
        at once if the run lost the lock.
    type: str
  lease_ttl:
    description: Seconds each renewal extends the lease by.
    type: int
    default: 300
"""
