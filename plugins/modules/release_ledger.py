#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_ledger
short_description: Read, reconcile or move the per-host release ledger of a service
version_added: 1.0.0
description:
  - The ledger is a JSON file (mode 0600, directory 0700) that says which colour is live with which
    version, what each colour holds, the canary in progress, the transition in progress, and the
    history of every deploy, switch, rollback, canary step, abort, retirement and failure with its figures.
  - Every change is a verb (O(action)) applied by this module, never an entry assembled by the
    caller. The intended transition is written with V(begin) before any container or traffic moves,
    so that a run killed anywhere leaves a ledger the next run can reconcile.
  - V(reconcile) reads what the host really does (where nginx sends the service's traffic, from its
    route file, or the routing line of a site written before route files existed; the running
    containers, given in O(containers) or listed with C(docker ps)) and brings the ledger in line; a site file left
    unloaded by a killed run is tested and reloaded first. It returns the repairs still to apply
    (RV(route) to rewrite the route, RV(stop) colours to take down). When it lists the containers
    itself, it removes the one-off container of a release command that a killed run left running
    (under the deploy lock no other run of the service has one) and says so in RV(findings).
    In check mode it only reports, which is the read-only status.
  - Every write checks that O(holder) still holds the deploy lock and renews its lease.
  - Writes are atomic (temporary file, fsync, rename).
options:
  service:
    description: Service the ledger belongs to.
    type: str
    required: true
  state_dir:
    description: Directory holding one sub-directory per service.
    type: path
    default: /var/lib/nextgen-rollout
  action:
    description:
      - V(read) returns the ledger and the lock. V(reconcile) aligns the ledger with the host.
      - V(begin) writes the intended transition (O(op) puts O(version) live on O(colour)).
        V(phase) notes how far it got. V(switched) says traffic is on O(colour) now.
        V(succeeded) closes it (new colour live, old colour warm for O(warm_seconds), canary cleared).
        V(failed) closes it as failed (traffic stays where it is).
      - V(canary_share) notes the share about to be sent to the candidate (before nginx changes);
        V(canary_verdict) records a step's analysis (O(analysis)), holding when O(hold), noting the abort (phase V(aborting)) on a verdict of rollback;
        V(canary_resume) takes a held or interrupted canary up again; V(canary_end) ends it with O(result).
      - V(retired) notes that the warm O(colour) was taken down.
      - V(freeze) refuses new versions (a deploy freeze, with O(reason), for O(freeze_hours) or until V(unfreeze)) -
        the pre-checks of a deploy and of a canary's start or resume read it and stop; rollbacks, restores and canary
        aborts still run. V(unfreeze) lifts it (nothing to do without one). Both are in the history, with the holder.
    type: str
    choices: [read, reconcile, begin, phase, switched, succeeded, failed, canary_share, canary_verdict,
              canary_resume, canary_end, retired, freeze, unfreeze]
    default: read
  holder:
    description:
      - Run id that holds the deploy lock (M(nextgen.rollout.deploy_lock)). Required for every action
        but V(read) and a check-mode V(reconcile); the lease is renewed for O(lease_ttl) seconds.
    type: str
  lease_ttl:
    description: Seconds the lease lasts from this call.
    type: int
    default: 300
  op:
    description: Operation of a V(begin).
    type: str
    choices: [deploy, rollback, canary, restore]
  colour:
    description: Colour of V(begin), V(switched) and V(retired).
    type: str
    choices: [blue, green]
  version:
    description: Version of V(begin) and V(switched).
    type: str
  fresh:
    description: With V(begin), whether the colour's containers are (re)created for the transition.
    type: bool
    default: false
  phase:
    description: Name of the phase for V(phase), for example V(switching) or V(aborting).
    type: str
  details:
    description: Figures kept with the history entry (V(begin), V(succeeded), V(failed), V(canary_end)), or facts of V(phase).
    type: dict
  reason:
    description: Why, for V(failed), V(canary_end), V(retired), V(freeze) (required) and V(unfreeze).
    type: str
  freeze_hours:
    description: With V(freeze), hours after which the freeze no longer holds; omitted, it holds until V(unfreeze).
    type: float
  failed_task:
    description: Task that failed, for V(failed).
    type: str
  colour_kept:
    description:
      - For V(failed) - the colour's containers were never replaced (the release command failed before they started),
        so the colour keeps what the ledger said it held (a warm version, its retirement) instead of being marked failed.
    type: bool
    default: false
  warm_seconds:
    description: Seconds the old colour stays warm after V(succeeded) (0 retires it), and for V(reconcile).
    type: float
    default: 900
  step:
    description: Index of the canary step, for V(canary_share).
    type: int
  share:
    description: Share of clients in %, for V(canary_share).
    type: float
  steps:
    description: Steps of the canary, for V(canary_share).
    type: list
    elements: dict
  hash_key:
    description: nginx variable the canary split hashes, for V(canary_share).
    type: str
  analysis:
    description: Result of M(nextgen.rollout.canary_analysis), for V(canary_verdict).
    type: dict
  hold:
    description: With V(canary_verdict), hold the canary at this step when it passed.
    type: bool
    default: false
  route_back:
    description:
      - With V(canary_verdict) and a verdict of V(rollback), also send every client back to the stable
        version in the same call, right after the ledger notes the abort, by rewriting the service's route
        file in O(route_dir) (canary share 0, no nginx reload). RV(routed_at) says when.
    type: bool
    default: false
  result:
    description: Result of V(canary_end).
    type: str
    default: aborted
  containers:
    description:
      - Running containers, from community.docker.docker_host_info with C(verbose_output=true), for V(reconcile).
      - Omitted, the module lists the service's running containers itself with C(docker ps), in the same call.
    type: list
    elements: dict
  ports:
    description: Loopback port of each colour, for V(reconcile).
    type: dict
    default: {blue: 8001, green: 8002}
  site_conf_dir:
    description: Directory of the service's nginx site (C(<service>.conf)), for V(reconcile).
    type: path
    default: /etc/nginx/conf.d
  route_dir:
    description:
      - Directory of the service's route file (C(<service>.json)), which says where nginx sends its traffic.
      - Used by V(read), V(reconcile) and O(route_back).
    type: path
    default: /etc/nginx/nextgen-rollout/routes
  nginx_test_command:
    description: Command that tests the nginx config, when V(reconcile) reloads a site left unloaded.
    type: list
    elements: str
    default: [nginx, -t]
extends_documentation_fragment:
  - nextgen.rollout.ledger_metrics
attributes:
  check_mode:
    support: full
    description: Returns the ledger the action would write, without writing it or renewing the lease.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: partial
    description: V(read) and a V(reconcile) of a consistent host change nothing; the verbs append history.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Read the ledger
  nextgen.rollout.release_ledger:
    service: agent-loop
  register: ledger

- name: Write the intent before anything moves
  nextgen.rollout.release_ledger:
    service: agent-loop
    action: begin
    holder: "{{ run_id }}"
    op: deploy
    colour: green
    version: 1.1.0
    fresh: true

- name: Close it once traffic is verified
  nextgen.rollout.release_ledger:
    service: agent-loop
    action: succeeded
    holder: "{{ run_id }}"
    warm_seconds: 900
"""

RETURN = r"""
ledger:
  description: The whole ledger after the task.
  returned: always
  type: dict
lock:
  description: The deploy lock (lease) of the service, null when free.
  returned: always
  type: dict
routed:
  description:
    - What nginx sends every client to, from the route file, C(colour) and C(version); null without a route. After a
      release that failed once traffic had moved, it differs from the ledger's live version until the next run reconciles.
  returned: when O(action=read)
  type: dict
routed_at:
  description: When O(route_back) sent every client back to the stable version, in seconds since the epoch on the host (null without a route file).
  returned: when O(route_back) acted on a verdict of rollback
  type: float
live_colour:
  description: Colour serving traffic (null before the first deploy).
  returned: always
  type: str
live_version:
  description: Version serving traffic.
  returned: always
  type: str
previous_version:
  description: Version that was live before the current one.
  returned: always
  type: str
rollback_to:
  description:
    - Version a rollback that names no version goes to - the one live before the current one, when a deploy or a canary
      put the current one live; null when there is none, or when RV(rollback_stays).
  returned: always
  type: str
rollback_stays:
  description:
    - True when a rollback or a restore put the current version live - it is already the way back, and a rollback
      that names no version changes nothing (going back again would bring back the version just left).
  returned: always
  type: bool
rollback_note:
  description: RV(rollback_to) or RV(rollback_stays) in words, for the messages.
  returned: always
  type: str
idle_colour:
  description: Colour a deploy would use next.
  returned: always
  type: str
idle_version:
  description: Version the idle colour last held.
  returned: always
  type: str
idle_state:
  description: State of the idle colour (V(empty), V(starting), V(warm), V(retired), V(failed), V(aborted)).
  returned: always
  type: str
deployed_versions:
  description: Versions that were successfully deployed at some point, oldest first.
  returned: always
  type: list
  elements: str
canary:
  description: The canary in progress (held, running or interrupted), null when there is none.
  returned: always
  type: dict
pending:
  description: The transition in progress, null when there is none.
  returned: always
  type: dict
freeze:
  description:
    - The deploy freeze (C(reason), C(by), C(since), C(until)), null when there is none; one past its C(until) no
      longer holds.
  returned: always
  type: dict
findings:
  description: What V(reconcile) found out of line, and how it was repaired.
  returned: with O(action=reconcile)
  type: list
  elements: str
route:
  description: Routing the site must be rewritten to (C(live), C(canary), C(share)), null when it is right.
  returned: with O(action=reconcile)
  type: dict
stop:
  description: Colours whose containers must be taken down.
  returned: with O(action=reconcile)
  type: list
  elements: str
canary_aborted:
  description: Whether the reconciliation finished the abort of a canary that a killed run had begun.
  returned: with O(action=reconcile)
  type: bool
put_back:
  description:
    - Colours that keep the warm version they held because a killed run never replaced their containers (it
      ended during its release command, say); the compose file and secret environment that run kept of each
      (M(nextgen.rollout.private_files)'s C(keep_previous)) must be put back.
  returned: with O(action=reconcile)
  type: list
  elements: str
site_route:
  description: Routing the service's nginx site declares.
  returned: with O(action=reconcile)
  type: dict
nginx_loaded:
  description: Whether nginx runs the content of the site file.
  returned: with O(action=reconcile)
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._files import refuse_unsafe_name
from ansible_collections.nextgen.rollout.plugins.module_utils._ledger import LedgerError, summary
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import LockError
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import SiteRefused, service_site
from ansible_collections.nextgen.rollout.plugins.module_utils._reconcile import Refused
from ansible_collections.nextgen.rollout.plugins.module_utils._release import (
    TRANSITIONS, Release, colours_of, docker_service_containers, remove_left_one_offs)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            service=dict(type="str", required=True),
            state_dir=dict(type="path", default="/var/lib/nextgen-rollout"),
            metrics_dir=dict(type="path", default="/var/lib/prometheus/node-exporter"),
            action=dict(type="str", default="read", choices=["read", "reconcile"] + list(TRANSITIONS)),
            holder=dict(type="str"),
            lease_ttl=dict(type="int", default=300),
            op=dict(type="str", choices=["deploy", "rollback", "canary", "restore"]),
            colour=dict(type="str", choices=["blue", "green"]),
            version=dict(type="str"),
            fresh=dict(type="bool", default=False),
            phase=dict(type="str"),
            details=dict(type="dict"),
            reason=dict(type="str"),
            freeze_hours=dict(type="float"),
            failed_task=dict(type="str"),
            colour_kept=dict(type="bool", default=False),
            warm_seconds=dict(type="float", default=900),
            step=dict(type="int"),
            share=dict(type="float"),
            steps=dict(type="list", elements="dict"),
            hash_key=dict(type="str", no_log=False),
            analysis=dict(type="dict"),
            hold=dict(type="bool", default=False),
            route_back=dict(type="bool", default=False),
            result=dict(type="str", default="aborted"),
            containers=dict(type="list", elements="dict"),
            ports=dict(type="dict", default={"blue": 8001, "green": 8002}),
            site_conf_dir=dict(type="path", default="/etc/nginx/conf.d"),
            route_dir=dict(type="path", default="/etc/nginx/nextgen-rollout/routes"),
            nginx_test_command=dict(type="list", elements="str", default=["nginx", "-t"]),
        ),
        required_if=[
            ("action", "begin", ("holder", "op", "colour", "version")),
            ("action", "switched", ("holder", "colour", "version")),
            ("action", "phase", ("holder", "phase")),
            ("action", "canary_share", ("holder", "step", "share", "steps", "hash_key")),
            ("action", "canary_verdict", ("holder", "analysis")),
            ("action", "retired", ("holder", "colour")),
            ("action", "freeze", ("holder", "reason")),
        ],
        supports_check_mode=True,
    )
    refuse_unsafe_name(module, "service")
    p = module.params
    action = p["action"]
    if action in TRANSITIONS and not p["holder"]:
        module.fail_json(msg="action %s needs holder: the run id that holds the deploy lock" % action)
    if action == "reconcile" and not p["holder"] and not module.check_mode:
        module.fail_json(msg="a reconcile that repairs needs holder (the deploy lock); run it in check mode to only read")
    site = None
    if action in ("read", "reconcile") or (action == "canary_verdict" and p["route_back"]):
        site = service_site(p["service"], p, module.run_command, test_command=p["nginx_test_command"])
    release = Release(p["state_dir"], p["service"], metrics_dir=p["metrics_dir"] or None)
    try:
        running, containers = None, None
        if action == "reconcile" and p["containers"] is None:
            containers = docker_service_containers(module.run_command, p["service"])
            running = colours_of(containers)
        changed, document, extra = release.run(action, p, module.check_mode, site=site, running=running)
        if containers and not module.check_mode:
            removed, findings = remove_left_one_offs(module.run_command, containers)
            extra["findings"] = extra["findings"] + findings
            changed = changed or removed
    except Refused as exc:
        module.fail_json(msg="%s on this host: %s. Nothing was changed." % (p["service"], exc))
    except LockError as exc:
        module.fail_json(msg=str(exc), lock=getattr(exc, "lock", None))
    except SiteRefused as exc:
        module.fail_json(msg="nginx site of %s: %s" % (p["service"], exc))
    except (LedgerError, OSError) as exc:
        module.fail_json(msg="release ledger of %s: %s" % (p["service"], exc))
    result = dict(summary(document), **extra)
    module.exit_json(changed=changed, ledger=document, **result)


if __name__ == "__main__":
    main()
