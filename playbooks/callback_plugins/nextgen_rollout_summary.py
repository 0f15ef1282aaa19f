# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loads nextgen.rollout.summary for the playbooks of this directory, whatever the user's ansible.cfg
(a callback next to the playbooks needs no setting)."""

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.callback.summary import CallbackModule  # noqa: F401 pylint: disable=unused-import
