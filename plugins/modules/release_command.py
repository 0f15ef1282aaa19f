#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_command
short_description: Run a release command (database migrations) in a one-off container of a new version, within a timeout
version_added: 1.0.0
description:
  - Runs O(command) once in a one-off container of the service O(service) of the compose project O(project) as
    O(definition) describes it (C(docker compose run --rm --no-deps -T)), so with that service's image, environment,
    env files, volumes and networks - a new version's database migrations before its colour starts.
  - The container is named O(name); one of that name left by a run that was stopped is removed first. A command
    that has not ended after O(timeout) seconds is stopped and its container removed.
  - Fails when the command exits with another code than 0 or times out, with a message that names the command, its
    exit code or the timeout, and its last O(output_lines) lines of output.
  - C(community.docker.docker_compose_v2_run) runs the same command but without a timeout that holds on every
    connection; this module bounds it on the host with C(timeout) (coreutils).
options:
  project:
    description: The compose project's name (C(<service>-<colour>)).
    type: str
    required: true
  definition:
    description: The compose project, as C(community.docker.docker_compose_v2)'s O(community.docker.docker_compose_v2#module:definition) takes it.
    type: dict
    required: true
  service:
    description: The service of O(definition) whose container runs the command.
    type: str
    default: app
  command:
    description: The command - a command line (split as a shell would), or a list of arguments.
    type: raw
    required: true
  name:
    description: The one-off container's name.
    type: str
    required: true
  version:
    description: The version the container runs, for the failure message; empty, the message names O(project).
    type: str
    default: ""
  timeout:
    description: Seconds the command has.
    type: float
    default: 300
  output_lines:
    description:
      - Lines of the command's output in the failure message, and whether its output is returned at all - 0 for a
        command that may print a secret (then RV(stdout) and RV(stderr) are empty).
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    description: Runs nothing and reports that the command would run.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: none
    description: Runs the command every time; the command itself decides what it changes (migration tools change nothing the second time).
requirements:
  - The docker CLI with the Compose v2 plugin on the host, and C(timeout) (coreutils).
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Migrate the database before the green colour of shop 1.4.0 starts
  nextgen.rollout.release_command:
    project: shop-green
    definition: "{{ shop_projects.green }}"
    command: [python3, manage.py, migrate]
    name: shop-green-release
    version: 1.4.0
    timeout: 600
"""

RETURN = r"""
rc:
  description: The command's exit code (124, 137 or -9 when it timed out).
  returned: success or failure, not in check mode
  type: int
stdout:
  description: What the command wrote to its standard output; empty when O(output_lines) is 0.
  returned: success or failure, not in check mode
  type: str
stderr:
  description: What it wrote to its standard error (without compose's own progress lines); empty when O(output_lines) is 0.
  returned: success or failure, not in check mode
  type: str
elapsed_s:
  description: Seconds the command took.
  returned: success or failure, not in check mode
  type: float
timed_out:
  description: Whether it was stopped after O(timeout) seconds.
  returned: success or failure, not in check mode
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._host_check import command_runner
from ansible_collections.nextgen.rollout.plugins.module_utils._release_command import (
    command_line, failure_report, release_command_problems, run_release_command)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project=dict(type="str", required=True),
            definition=dict(type="dict", required=True),
            service=dict(type="str", default="app"),
            command=dict(type="raw", required=True),
            name=dict(type="str", required=True),
            version=dict(type="str", default=""),
            timeout=dict(type="float", default=300),
            output_lines=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problems = release_command_problems(p["command"], p["timeout"]) or ([] if p["command"] else ["command is empty: give the release command"])
    if problems:
        module.fail_json(msg="; ".join(problems))
    if module.check_mode:
        module.exit_json(changed=True, msg="would run %s in a one-off container of %s" % (command_line(p["command"]), p["project"]))
    try:
        outcome = run_release_command(command_runner(module), p["project"], p["definition"], p["service"], p["command"],
                                      p["name"], p["timeout"])
    except OSError as exc:
        module.fail_json(msg="the release command could not run: %s" % exc)
    if p["output_lines"] <= 0:
        outcome.update(stdout="", stderr="")
    report = failure_report(outcome, p["command"], p["version"] or p["project"], p["timeout"], log_lines=p["output_lines"])
    if report:
        module.fail_json(msg=report, changed=True, **outcome)
    module.exit_json(changed=True, **outcome)


if __name__ == "__main__":
    main()
