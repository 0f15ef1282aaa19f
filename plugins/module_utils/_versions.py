# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""What counts as a deployable version: a string usable as a docker image tag."""

from __future__ import annotations

import re

# Docker tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. A leading "v" or a digit is typical.
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def version_problem(version):
    """Return "" when ``version`` is a valid image tag, else a sentence saying what is wrong."""
    if version is None or (isinstance(version, str) and version.strip() == ""):
        return "no version given: pass -e target_version=X (for example 1.1.0)"
    if not isinstance(version, str):
        return "version %r is a %s, not a string: quote it (-e target_version='\"%s\"')" % (
            version, type(version).__name__, version)
    if not VERSION_PATTERN.match(version):
        return ("version %r is not a valid image tag: use letters, digits, '.', '_' and '-', "
                "at most 128 characters, not starting with '.' or '-'" % version)
    return ""
