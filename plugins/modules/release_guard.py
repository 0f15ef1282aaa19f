#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_guard
short_description: Watch a version that just went live and switch back to the warm colour when a rollback rule fires
version_added: 1.1.0
description:
  - The guard after a switch (a blue-green deploy, or a canary's promotion). For O(window) seconds
    from O(since), every O(interval) seconds, it measures the version now live (O(live)) from nginx's
    access log, its health and memory, and Prometheus when configured, and evaluates the rollback rules of
    O(policy) on those samples, as the canary analysis does (see
    M(nextgen.rollout.canary_analysis) and the P(nextgen.rollout.rollback_decision#filter) filter).
  - When a rule fires, it moves the service's route file back to O(previous) at once (nginx follows
    at its next request, no reload) and returns RV(switched_back=true) with the reasons and figures.
    It does not fail; the caller records the failure and says so.
  - A rule still pending, or too few requests, when the window ends is a pass.
  - The version before (O(previous)) gets no traffic after the switch, so rules that compare with it have
    no data; the absolute rules (the seeds' error rate, p95, health failures, memory) do.
options:
  live:
    description: The version now live as nginx logs what served a request, C(<colour>/<version>), e.g. C(green/1.1.0).
    type: str
    required: true
  previous:
    description: The version that was live before, still warm, the same way, e.g. C(blue/1.0.0). Traffic goes back there.
    type: str
    required: true
  since:
    description: When traffic moved (seconds since the epoch); default now.
    type: float
  window:
    description: How long the guard watches, in seconds.
    type: float
    required: true
  switch_back:
    description: Move the route back to O(previous) when a rule fires (false only reports).
    type: bool
    default: true
extends_documentation_fragment:
  - nextgen.rollout.analysis
  - nextgen.rollout.site_paths
notes:
  - O(service) is required here, since it names the route file.
attributes:
  check_mode:
    support: full
    description: Measures the same in check mode and never switches back.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: none
    description: Each call watches live traffic anew.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Guard 1.1.0 for 3 minutes after the switch
  nextgen.rollout.release_guard:
    service: agent-loop
    access_log: /var/log/nginx/agent-loop.access.json
    live: green/1.1.0
    previous: blue/1.0.0
    since: "{{ nginx_switch.routed_at }}"
    window: 180
    interval: 10
    health_url: http://127.0.0.1:8002/ready
  register: guard

- name: Fail when the guard switched back
  ansible.builtin.fail:
    msg: "{{ guard.reasons | join('; ') }}"
  when: guard.switched_back
"""

RETURN = r"""
passed:
  description: Whether no rule fired within the window; false while RV(done) is false.
  returned: always
  type: bool
decision:
  description:
    - The analysis's last verdict, V(promote), V(hold) (pending or too few requests, a pass here) or V(rollback);
      V(continue) while RV(done) is false.
  returned: always
  type: str
done:
  description: Whether the window is over or a rule fired; false only with O(report_every), when the module returns part way.
  returned: always
  type: bool
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
  description: Per pool (candidate is the live version) over the window, requests, 5xx, error rate, latency percentiles in ms.
  returned: always
  type: dict
series:
  description: The samples the rules were evaluated on.
  returned: always
  type: list
  elements: dict
fired_at:
  description: When the rule fired (seconds since the epoch on the host), or null.
  returned: always
  type: float
switched_back:
  description: Whether traffic was moved back to O(previous).
  returned: always
  type: bool
switched_back_at:
  description: When the route moved back (seconds since the epoch on the host), or null.
  returned: always
  type: float
elapsed_s:
  description: Seconds from O(since) to the verdict.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils import _analysis
from ansible_collections.nextgen.rollout.plugins.module_utils._files import refuse_unsafe_name
from ansible_collections.nextgen.rollout.plugins.module_utils._guard import GuardProblem, guard
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import LockHeld, renewer
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import SITE_PATHS_SPEC, SiteRefused, service_site
from ansible_collections.nextgen.rollout.plugins.module_utils._probe import fetch


def main():
    module = AnsibleModule(
        argument_spec=dict(
            _analysis.ARGUMENT_SPEC,
            **SITE_PATHS_SPEC,
            live=dict(type="str", required=True),
            previous=dict(type="str", required=True),
            since=dict(type="float"),
            window=dict(type="float", required=True),
            switch_back=dict(type="bool", default=True),
        ),
        required_by=_analysis.REQUIRED_BY,
        supports_check_mode=True,
    )
    refuse_unsafe_name(module, "service")
    p = module.params
    found = _analysis.problems(p, {"live": p["live"], "previous": p["previous"]})
    if p["window"] <= 0:
        found.append("window must be above 0 s (got %s)" % p["window"])
    if not p["service"]:
        found.append("service is required (it names the route file)")

    if found:
        module.fail_json(msg="release guard: %s" % "; ".join(found))
    renew = renewer(p["state_dir"], p["service"], None if module.check_mode else p["holder"], p["lease_ttl"])
    analysis = _analysis.from_params(p, p["live"], p["previous"], p["since"], p["window"], fetch, on_sample=renew)
    site = service_site(p["service"], p, module.run_command)
    previous_colour, previous_version = p["previous"].split("/")
    try:
        outcome = guard(analysis, site, previous_colour, previous_version,
                        switch_back=p["switch_back"] and not module.check_mode,
                        progress_path=_analysis.progress_path(p["state_dir"], p["service"]),
                        report_every=0 if module.check_mode else p["report_every"])
    except LockHeld as exc:
        module.fail_json(msg=str(exc), lock=exc.lock)
    except (GuardProblem, SiteRefused, OSError) as exc:
        module.fail_json(msg="the guard of %s could not switch back to %s: %s" % (p["service"], p["previous"], exc))
    module.exit_json(changed=outcome["switched_back"], **outcome)


if __name__ == "__main__":
    main()
