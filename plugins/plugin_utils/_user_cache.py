# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""What the controller's speed-ups share: their switch in the environment, and a directory of the
user's cache that nobody else can write in (what it holds is code the controller runs)."""

from __future__ import annotations

import os


def switched_off(variable):
    """True when the environment variable says off (off, 0, false, no)."""
    return os.environ.get(variable, "").lower() in ("off", "0", "false", "no")


def user_cache_dir(kind, version):
    """~/.cache/nextgen-rollout/<kind>/<version> ($XDG_CACHE_HOME moves it)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nextgen-rollout", kind, version)


def private_dir(path):
    """Make path (mode 0700) if needed; True when it belongs to this user and nobody else can write in it."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        status = os.stat(path)
    except OSError:
        return False
    return status.st_uid == os.geteuid() and not status.st_mode & 0o022
