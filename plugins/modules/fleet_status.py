#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_status
short_description: One view of the fleet from each host's status - a table, a JSON file and an HTML dashboard
version_added: 1.0.0
description:
  - Takes the status every host reported (the C(status) action of nextgen.rollout.blue_green, with its ledger) and makes
    one report - per host the service, live version and colour, image digest, warm version, where
    C(playbooks/rollback.yml) without a version would take it (C(rollback), the filter
    P(nextgen.rollout.fleet_rollback_plan#filter) over the hosts of the report), canary share, last release and its
    outcome, its deploy freeze while it holds, and the drift between the ledger and the host; the
    versions across the fleet; how many hosts serve the newest version, per wave; the recent releases with their
    figures; and the DORA figures the
    ledgers allow (deployment frequency, lead time where the image's creation time is known, change failure rate,
    time to restore).
  - Writes C(fleet-status.json) and a self-contained C(fleet-status.html) (no script, nothing fetched) in O(dest),
    and returns the report and its table. Meant to run on the controller (C(playbooks/status.yml) does).
  - The logic is in module_utils/_fleet.py.
options:
  statuses:
    description: Host name to the status it reported (C(blue_green_outcome) of the C(status) action).
    type: dict
    required: true
  dest:
    description: Directory the JSON file and the dashboard go to; made when missing.
    type: path
    required: true
  waves:
    description: The hosts of each wave, to count progress per wave (C(nextgen.rollout.wave_plan)); one wave of every host by default.
    type: list
    elements: list
    default: []
  window_days:
    description: Days of history the DORA figures cover.
    type: int
    default: 30
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Write the fleet's dashboard
  nextgen.rollout.fleet_status:
    statuses: "{{ dict(groups['rollout_targets'] | zip(groups['rollout_targets'] | map('extract', hostvars, 'blue_green_outcome'))) }}"
    dest: /var/lib/nextgen-rollout-controller/status
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
report:
  description: The report (hosts, versions, newest_version, progress, done, total, recent, dora, rollback_problem, drifting, frozen), as in the JSON file.
  returned: always
  type: dict
lines:
  description: The host table and the progress and DORA lines, as text.
  returned: always
  type: list
  elements: str
json:
  description: Path of the JSON file (not written in check mode).
  returned: always
  type: str
html:
  description: Path of the dashboard (not written in check mode).
  returned: always
  type: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._fleet import fleet_report, table_lines, write_report


def main():
    module = AnsibleModule(
        argument_spec=dict(
            statuses=dict(type="dict", required=True),
            dest=dict(type="path", required=True),
            waves=dict(type="list", elements="list", default=[]),
            window_days=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["window_days"] < 1:
        module.fail_json(msg="window_days must be 1 or more, got %d" % p["window_days"])
    report = fleet_report(p["statuses"], time.time(), p["waves"] or None, p["window_days"])
    paths = {"json": os.path.join(p["dest"], "fleet-status.json"), "html": os.path.join(p["dest"], "fleet-status.html")}
    changed = False
    if not module.check_mode:
        try:
            written = write_report(p["dest"], report)
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot write the fleet status in %s: %s; give a writable rollout_status_dir" % (p["dest"], exc))
        changed = written["changed"]
    module.exit_json(changed=changed, report=report, lines=table_lines(report), **paths)


if __name__ == "__main__":
    main()
