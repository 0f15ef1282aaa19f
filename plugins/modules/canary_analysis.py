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
  max_extensions:
    description: How many times a step that ends on V(hold) is extended by O(duration) before the module returns V(hold).
    type: int
    default: 0
extends_documentation_fragment:
  - nextgen.rollout.analysis
  - nextgen.rollout.read_only
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
  description: V(promote), V(hold) or V(rollback); V(continue) while RV(done) is false.
  returned: always
  type: str
done:
  description: Whether the step has its verdict; false only with O(report_every), when the module returns part way.
  returned: always
  type: bool
intervals:
  description: Intervals of the step judged so far.
  returned: always
  type: int
planned_intervals:
  description: Intervals the step has, its extensions so far included.
  returned: always
  type: int
reasons:
  description:
    - Why, one line per rule that fired or is pending, and a line when one side of the split got every request
      (most often a hash key that is the same for every client, such as C($remote_addr) behind a load balancer).
  returned: always
  type: list
  elements: str
rules:
  description: State, last value, threshold and time held of every rule.
  returned: always
  type: dict
figures:
  description: Per pool (candidate, stable) over the whole step, requests, 5xx, error rate, latency percentiles in ms, and summary (these figures in one line).
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
rate_window_s:
  description: Seconds of traffic each sample's log figures covered (O(rate_window) rounded up to whole intervals; one interval without it).
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils import _analysis
from ansible_collections.nextgen.rollout.plugins.module_utils._files import refuse_unsafe_name
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import LockHeld, renewer
from ansible_collections.nextgen.rollout.plugins.module_utils._probe import fetch


def main():
    module = AnsibleModule(
        argument_spec=dict(
            _analysis.ARGUMENT_SPEC,
            candidate=dict(type="str", required=True),
            stable=dict(type="str", required=True),
            since=dict(type="float"),
            duration=dict(type="float", required=True),
            max_extensions=dict(type="int", default=0),
        ),
        required_by=_analysis.REQUIRED_BY,
        supports_check_mode=True,
    )
    refuse_unsafe_name(module, "service")
    p = module.params
    found = _analysis.problems(p, {"candidate": p["candidate"], "stable": p["stable"]})
    if p["duration"] <= 0:
        found.append("duration must be above 0 s (got %s)" % p["duration"])
    if found:
        module.fail_json(msg="canary analysis: %s" % "; ".join(found))
    renew = renewer(p["state_dir"], p["service"], None if module.check_mode else p["holder"], p["lease_ttl"])
    analysis = _analysis.from_params(p, p["candidate"], p["stable"], p["since"], p["duration"], fetch,
                                     max_extensions=p["max_extensions"], on_sample=renew)
    try:
        # report_every needs service (checked above): no service, no part to keep.
        path = _analysis.progress_path(p["state_dir"], p["service"]) if p["service"] else None
        verdict = _analysis.run_in_parts(analysis, path, 0 if module.check_mode else p["report_every"])
    except LockHeld as exc:
        module.fail_json(msg=str(exc), lock=exc.lock)
    module.exit_json(changed=False, **(_analysis.with_traffic_notes(verdict, analysis.window, p["policy"]) if verdict["done"] else verdict))


if __name__ == "__main__":
    main()
