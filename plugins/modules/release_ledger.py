#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_ledger
short_description: Read or append to the per-host release ledger of a service
version_added: 1.0.0
description:
  - The ledger is a JSON file (mode 0600, directory 0700) that says which colour is live with which
    version, what each colour holds, and keeps the history of every deploy, switch, rollback and
    failure with its figures.
  - Writes are atomic (temporary file, fsync, rename).
  - Both actions return the derived facts a playbook branches on (live and idle colour, versions,
    the previous version).
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
    description: V(read) returns the ledger; V(record) appends O(entry) and updates O(live) and O(colours).
    type: str
    choices: [read, record]
    default: read
  entry:
    description:
      - History entry to append, for example C(action), C(version), C(from_version), C(colour),
        C(result) (V(succeeded) or V(failed)), C(message), C(details).
      - Required with O(action=record).
    type: dict
  live:
    description: New live colour and version, set with the entry.
    type: dict
    suboptions:
      colour:
        description: Live colour.
        type: str
        choices: [blue, green]
        required: true
      version:
        description: Live version.
        type: str
        required: true
  colours:
    description: "Facts to merge into each colour's record, for example C({green: {version: 1.1.0, state: warm}})."
    type: dict
  canary:
    description:
      - The canary in progress (for example version, colour, step, share, state), set with the entry.
        An empty dict clears it.
    type: dict
attributes:
  check_mode:
    support: full
    description: With O(action=record), returns the ledger it would write without writing it.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: none
    description: V(record) appends an entry each time it runs; V(read) never changes anything.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Read the ledger
  nextgen.rollout.release_ledger:
    service: agent-loop
  register: ledger

- name: Record a successful deploy
  nextgen.rollout.release_ledger:
    service: agent-loop
    action: record
    entry:
      action: deploy
      version: 1.1.0
      from_version: 1.0.0
      colour: green
      result: succeeded
    live:
      colour: green
      version: 1.1.0
    colours:
      green: {version: 1.1.0, state: live}
      blue: {version: 1.0.0, state: warm}
"""

RETURN = r"""
ledger:
  description: The whole ledger after the task.
  returned: always
  type: dict
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
idle_colour:
  description: Colour a deploy would use next.
  returned: always
  type: str
idle_version:
  description: Version the idle colour last held.
  returned: always
  type: str
idle_state:
  description: State of the idle colour (V(empty), V(warm), V(retired), V(failed)).
  returned: always
  type: str
deployed_versions:
  description: Versions that were successfully deployed at some point, oldest first.
  returned: always
  type: list
  elements: str
canary:
  description: The canary in progress (held at a step, or running), null when there is none.
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._ledger import Ledger, LedgerError, summary


def main():
    module = AnsibleModule(
        argument_spec=dict(
            service=dict(type="str", required=True),
            state_dir=dict(type="path", default="/var/lib/nextgen-rollout"),
            action=dict(type="str", choices=["read", "record"], default="read"),
            entry=dict(type="dict"),
            live=dict(type="dict", options=dict(
                colour=dict(type="str", choices=["blue", "green"], required=True),
                version=dict(type="str", required=True),
            )),
            colours=dict(type="dict"),
            canary=dict(type="dict"),
        ),
        required_if=[("action", "record", ("entry",))],
        supports_check_mode=True,
    )
    p = module.params
    ledger = Ledger(os.path.join(p["state_dir"], p["service"]), p["service"])
    try:
        document = ledger.load()
        changed = False
        if p["action"] == "record":
            document = ledger.record(document, p["entry"], live=p["live"], colours=p["colours"],
                                     canary=p["canary"])
            changed = True
            if not module.check_mode:
                ledger.save(document)
    except (LedgerError, OSError) as exc:
        module.fail_json(msg="release ledger of %s: %s" % (p["service"], exc))
    module.exit_json(changed=changed, ledger=document, **summary(document))


if __name__ == "__main__":
    main()
