# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils._versions import version_problem


class FilterModule(object):
    """Version checks for deploy and rollback input."""

    def filters(self):
        return {"version_problem": version_problem}
