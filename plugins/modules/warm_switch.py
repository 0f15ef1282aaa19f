#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: warm_switch
short_description: Roll back to the warm colour in one call - lock, intent, switch, verify, record
version_added: 1.1.0
description:
  - The fast path of C(playbooks/rollback.yml). When the version to roll back to still runs warm on
    the idle colour and the host is exactly as the ledger says (nothing pending, no canary, nginx
    running its site, route file and running containers matching the ledger), it takes the deploy
    lock, writes the intent in the ledger, checks that the warm colour answers ready, moves the
    service's route file (nginx follows at its next request, no reload), waits until every answer
    through nginx comes from the target, records the release and releases the lock, in one call.
  - When the target is already live and the host is as the ledger says, it changes nothing and
    returns RV(already_live=true) with the RV(outcome) C(unchanged).
  - Otherwise it writes nothing and returns RV(switched=false) with the RV(reason); the caller then
    runs the full release process, which handles every other case (a repair, a cold target, a
    canary to abort, a held lock).
  - When the verification fails after the switch, the route is put back, the failure is recorded in
    the ledger and the task fails.
options:
  service:
    description: Service to roll back.
    type: str
    required: true
  state_dir:
    description: Directory of the services' ledgers and locks.
    type: path
    default: /var/lib/nextgen-rollout
  holder:
    description: Run id that takes the deploy lock.
    type: str
    required: true
  owner:
    description: Facts about the run stored in the lock (controller, process).
    type: dict
    default: {}
  lease_ttl:
    description: Seconds the lock's lease lasts.
    type: int
    default: 300
  target_version:
    description:
      - Version to roll back to.
      - Empty means the version live before the current one, when a deploy or a canary put the current one live. When
        a rollback or a restore did, it is already the way back - the call changes nothing and says so (RV(already_live)).
    type: str
    default: ""
  only_if_live:
    description:
      - Switch only while nginx serves this version (an automated rollback names the version it found bad).
        Otherwise change nothing and return RV(switched=false); the full process then says there is nothing to do.
      - Empty switches whatever is live.
    type: str
    default: ""
  warm_seconds:
    description: Seconds the colour that served until now stays warm after the switch.
    type: float
    default: 900
  ready_path:
    description: Readiness path of the service, asked on the warm colour's port before the switch.
    type: str
    default: /ready
  verify_url:
    description: URL of the service through nginx, from the host.
    type: str
    required: true
  verify_headers:
    description: Headers of the verification requests (for example the C(Host) of a named site).
    type: dict
    default: {}
  served_header:
    description: Response header in which nginx says which C(<colour>/<version>) answered.
    type: str
    default: X-Served-By
  app_version_header:
    description: Header in which the application states its version, checked too when set.
    type: str
    default: ""
  verify_timeout:
    description: Seconds to wait until five answers in a row come from the target.
    type: float
    default: 15
extends_documentation_fragment:
  - nextgen.rollout.ledger_metrics
  - nextgen.rollout.site_paths
attributes:
  check_mode:
    support: none
    description: A rollback in check mode takes the full release process, which predicts its changes.
  diff_mode:
    support: none
    description: Moves a route; the full process shows the diffs.
  idempotent:
    support: full
    description: A second call finds the target live and returns RV(switched=false).
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Roll back by a warm switch when the host allows it
  nextgen.rollout.warm_switch:
    service: agent-loop
    holder: "{{ run_id }}"
    verify_url: http://127.0.0.1/
  register: fast

- name: Otherwise take the full path
  ansible.builtin.debug:
    msg: "{{ fast.reason }}"
  when: not (fast.switched or fast.already_live)
"""

RETURN = r"""
switched:
  description: Whether traffic moved to the target.
  returned: always
  type: bool
already_live:
  description: Whether the target was already live, with nothing to repair (nothing was changed).
  returned: always
  type: bool
reason:
  description: Why traffic did not move. Unless RV(already_live), the full release process takes over.
  returned: when not switched
  type: str
outcome:
  description:
    - The release outcome, as the role C(nextgen.rollout.blue_green) reports it in C(blue_green_outcome)
      (action, result C(succeeded) or C(unchanged), version, live_colour, traffic_switched, message).
  returned: when switched or already_live
  type: dict
version:
  description: Version now live.
  returned: when switched or already_live
  type: str
from_version:
  description: Version that was live.
  returned: when switched
  type: str
colour:
  description: Colour now live.
  returned: when switched or already_live
  type: str
from_colour:
  description: Colour that was live, kept warm.
  returned: when switched
  type: str
switched_at:
  description: When the route moved, in seconds since the epoch on the host.
  returned: when switched
  type: float
verification:
  description: Figures of the verification through nginx.
  returned: when switched
  type: dict
readiness:
  description: Figures of the warm colour's readiness check.
  returned: when switched
  type: dict
ledger:
  description: The ledger's summary after the release (live and idle colours and versions).
  returned: when switched or already_live
  type: dict
"""

import functools

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._files import refuse_unsafe_name
from ansible_collections.nextgen.rollout.plugins.module_utils._ledger import LedgerError, summary
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import SITE_PATHS_SPEC, service_site
from ansible_collections.nextgen.rollout.plugins.module_utils._probe import (
    ProbeSpec, fetch as fetch_url, wait_until_healthy)
from ansible_collections.nextgen.rollout.plugins.module_utils._release import Release, docker_running_colours
from ansible_collections.nextgen.rollout.plugins.module_utils._warm_switch import NotHere, SwitchFailed, release_outcome, warm_rollback


def probe(spec, fetch, timeout, interval, threshold):
    result = wait_until_healthy(spec, fetch, timeout, interval, threshold)
    return result["healthy"], dict((k, result[k]) for k in ("attempts", "elapsed_s") if k in result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            SITE_PATHS_SPEC,
            service=dict(type="str", required=True),
            state_dir=dict(type="path", default="/var/lib/nextgen-rollout"),
            metrics_dir=dict(type="path", default="/var/lib/prometheus/node-exporter"),
            holder=dict(type="str", required=True),
            owner=dict(type="dict", default={}),
            lease_ttl=dict(type="int", default=300),
            target_version=dict(type="str", default=""),
            only_if_live=dict(type="str", default=""),
            warm_seconds=dict(type="float", default=900),
            ready_path=dict(type="str", default="/ready"),
            verify_url=dict(type="str", required=True),
            verify_headers=dict(type="dict", default={}),
            served_header=dict(type="str", default="X-Served-By"),
            app_version_header=dict(type="str", default=""),
            verify_timeout=dict(type="float", default=15),
        ),
        supports_check_mode=False,
    )
    refuse_unsafe_name(module, "service")
    p = module.params
    site = service_site(p["service"], p, module.run_command)
    nginx_fetch = functools.partial(fetch_url, headers=p["verify_headers"], validate_certs=False)

    def ready(port):
        if not p["ready_path"]:
            return True, {}
        spec = ProbeSpec("http://127.0.0.1:%d%s" % (int(port), p["ready_path"]), timeout=2)
        return probe(spec, fetch_url, 10, 0.5, 1)

    def verify(served):
        expect = {p["served_header"]: served}
        if p["app_version_header"]:
            expect[p["app_version_header"]] = served.split("/", 1)[1]
        spec = ProbeSpec(p["verify_url"], expect_header=expect, timeout=2, version_header=p["served_header"])
        return probe(spec, nginx_fetch, p["verify_timeout"], 0.01, 5)

    try:
        try:
            running = docker_running_colours(module.run_command, p["service"])
        except OSError as exc:
            raise NotHere(str(exc))
        outcome = warm_rollback(Release(p["state_dir"], p["service"], metrics_dir=p["metrics_dir"] or None), site, p["holder"], p["owner"], p["lease_ttl"],
                                running, p["target_version"], p["warm_seconds"], ready, verify,
                                only_if_live=p["only_if_live"])
    except NotHere as exc:
        module.exit_json(changed=False, switched=False, already_live=False, reason=str(exc))
    except SwitchFailed as exc:
        module.fail_json(msg="rollback of %s failed: %s The attempt is in the ledger." % (p["service"], exc),
                         switched=False)
    except (LedgerError, OSError) as exc:
        module.fail_json(msg="rollback of %s: %s" % (p["service"], exc), switched=False)
    result = dict((key, value) for key, value in outcome.items() if key not in ("ledger", "already_live"))
    result.update(outcome=release_outcome(p["service"], outcome), ledger=summary(outcome["ledger"]))
    if outcome.get("already_live"):
        module.exit_json(changed=False, switched=False, already_live=True, reason=result["outcome"]["message"], **result)
    module.exit_json(changed=True, switched=True, already_live=False, **result)


if __name__ == "__main__":
    main()
