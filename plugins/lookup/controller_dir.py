# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: controller_dir
short_description: Where the collection keeps its files on the controller
version_added: 1.0.0
description:
  - Returns the directory for controller-side files that must outlive a run (the logging role's certificate
    authority, the fleet dashboard) - the variable C(rollout_controller_dir) when set, else the environment variable
    C(NEXTGEN_ROLLOUT_HOME), else C(~/.nextgen-rollout).
  - Under AWX, where C($HOME) is thrown away after every job, the job templates of C(awx/controller.yml) set
    C(rollout_controller_dir) to a place that lasts.
options: {}
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Where the dashboard goes
  ansible.builtin.debug:
    msg: "{{ lookup('nextgen.rollout.controller_dir') }}/status"
"""

RETURN = r"""
_raw:
  description: One path.
  type: list
  elements: str
"""

import os

from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        chosen = (variables or {}).get("rollout_controller_dir")
        if chosen:
            chosen = self._templar.template(chosen)
        return [chosen or os.environ.get("NEXTGEN_ROLLOUT_HOME") or os.path.expanduser("~/.nextgen-rollout")]
