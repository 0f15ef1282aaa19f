# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nextgen.rollout.plugins.module_utils._retention import images_to_remove


def images_to_prune(images, repository, history, keep, in_use_ids):
    try:
        return images_to_remove(images, repository, history, int(keep), set(in_use_ids))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    """Image retention of a service on a host."""

    def filters(self):
        return {"images_to_prune": images_to_prune}
