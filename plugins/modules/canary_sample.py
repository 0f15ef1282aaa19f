#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: canary_sample
short_description: One interval of a canary on one host, for a verdict on the whole fleet
version_added: 1.0.0
description:
  - Waits until O(until), then reports what nginx served on this host since its last report - requests, 5xx and
    upstream times of the candidate and of the stable version, from nginx's JSON access log - and the candidate's
    consecutive health failures. The place in the log is kept in O(state_file), so each request counts once.
  - The controller merges the reports of every host of a wave, interval by interval, and judges the candidate on
    the fleet's counts (the P(nextgen.rollout.fleet_canary_verdict#filter) filter), so that one verdict, reached
    with fewer requests per host, moves every host at once.
  - Renews the deploy lock's lease of O(holder) at each report. The logic is in module_utils/_fleet_canary.py.
options:
  access_log:
    description: nginx's JSON access log of the service.
    type: path
    required: true
  state_file:
    description:
      - Where the reader's place in the log and the health failures are kept between reports (root only); by default
        C(canary-sample.json) in the service's directory under O(state_dir) (then O(service) is needed).
    type: path
  candidate:
    description: The candidate as nginx logs it, C(<colour>/<version>).
    type: str
    required: true
  stable:
    description: The stable version as nginx logs it, C(<colour>/<version>).
    type: str
    required: true
  since:
    description: Requests before this time (seconds since the epoch) are not counted.
    type: float
    required: true
  until:
    description: When to report (seconds since the epoch); the module waits until then.
    type: float
    required: true
  health_url:
    description: The candidate's health URL on the host; empty for no probe.
    type: str
    default: ""
  service:
    description: The service whose deploy lock is renewed (with O(holder)).
    type: str
  holder:
    description: The lock's holder; omitted, no lease is renewed.
    type: str
  state_dir:
    description: The collection's state directory on the host.
    type: path
    default: /var/lib/nextgen-rollout
  lease_ttl:
    description: Seconds the lease is renewed for.
    type: int
    default: 300
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Report the third interval of the step
  nextgen.rollout.canary_sample:
    access_log: /var/log/nginx/shop.access.json
    service: shop
    candidate: green/1.4.2
    stable: blue/1.4.1
    since: 1767225600.0
    until: 1767225630.0
"""

RETURN = r"""
pools:
  description: For C(candidate) and C(stable), C(requests), C(errors) (5xx) and C(latencies) (upstream seconds).
  returned: always
  type: dict
health_failures:
  description: Consecutive failed health probes of the candidate (null without O(health_url)).
  returned: always
  type: int
read_at:
  description: When the log was read (seconds since the epoch).
  returned: always
  type: float
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._files import refuse_unsafe_name
from ansible_collections.nextgen.rollout.plugins.module_utils._fleet_canary import take_report
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import LockHeld, renewer
from ansible_collections.nextgen.rollout.plugins.module_utils._probe import answering, fetch, healthy_answer


def main():
    module = AnsibleModule(
        argument_spec=dict(
            access_log=dict(type="path", required=True),
            state_file=dict(type="path"),
            candidate=dict(type="str", required=True),
            stable=dict(type="str", required=True),
            since=dict(type="float", required=True),
            until=dict(type="float", required=True),
            health_url=dict(type="str", default=""),
            service=dict(type="str"),
            holder=dict(type="str"),
            state_dir=dict(type="path", default="/var/lib/nextgen-rollout"),
            lease_ttl=dict(type="int", default=300),
        ),
        required_by={"holder": ("service",)},
        supports_check_mode=True,
    )
    refuse_unsafe_name(module, "service")
    p = module.params
    if not p["state_file"] and not p["service"]:
        module.fail_json(msg="canary_sample: give state_file, or service (the file then goes under state_dir)")
    state_file = p["state_file"] or os.path.join(p["state_dir"], p["service"], "canary-sample.json")
    for name in ("candidate", "stable"):
        if p[name].count("/") != 1:
            module.fail_json(msg="canary_sample: %s must be <colour>/<version> as nginx logs it, got %r" % (name, p[name]))
    if module.check_mode:
        module.exit_json(changed=False, pools={}, health_failures=None, read_at=p["until"])
    health = None
    if p["health_url"]:
        get = answering(fetch)

        def health():
            response = get(p["health_url"], 2.0)
            return healthy_answer(response)
    try:
        renewer(p["state_dir"], p["service"], p["holder"], p["lease_ttl"])()
        report = take_report(p["access_log"], state_file, {"candidate": p["candidate"], "stable": p["stable"]},
                             p["since"], p["until"], health=health)
    except LockHeld as exc:
        module.fail_json(msg=str(exc), lock=exc.lock)
    module.exit_json(changed=False, **report)


if __name__ == "__main__":
    main()
