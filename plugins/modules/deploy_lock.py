#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_lock
short_description: Take or release the per-host deploy lock of a service
version_added: 1.0.0
description:
  - A deploy or rollback holds this lock on every host it changes, so that a second run refuses
    to start instead of interleaving with the first.
  - The lock is a JSON file created atomically (O_EXCL) that records the holder, the reason and
    the time. A lock held by someone else is never taken over silently; a stale one (older than
    O(stale_after)) can be broken only with O(break_stale=true).
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
    description: V(present) takes the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  holder:
    description: Who takes or releases the lock (a run identifier).
    type: str
    required: true
  reason:
    description: Why the lock is taken, recorded for whoever finds it held.
    type: str
    default: deploy
  break_stale:
    description:
      - Break a lock held by another holder when it is older than O(stale_after).
      - With O(state=absent), release the lock whoever holds it.
    type: bool
    default: false
  stale_after:
    description: Age in seconds after which a lock counts as stale.
    type: int
    default: 900
attributes:
  check_mode:
    support: full
    description: Reports whether the lock would be taken or refused without writing it.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: full
    description: Taking a lock one already holds, or releasing an absent lock, changes nothing.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Take the deploy lock
  nextgen.rollout.deploy_lock:
    service: agent-loop
    holder: "awx-job-{{ awx_job_id | default('manual') }}"
    reason: "deploy 1.1.0"

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
  sample: {"holder": "awx-job-42", "reason": "deploy 1.1.0", "time": "2026-11-21T05:00:00.000000Z"}
broken_lock:
  description: The stale lock that was broken, if any.
  returned: when a stale lock was broken
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._ledger import (
    Ledger, LedgerError, LockHeld, iso, utc_now)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            service=dict(type="str", required=True),
            state_dir=dict(type="path", default="/var/lib/nextgen-rollout"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            holder=dict(type="str", required=True),
            reason=dict(type="str", default="deploy"),
            break_stale=dict(type="bool", default=False),
            stale_after=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    p = module.params
    ledger = Ledger(os.path.join(p["state_dir"], p["service"]), p["service"])
    try:
        current = ledger.read_lock()
        if p["state"] == "present":
            if module.check_mode:
                if current is not None and current.get("holder") != p["holder"]:
                    module.fail_json(msg="deploy lock of %s is held by %r since %s for: %s"
                                     % (p["service"], current.get("holder"), current.get("time"),
                                        current.get("reason")), lock=current)
                module.exit_json(changed=current is None,
                                 lock=current or {"holder": p["holder"], "reason": p["reason"], "time": iso(utc_now())})
            changed, broken = ledger.acquire(p["holder"], p["reason"], p["break_stale"], p["stale_after"])
            result = dict(changed=changed, lock=ledger.read_lock())
            if broken:
                result["broken_lock"] = broken
                module.warn("broke a stale deploy lock held by %r since %s" % (broken.get("holder"), broken.get("time")))
            module.exit_json(**result)
        if current is None:
            module.exit_json(changed=False, lock=None)
        if module.check_mode:
            module.exit_json(changed=True, lock=None)
        changed = ledger.release(p["holder"], force=p["break_stale"])
        module.exit_json(changed=changed, lock=None)
    except LockHeld as exc:
        module.fail_json(msg=str(exc), lock=exc.lock)
    except (LedgerError, OSError) as exc:
        module.fail_json(msg="deploy lock of %s: %s" % (p["service"], exc))


if __name__ == "__main__":
    main()
