# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils._process import holder_gone


class FilterModule(object):
    """Deploy lock helpers that run on the controller."""

    def filters(self):
        return {"holder_gone": holder_gone}
