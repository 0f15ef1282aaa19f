# -*- coding: utf-8 -*-
"""Every role's argument specs say its defaults as they really are (what ansible-doc shows an operator)."""

from __future__ import annotations

import glob
import os

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
               for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def templated(value):
    """Whether a default is worked out when the role runs (its specs can only describe it)."""
    if isinstance(value, dict):
        return any(templated(v) for v in value.values())
    if isinstance(value, list):
        return any(templated(v) for v in value)
    return isinstance(value, str) and "{{" in value


@pytest.mark.parametrize("role", ROLES)
def test_a_documented_default_is_the_role_default(role):
    defaults_file = os.path.join(ROOT, "roles", role, "defaults", "main.yml")
    defaults = load(defaults_file) if os.path.exists(defaults_file) else {}
    specs = load(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"))["argument_specs"]
    wrong = []
    for entry_point, spec in specs.items():
        for name, option in (spec.get("options") or {}).items():
            if name not in defaults or templated(defaults[name]) or option.get("required"):
                continue
            if option.get("default") != defaults[name]:
                wrong.append("%s %s: documented %r, defaults/main.yml %r" % (entry_point, name, option.get("default"), defaults[name]))
    assert not wrong, "\n".join(wrong)
