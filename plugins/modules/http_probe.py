#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: http_probe
short_description: Probe an HTTP endpoint for health, latency and version
version_added: 1.0.0
description:
  - Sends GET requests from the managed host to O(url) and judges each answer by its status,
    optionally its body and headers.
  - With O(wait_timeout) greater than 0, polls until O(healthy_threshold) consecutive answers are
    healthy or the deadline passes (wait-until-healthy).
  - Otherwise takes O(samples) answers and reports latency percentiles; healthy only if every
    answer is healthy and, when set, the p95 latency is within O(max_p95_ms).
  - Fails with a message that names the URL and the reason when the endpoint is not healthy,
    unless O(fail_on_unhealthy=false).
options:
  url:
    description: URL to probe, as seen from the managed host.
    type: str
    required: true
  expect_status:
    description:
      - Status codes that count as healthy.
      - Without it any 2xx or 3xx answer does, as Kubernetes' HTTP probes and C(curl -f) judge (a page that
        redirects to a login page is up; the redirect is not followed).
    type: list
    elements: int
  body_regex:
    description: Regular expression the response body must match (searched, not anchored).
    type: str
  expect_header:
    description: Response headers that must have exactly these values (names are case-insensitive).
    type: dict
  headers:
    description: Request headers to send, for example C(Host) to reach a named nginx server on 127.0.0.1.
    type: dict
  validate_certs:
    description: Verify the TLS certificate of an C(https) URL.
    type: bool
    default: true
  version_header:
    description: Response header whose distinct values RV(versions) lists.
    type: str
    default: X-Served-By
  timeout:
    description: Seconds to wait for one answer.
    type: float
    default: 5.0
  samples:
    description: Number of answers to take when O(wait_timeout=0), or after O(ready_url) is ready.
    type: int
    default: 1
  interval:
    description: Seconds between two requests (samples or polls).
    type: float
    default: 0.0
  wait_timeout:
    description: Deadline in seconds for wait-until-healthy; 0 disables waiting.
    type: float
    default: 0.0
  healthy_threshold:
    description: Consecutive healthy answers needed to stop waiting.
    type: int
    default: 1
  ready_url:
    description:
      - A URL to wait for first, in the same call (one round trip instead of two) - for example a container's
        readiness endpoint before its smoke check.
      - O(wait_timeout), O(interval) and O(healthy_threshold) then apply to waiting on O(ready_url) (any status of
        O(expect_status)); once it is ready, O(url) is sampled O(samples) times back to back.
      - When O(ready_url) is not ready in time, the task fails with O(ready_name) in its message and O(url) is not probed.
    type: str
  ready_name:
    description: Name of the wait on O(ready_url), used in messages.
    type: str
    default: readiness
  max_p95_ms:
    description: Highest acceptable p95 latency, in milliseconds, over the samples.
    type: float
  name:
    description: Name of the probe, used in messages (for example C(readiness)).
    type: str
    default: probe
  advice:
    description: What to do about a failure, added at the end of the message of a probe that fails (for example
      the settings that choose the paths and the time allowed).
    type: str
    default: ""
  not_found_timeout:
    description:
      - Stop waiting (O(wait_timeout)) when the URL waited on has answered every check with 404 Not Found for this
        many seconds - the server is up, and the path is not one of its own - instead of waiting the whole
        O(wait_timeout). RV(not_found) then says so. 0 waits the whole O(wait_timeout).
    type: float
    default: 0.0
  fail_on_unhealthy:
    description: Fail the task when the endpoint is not healthy; otherwise only report.
    type: bool
    default: true
extends_documentation_fragment:
  - nextgen.rollout.read_only
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Wait until the idle colour is ready
  nextgen.rollout.http_probe:
    name: readiness
    url: http://127.0.0.1:8002/ready
    wait_timeout: 60
    interval: 1
    healthy_threshold: 2

- name: Wait until green is ready, then smoke-check it, in one call
  nextgen.rollout.http_probe:
    ready_url: http://127.0.0.1:8002/ready
    ready_name: readiness of green
    wait_timeout: 60
    interval: 0.5
    healthy_threshold: 2
    name: smoke check of green
    url: http://127.0.0.1:8002/
    samples: 5
    max_p95_ms: 2000

- name: Sample the service through nginx and require that green 1.1.0 served every answer
  nextgen.rollout.http_probe:
    url: https://127.0.0.1/
    headers:
      Host: shop.example.com
    validate_certs: false
    samples: 20
    expect_header:
      X-Served-By: green/1.1.0
    max_p95_ms: 2000
"""

RETURN = r"""
healthy:
  description: Whether the endpoint was judged healthy.
  returned: always
  type: bool
  sample: true
msg:
  description: One sentence with the verdict.
  returned: always
  type: str
samples:
  description: Number of answers taken (sampling mode).
  returned: when O(wait_timeout=0) or O(ready_url) is given
  type: int
failures:
  description: Number of unhealthy answers (sampling mode).
  returned: when O(wait_timeout=0) or O(ready_url) is given
  type: int
problems:
  description: Distinct reasons of the unhealthy answers.
  returned: when O(wait_timeout=0) or O(ready_url) is given
  type: list
  elements: str
latency_ms:
  description: Latency figures of the healthy answers, in milliseconds.
  returned: when O(wait_timeout=0) or O(ready_url) is given
  type: dict
  sample: {"count": 20, "min": 1.2, "max": 9.8, "mean": 2.1, "p50": 1.8, "p95": 4.0, "p99": 9.8}
versions:
  description: Distinct values of the O(version_header) header seen.
  returned: when O(wait_timeout=0) or O(ready_url) is given
  type: list
  elements: str
attempts:
  description: Requests sent while waiting.
  returned: when O(wait_timeout) > 0 without O(ready_url) (see RV(ready))
  type: int
elapsed_s:
  description: Seconds spent waiting.
  returned: when O(wait_timeout) > 0 without O(ready_url) (see RV(ready))
  type: float
ready:
  description: The wait on O(ready_url) - requests sent (C(attempts)) and seconds (C(elapsed_s)).
  returned: when O(ready_url) is given and ready
  type: dict
  sample: {"attempts": 3, "elapsed_s": 1.02}
not_found:
  description: The wait ended early because the URL answered 404 for O(not_found_timeout) seconds.
  returned: when O(wait_timeout) > 0 without O(ready_url), or when the wait on O(ready_url) fails
  type: bool
last_status:
  description: Status of the last answer (null when the request failed).
  returned: always
  type: int
"""

import functools

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._probe import (
    ProbeSpec, fetch as fetch_url, sample, wait_until_healthy)


def advice_text(advice):
    return ". " + advice.rstrip(". ") + "." if advice else ""


def unhealthy_wait_text(result, params):
    """Why a wait ended without a healthy answer."""
    if result["not_found"]:
        return ("answered 404 Not Found to every check for %.0f s (%d attempts): the service answers, and this path is "
                "not one of its own" % (params["not_found_timeout"], result["attempts"]))
    return "not healthy within %.0f s (%d attempts): %s" % (params["wait_timeout"], result["attempts"], result["last_problem"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            expect_status=dict(type="list", elements="int"),
            body_regex=dict(type="str"),
            expect_header=dict(type="dict"),
            headers=dict(type="dict"),
            validate_certs=dict(type="bool", default=True),
            version_header=dict(type="str", default="X-Served-By"),
            timeout=dict(type="float", default=5.0),
            samples=dict(type="int", default=1),
            interval=dict(type="float", default=0.0),
            wait_timeout=dict(type="float", default=0.0),
            healthy_threshold=dict(type="int", default=1),
            ready_url=dict(type="str"),
            ready_name=dict(type="str", default="readiness"),
            max_p95_ms=dict(type="float"),
            name=dict(type="str", default="probe"),
            advice=dict(type="str", default=""),
            not_found_timeout=dict(type="float", default=0.0),
            fail_on_unhealthy=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for option in ("samples", "healthy_threshold"):
        if p[option] < 1:
            module.fail_json(msg="%s must be at least 1, got %d" % (option, p[option]))
    try:
        spec = ProbeSpec(p["url"], p["expect_status"], p["body_regex"], p["expect_header"], p["timeout"],
                         p["version_header"])
    except Exception as exc:
        module.fail_json(msg="body_regex %r is not a valid regular expression: %s" % (p["body_regex"], exc))

    fetch = functools.partial(fetch_url, headers=p["headers"], validate_certs=p["validate_certs"])
    ready = None
    if p["ready_url"]:
        if p["wait_timeout"] <= 0:
            module.fail_json(msg="ready_url needs wait_timeout above 0 (the seconds to wait for it)")
        ready = wait_until_healthy(ProbeSpec(p["ready_url"], p["expect_status"], timeout=p["timeout"]), fetch,
                                   p["wait_timeout"], p["interval"], p["healthy_threshold"],
                                   not_found_s=p["not_found_timeout"])
        if not ready["healthy"]:
            ready["msg"] = "%s %s %s%s" % (p["ready_name"], p["ready_url"], unhealthy_wait_text(ready, p),
                                           advice_text(p["advice"]))
            module.fail_json(changed=False, **ready)
    if p["wait_timeout"] > 0 and ready is None:
        result = wait_until_healthy(spec, fetch, p["wait_timeout"], p["interval"], p["healthy_threshold"],
                                    not_found_s=p["not_found_timeout"])
        if result["healthy"]:
            msg = "%s %s healthy after %d attempt(s), %.1f s" % (p["name"], p["url"], result["attempts"],
                                                                 result["elapsed_s"])
        else:
            msg = "%s %s %s" % (p["name"], p["url"], unhealthy_wait_text(result, p))
    else:
        result = sample(spec, fetch, p["samples"], 0.0 if ready else p["interval"])
        p95 = result["latency_ms"]["p95"]
        if result["healthy"] and p["max_p95_ms"] is not None and p95 is not None and p95 > p["max_p95_ms"]:
            result["healthy"] = False
            result["problems"] = ["p95 latency %.1f ms above %.1f ms" % (p95, p["max_p95_ms"])]
        if result["healthy"]:
            msg = "%s %s healthy: %d/%d answers, p95 %s ms" % (
                p["name"], p["url"], result["samples"], result["samples"], p95)
        else:
            msg = "%s %s not healthy: %d/%d answers failed: %s" % (
                p["name"], p["url"], result["failures"], result["samples"], "; ".join(result["problems"]))
        if ready:
            result["ready"] = dict((key, ready[key]) for key in ("attempts", "elapsed_s"))
    result["msg"] = msg + ("" if result["healthy"] else advice_text(p["advice"]))
    if not result["healthy"] and p["fail_on_unhealthy"]:
        module.fail_json(changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
