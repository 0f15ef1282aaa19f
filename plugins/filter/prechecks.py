# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils._prechecks import release_problems


class FilterModule(object):
    """The pre-checks of a version that is not running yet, all at once."""

    def filters(self):
        return {"release_problems": release_problems}
