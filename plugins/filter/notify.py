# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nextgen.rollout.plugins.module_utils._notify import NotifyError, release_event


def rollout_release_event(outcomes, success="completed"):
    try:
        return release_event(outcomes, success)
    except NotifyError as exc:
        raise AnsibleFilterError("release_event: %s" % exc)


class FilterModule(object):
    """The event a notification reports for a run's outcomes."""

    def filters(self):
        return {"release_event": rollout_release_event}
