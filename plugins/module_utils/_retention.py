# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Which images of a service a host keeps: everything a rollback may need.

Kept: the images of the last ``keep`` versions that went live (from the ledger's history, newest
first, the live one included), and every image a container uses (running or stopped: a warm
colour). Every other image of the service's repository may go.
"""

from __future__ import annotations


def kept_versions(history, keep):
    """The last ``keep`` distinct versions that a release put live, newest first."""
    versions = []
    for entry in reversed(history or []):
        if entry.get("result") != "succeeded" or entry.get("action") in ("retire", "canary-step"):
            continue
        version = entry.get("version")
        if version and version not in versions:
            versions.append(version)
        if len(versions) >= keep:
            break
    return versions


def images_to_remove(images, repository, history, keep, in_use_ids):
    """Ids of the images of ``repository`` that no kept version and no container needs.

    ``images``: docker's image list entries (Id, RepoTags, RepoDigests)."""
    if keep < 1:
        raise ValueError("keep must be at least 1 (the live version), got %r" % (keep,))
    wanted_versions = kept_versions(history, keep)
    wanted_refs = set("%s:%s" % (repository, v) for v in wanted_versions)
    for entry in history or []:
        image = (entry.get("details") or {}).get("image")
        if entry.get("version") in wanted_versions and image:
            wanted_refs.add(image)
    remove = []
    for image in images:
        refs = list(image.get("RepoTags") or []) + list(image.get("RepoDigests") or [])
        ours = [r for r in refs if r.startswith(repository + ":") or r.startswith(repository + "@")]
        if not ours or image["Id"] in in_use_ids or wanted_refs.intersection(refs):
            continue
        remove.append(image["Id"])
    return sorted(remove)
