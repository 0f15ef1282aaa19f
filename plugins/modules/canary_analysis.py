#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: canary_analysis
short_description: Measure a canary against the stable version over one step and decide
version_added: 1.0.0
description:
  - Every O(interval) seconds from O(since) until O(since) + O(duration), reads the new lines of
    nginx's JSON access log (the format of the nginx role's sites) and splits them by the colour and
    version that served each request, which nginx logs from the upstream that answered (not from
    the app); probes the candidate's health; reads its memory from its metrics; and,
    when O(prometheus_url) is set, queries Prometheus for the candidate's error rate and p95.
  - Each interval becomes one sample, and the samples go through the rules of O(policy), evaluated
    like Prometheus alerts with a C(for) window (see the P(nextgen.rollout.rollback_decision#filter)
    filter). The step ends early when a rule fires.
  - Returns V(promote), V(hold) (a rule is pending, or too few requests to conclude) or
    V(rollback), the reasons, and every figure used. It never fails because of the decision.
options:
  access_log:
    description: nginx JSON access log of the service.
    type: path
    required: true
  candidate:
    description: The candidate as nginx logs what served a request, C(<colour>/<version>), e.g. C(green/1.1.0).
    type: str
    required: true
  stable:
    description: The stable version the same way, e.g. C(blue/1.0.0).
    type: str
    required: true
  since:
    description: Start of the step (seconds since the epoch); default now.
    type: float
  duration:
    description: Length of the step's analysis, in seconds.
    type: float
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
    description: Fewer candidate (or stable) requests in an interval leave its rates and latencies unset.
    type: int
    default: 10
  judge:
    description: Apply the statistical judges (Mann-Whitney U on latencies, two-proportion test on errors) to rules that name one.
    type: bool
    default: false
  alpha:
    description: Significance level of the judges.
    type: float
    default: 0.01
  health_url:
    description: Health endpoint of the candidate, probed at each evaluation.
    type: str
  metrics_url:
    description: Prometheus-format metrics of the candidate, read for C(process_resident_memory_bytes).
    type: str
  memory_limit_mb:
    description: Memory the candidate may use; C(memory_pct) is its resident memory against this.
    type: float
  prometheus_url:
    description: Base URL of a Prometheus that scrapes the service.
    type: str
  prometheus_queries:
    description:
      - PromQL per metric name (for example C(prom_error_rate), C(prom_p95_s)), with the placeholders
        C($service), C($colour), C($version) (the candidate's) and C($window) (Python's string.Template,
        so a label selector's braces stay as they are), e.g. C(sum(rate(http_requests_total{job="$service"}[$window]\))).
        Required with O(prometheus_url).
    type: dict
  prometheus_window:
    description: Range of the C(rate()) in the Prometheus queries (the C($window) placeholder).
    type: str
    default: 30s
  max_extensions:
    description: How many times a step that ends on V(hold) is extended by O(duration) before the module returns V(hold).
    type: int
    default: 0
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
        O(lease_ttl) seconds, so a canary keeps its lock however long it runs; the analysis fails
        at once if the run lost the lock.
    type: str
  lease_ttl:
    description: Seconds each renewal extends the lease by.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: full
    description: Changes nothing.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Watch the 10 % step for 5 minutes
  nextgen.rollout.canary_analysis:
    access_log: /var/log/nginx/agent-loop.access.json
    candidate: green/1.1.0
    stable: blue/1.0.0
    duration: 300
    interval: 10
    health_url: http://127.0.0.1:8002/health
    policy:
      rules:
        error_rate: {for: 30s}
        p95_vs_baseline: {metric: p95_excess_s, op: ">", threshold: 0.1, for: 20s, judge: latency}
  register: analysis
"""

RETURN = r"""
decision:
  description: V(promote), V(hold) or V(rollback).
  returned: always
  type: str
reasons:
  description: Why, one line per rule that fired or is pending.
  returned: always
  type: list
  elements: str
rules:
  description: State, last value, threshold and time held of every rule.
  returned: always
  type: dict
figures:
  description: Per pool (candidate, stable) over the whole step, requests, 5xx, error rate, latency percentiles in ms.
  returned: always
  type: dict
series:
  description: The samples the rules were evaluated on.
  returned: always
  type: list
  elements: dict
judge:
  description: p-values of the judges, when enabled.
  returned: always
  type: dict
elapsed_s:
  description: Seconds from O(since) to the verdict.
  returned: always
  type: float
inconclusive:
  description: Whether there were fewer requests than the policy's C(min_requests).
  returned: always
  type: bool
extensions:
  description: How many times the step was extended because it ended on V(hold).
  returned: always
  type: int
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._analysis import AccessLogReader, CanaryAnalysis
from ansible_collections.nextgen.rollout.plugins.module_utils._decision import PolicyError, effective_policy
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import Lease, LockHeld
from ansible_collections.nextgen.rollout.plugins.module_utils._probe import fetch


def main():
    module = AnsibleModule(
        argument_spec=dict(
            access_log=dict(type="path", required=True),
            candidate=dict(type="str", required=True),
            stable=dict(type="str", required=True),
            since=dict(type="float"),
            duration=dict(type="float", required=True),
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
            max_extensions=dict(type="int", default=0),
            service=dict(type="str"),
            state_dir=dict(type="path", default="/var/lib/nextgen-rollout"),
            holder=dict(type="str"),
            lease_ttl=dict(type="int", default=300),
        ),
        required_by={"holder": ("service",), "prometheus_url": ("prometheus_queries",)},
        supports_check_mode=True,
    )
    p = module.params
    for side in ("candidate", "stable"):
        if p[side].count("/") != 1:
            module.fail_json(msg="%s must be <colour>/<version> as nginx logs it, got %r" % (side, p[side]))
    if p["interval"] <= 0 or p["duration"] <= 0:
        module.fail_json(msg="interval and duration must be above 0 s (got %s and %s)" % (p["interval"], p["duration"]))
    try:
        effective_policy(p["policy"])
    except PolicyError as exc:
        module.fail_json(msg="canary policy: %s" % exc)
    lease = None
    if p["holder"]:
        lease = Lease(os.path.join(p["state_dir"], p["service"]), p["service"])

    def renew_lease():
        if lease is not None and not module.check_mode:
            lease.renew(p["holder"], p["lease_ttl"])

    analysis = CanaryAnalysis(
        AccessLogReader(p["access_log"]),
        {"candidate": p["candidate"], "stable": p["stable"]},
        since=p["since"] if p["since"] is not None else time.time(),
        duration=p["duration"], interval=p["interval"], policy=p["policy"],
        latency_factor=p["latency_factor"], min_bucket_requests=p["min_bucket_requests"],
        judge=p["judge"], alpha=p["alpha"], fetch=fetch, health_url=p["health_url"],
        metrics_url=p["metrics_url"], memory_limit_mb=p["memory_limit_mb"],
        prometheus_url=p["prometheus_url"], prometheus_queries=p["prometheus_queries"],
        prometheus_window=p["prometheus_window"],
        placeholders=dict(zip(("colour", "version"), p["candidate"].split("/")), service=p["service"] or ""),
        max_extensions=p["max_extensions"],
        on_sample=renew_lease,
    )
    try:
        module.exit_json(changed=False, **analysis.run())
    except LockHeld as exc:
        module.fail_json(msg=str(exc), lock=exc.lock)


if __name__ == "__main__":
    main()
