#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: staging_gate
short_description: Load-test a version before it gets traffic - rate, duration, p95 and error limits per endpoint
version_added: 1.1.0
description:
  - Sends O(rate_per_min) requests a minute for O(duration) seconds from the managed host to O(base_url)
    (the idle colour on 127.0.0.1 in the release process), spread evenly over time and over O(endpoints)
    in turn, from O(workers) threads, so that a slow answer does not slow the load down.
  - Passes when every endpoint's p95 latency is within O(max_p95_ms) and its share of failed answers (no
    answer, or a status the endpoint does not expect) within O(max_error_rate); otherwise fails naming
    each endpoint and figure over its limit, unless O(fail_on_problems=false).
  - The seed's staging gate is 500 requests a minute for 5 minutes with every endpoint's p95 under 2 s.
options:
  base_url:
    description: Scheme, host and port the endpoint paths are appended to, e.g. C(http://127.0.0.1:8002).
    type: str
    required: true
  endpoints:
    description:
      - Endpoints to load, in turn; each a path, or a dict with C(path), C(method) (default C(GET)), C(body)
        (sent as is, with C(Content-Type) application/json) and C(expect_status) (default any 2xx or 3xx).
      - Empty, the load goes to O(default_path).
    type: list
    elements: raw
    default: []
  default_path:
    description: The path loaded when O(endpoints) is empty.
    type: str
    default: /
  rate_per_min:
    description: Requests per minute, all endpoints together.
    type: float
    default: 500
  duration:
    description: Seconds the load lasts.
    type: float
    default: 300
  max_p95_ms:
    description: Highest p95 latency of any endpoint, in milliseconds, over its successful answers.
    type: float
    default: 2000
  max_error_rate:
    description: Highest share (0 to 1) of failed answers of any endpoint.
    type: float
    default: 0.01
  workers:
    description: Threads sending the requests.
    type: int
    default: 8
  timeout:
    description: Seconds an answer may take before it counts as failed.
    type: float
    default: 10
  headers:
    description: Request headers to send with every request.
    type: dict
    default: {}
  fail_on_problems:
    description: Fail when the gate does not pass; otherwise only report.
    type: bool
    default: true
attributes:
  check_mode:
    support: none
    description: Sends real requests, so it does not run in check mode.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: full
    description: Changes nothing on the host.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: The seed's staging gate against the idle colour
  nextgen.rollout.staging_gate:
    base_url: http://127.0.0.1:8002
    endpoints:
      - /
      - {path: /run-agent, method: POST, body: '{"task": "staging"}'}
    rate_per_min: 500
    duration: 300
    max_p95_ms: 2000
"""

RETURN = r"""
passed:
  description: Whether every endpoint is within the limits.
  returned: always
  type: bool
problems:
  description: Each endpoint and figure over its limit.
  returned: always
  type: list
  elements: str
endpoints:
  description: Per endpoint (C(METHOD /path)), requests, failed, error_rate, latency_ms (count, min, max, mean, p50, p95, p99) and up to 5 failure reasons.
  returned: always
  type: dict
requests:
  description: Requests sent.
  returned: always
  type: int
elapsed_s:
  description: Seconds the load took.
  returned: always
  type: float
rate_per_min:
  description: The rate achieved, requests per minute.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._staging import GateProblem, Requester, endpoint_list, run_gate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            base_url=dict(type="str", required=True),
            endpoints=dict(type="list", elements="raw", default=[]),
            default_path=dict(type="str", default="/"),
            rate_per_min=dict(type="float", default=500),
            duration=dict(type="float", default=300),
            max_p95_ms=dict(type="float", default=2000),
            max_error_rate=dict(type="float", default=0.01),
            workers=dict(type="int", default=8),
            timeout=dict(type="float", default=10),
            headers=dict(type="dict", default={}),
            fail_on_problems=dict(type="bool", default=True),
        ),
        supports_check_mode=False,
    )
    p = module.params
    base = p["base_url"].rstrip("/")
    try:
        endpoints = endpoint_list(p["endpoints"], p["default_path"])
        outcome = run_gate(Requester(base, p["timeout"], p["headers"]), endpoints, p["rate_per_min"], p["duration"], p["max_p95_ms"],
                           p["max_error_rate"], p["workers"])
    except GateProblem as exc:
        module.fail_json(msg="staging gate: %s" % exc)
    if outcome["passed"]:
        msg = "staging gate passed: %d requests in %.0f s (%.0f/min) to %s, every endpoint within p95 %.0f ms and %.1f %% errors" % (
            outcome["requests"], outcome["elapsed_s"], outcome["rate_per_min"] or 0, base, p["max_p95_ms"],
            p["max_error_rate"] * 100)
    else:
        msg = "staging gate failed at %s: %s" % (base, "; ".join(outcome["problems"]))
    if not outcome["passed"] and p["fail_on_problems"]:
        module.fail_json(msg=msg, **outcome)
    module.exit_json(changed=False, msg=msg, **outcome)


if __name__ == "__main__":
    main()
