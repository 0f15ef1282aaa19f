# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils._prechecks import freeze_problem, release_problems, settings_problems


class FilterModule(object):
    """The pre-checks of a release, all at once: its settings, a version that is not running yet on a host,
    and a deploy freeze."""

    def filters(self):
        return {"release_problems": release_problems, "release_settings_problems": settings_problems,
                "release_freeze_problem": freeze_problem}
