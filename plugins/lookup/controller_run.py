# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: controller_run
short_description: Who runs this play on the controller (host, ansible-playbook pid and its start time)
version_added: 1.0.0
description:
  - Returns one dict, C(controller) (host name), C(pid) (of the ansible-playbook or ansible-runner
    process) and C(pid_start) (its start time in clock ticks since boot).
  - The deploy lock records it (M(nextgen.rollout.deploy_lock) O(nextgen.rollout.deploy_lock#module:owner)),
    so that a later run on the same controller can tell, with the P(nextgen.rollout.holder_gone#filter)
    filter, that the holder of a lock died and take the lock over at once.
options: {}
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Note who runs this play
  ansible.builtin.set_fact:
    run_owner: "{{ lookup('nextgen.rollout.controller_run') }}"
"""

RETURN = r"""
_raw:
  description: One dict with C(controller), C(pid) and C(pid_start).
  type: list
  elements: dict
"""

from ansible.plugins.lookup import LookupBase

from ansible_collections.nextgen.rollout.plugins.module_utils._process import run_owner


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [run_owner()]
