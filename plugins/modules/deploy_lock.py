#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_lock
short_description: Take, renew or release the per-host deploy lock (a lease) of a service
version_added: 1.0.0
description:
  - A deploy, canary, rollback or restore holds this lock on every host it changes, so that a second
    run refuses to start instead of interleaving with the first.
  - The lock is a lease. It names the holder (a run id), the controller and process of that run,
    why it is held, and when it expires. Taking it again as its holder renews it, and so does every
    write of M(nextgen.rollout.release_ledger) and every sample of M(nextgen.rollout.canary_analysis),
    so a lock stays held as long as its run is alive and counts as stale only once its lease expired.
  - Every read-decide-write of the lock holds C(flock) on a guard file. Breaking an expired lease is a
    compare-and-swap, and of several runs breaking the same lease exactly one wins.
  - A lease held by someone else is never taken over silently. An expired one is broken only with
    O(break_stale=true); one whose holder is known to be gone (O(takeover), for example a process of
    this controller that no longer exists) is taken over even before it expires.
options:
  service:
    description: Service the lock belongs to.
    type: str
    required: true
  state_dir:
    description: Directory holding the service's ledger and lock (one sub-directory per service).
    type: path
    default: /var/lib/nextgen-rollout
  state:
    description: V(present) takes (or renews) the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  holder:
    description: Who takes or releases the lock (a run id).
    type: str
    required: true
  reason:
    description: Why the lock is taken, recorded for whoever finds it held.
    type: str
    default: deploy
  lease_ttl:
    description: Seconds the lease lasts from this call (and from every renewal).
    type: int
    default: 300
  owner:
    description:
      - Where the holder runs, recorded in the lock, for example the C(controller) host name, the
        C(pid) of ansible-playbook and its C(pid_start) (as the nextgen.rollout.controller_run lookup returns).
    type: dict
    default: {}
  takeover:
    description: Holder whose lease is taken over even before it expires, because its run is known to be gone.
    type: str
  break_stale:
    description:
      - Break a lease held by another holder once it has expired.
      - With O(state=absent), release the lock whoever holds it.
    type: bool
    default: false
  retirement_wait:
    description:
      - Seconds to wait, with O(state=present), while the host's retirement timer holds the lock (holder
        C(retire-timer-<pid>)), as it does while it stops a warm colour whose window is over - up to that colour's
        stop grace period. Any other holder is refused at once.
      - V(0) refuses at once whoever holds it.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Reports whether the lock would be taken or refused without writing it.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: full
    description: Taking a lock one already holds (which renews its lease), or releasing an absent lock, changes nothing.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Take the deploy lock
  nextgen.rollout.deploy_lock:
    service: agent-loop
    holder: "awx-job-{{ awx_job_id | default('manual') }}"
    reason: "deploy 1.1.0"
    lease_ttl: 300
    owner: "{{ lookup('nextgen.rollout.controller_run') }}"

- name: Release it
  nextgen.rollout.deploy_lock:
    service: agent-loop
    holder: "awx-job-{{ awx_job_id | default('manual') }}"
    state: absent
"""

RETURN = r"""
lock:
  description: The lock as it stands after the task (null when released).
  returned: always
  type: dict
  sample: {"holder": "run-42", "reason": "deploy 1.1.0", "acquired": "2026-11-21T05:00:00.000000Z",
           "renewed": "2026-11-21T05:00:00.000000Z", "expires": "2026-11-21T05:05:00.000000Z", "ttl_s": 300,
           "controller": "ops-1", "pid": 4242, "pid_start": 123456}
broken_lock:
  description: The lease that was broken or taken over, if any.
  returned: when a lease was broken
  type: dict
waited_s:
  description: Seconds waited for the host's retirement timer to release the lock (O(retirement_wait)).
  returned: with O(state=present)
  type: float
  sample: 0.0
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._files import refuse_unsafe_name
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import (
    Lease, LockError, LockHeld, after_retirement, describe, utc_now)


def warn_waited(module, waited):
    if waited:
        module.warn("waited %s s for the host's retirement timer to release the deploy lock of %s (it was stopping a warm "
                    "colour whose window was over)" % (waited, module.params["service"]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            service=dict(type="str", required=True),
            state_dir=dict(type="path", default="/var/lib/nextgen-rollout"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            holder=dict(type="str", required=True),
            reason=dict(type="str", default="deploy"),
            lease_ttl=dict(type="int", default=300),
            owner=dict(type="dict", default={}),
            takeover=dict(type="str"),
            break_stale=dict(type="bool", default=False),
            retirement_wait=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    refuse_unsafe_name(module, "service")
    p = module.params
    if p["lease_ttl"] <= 0:
        module.fail_json(msg="lease_ttl must be above 0 s (got %s)" % p["lease_ttl"])
    lease = Lease(os.path.join(p["state_dir"], p["service"]), p["service"])
    try:
        current = lease.read()
        if p["state"] == "present":
            if module.check_mode:
                waited = after_retirement(lambda: lease.check(p["holder"], break_expired=p["break_stale"], takeover=p["takeover"]),
                                          p["retirement_wait"])[1]
                warn_waited(module, waited)
                current = lease.read() if waited else current
                module.exit_json(changed=current is None, lock=current, waited_s=waited)
            (changed, broken), waited = after_retirement(
                lambda: lease.acquire(p["holder"], p["reason"], p["lease_ttl"], p["owner"],
                                      break_expired=p["break_stale"], takeover=p["takeover"]), p["retirement_wait"])
            warn_waited(module, waited)
            result = dict(changed=changed, lock=lease.read(), waited_s=waited)
            if broken:
                result["broken_lock"] = broken
                module.warn("took over the deploy lock of %s from %r (%s)"
                            % (p["service"], broken.get("holder"), describe(broken, utc_now())))
            module.exit_json(**result)
        if current is None:
            module.exit_json(changed=False, lock=None)
        if module.check_mode:
            module.exit_json(changed=current.get("holder") == p["holder"] or p["break_stale"], lock=None)
        changed = lease.release(p["holder"], force=p["break_stale"])
        module.exit_json(changed=changed, lock=None)
    except LockHeld as exc:
        module.fail_json(msg=str(exc), lock=exc.lock)
    except (LockError, OSError) as exc:
        module.fail_json(msg="deploy lock of %s: %s" % (p["service"], exc))


if __name__ == "__main__":
    main()
