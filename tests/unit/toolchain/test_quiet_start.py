# -*- coding: utf-8 -*-
"""The pinned toolchain starts without a Python warning: an operator sees only the run's own output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [
    ["ansible-playbook", "--syntax-check", "playbooks/status.yml"],
    ["ansible-doc", "-t", "role", "nextgen.rollout.blue_green"],
])
def test_an_ansible_command_prints_no_python_warning(command):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PYTHONWARNINGS="default")
    done = subprocess.run([str(BIN / command[0])] + command[1:], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Warning:" not in done.stderr, done.stderr
