# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils._staging import gate_problem


class FilterModule(object):
    """The staging gate's settings, checked before anything changes."""

    def filters(self):
        return {"staging_gate_problem": gate_problem}
