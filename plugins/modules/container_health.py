#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: container_health
short_description: Wait until the containers of a compose project are healthy, without waiting for docker's first check
version_added: 1.1.0
description:
  - Docker before version 25 (Debian 12 ships 20.10) runs a container's first healthcheck one whole
    interval after the start, so a service ready in one second whose healthcheck runs every 30 s
    stays C(starting) for 30 s, and C(docker compose up --wait) waits as long.
  - This module runs each container's own healthcheck (the test docker would run, through
    C(docker exec), so with the same user and environment, within the check's own timeout) as soon
    as the container runs, and again until it passes, every O(interval) seconds at first, then
    every quarter of the time waited so far, at most every O(max_interval) seconds (a service slow
    to start is not checked four times a second until the timeout). Docker's own verdict counts too
    when it comes first.
  - A container that exits, that docker restarted three times (a crash loop; one crash as it starts,
    its database not up yet, is waited out), or that docker finds C(unhealthy) fails the wait at once,
    naming it and, for a healthcheck, its last output. A container without a healthcheck (or with
    one turned off) is ready when it runs.
  - Use it after C(community.docker.docker_compose_v2) with O(community.docker.docker_compose_v2#module:wait=false).
options:
  project:
    description: The compose project's name; its containers are those labelled C(com.docker.compose.project=<project>).
    type: str
    required: true
  services:
    description:
      - The services of the project to wait for (their containers are labelled C(com.docker.compose.service=<service>)),
        as compose's own wait does; a container left by a service no longer in the definition (an orphan) is not
        waited for.
      - Empty, every container of the project.
    type: list
    elements: str
    default: []
  timeout:
    description: Longest wait, in seconds.
    type: float
    default: 60
  interval:
    description: Seconds between two rounds of checks at first.
    type: float
    default: 0.25
  max_interval:
    description:
      - Longest pause between two rounds of checks. Past O(interval), the pause is a quarter of the time
        waited so far, so a container is found ready at most 25 % (and at most O(max_interval) seconds) late.
    type: float
    default: 1
attributes:
  check_mode:
    support: full
    description: Reports what docker says of each container now, runs no healthcheck and does not wait or fail.
  diff_mode:
    support: none
    description: Changes nothing.
  idempotent:
    support: full
    description: Changes nothing; a healthcheck runs inside the container as docker would run it.
requirements:
  - The docker CLI on the host, and C(timeout) (coreutils).
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Start the green project of the shop without waiting for docker's clock
  community.docker.docker_compose_v2:
    project_src: /srv/shop/green
    state: present
    wait: false

- name: Wait until its containers are healthy
  nextgen.rollout.container_health:
    project: shop-green
    services: [app]
    timeout: 60
"""

RETURN = r"""
healthy:
  description: Whether every container of the project is ready.
  returned: always
  type: bool
waited_s:
  description: Seconds from the first look at the containers to the verdict (0 when they were all ready at once).
  type: float
  returned: always
containers:
  description: For each container, how it became ready (docker's check, its healthcheck run at once, or running without one) or why not.
  returned: always
  type: dict
  sample: {"shop-green-app-1": "healthy (its healthcheck, run at once)"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._container_health import docker_project, wait_healthy
from ansible_collections.nextgen.rollout.plugins.module_utils._host_check import command_runner


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project=dict(type="str", required=True),
            services=dict(type="list", elements="str", default=[]),
            timeout=dict(type="float", default=60),
            interval=dict(type="float", default=0.25),
            max_interval=dict(type="float", default=1.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    list_names, inspect, run_check = docker_project(command_runner(module), p["project"], p["services"] or None)
    if module.check_mode:
        def run_check(name, argv, timeout_s):  # docker's verdict only: run nothing in the container
            return 1, "not run in check mode"
    try:
        outcome = wait_healthy(list_names, inspect, run_check, 0 if module.check_mode else p["timeout"], p["interval"], p["max_interval"])
    except (OSError, RuntimeError, ValueError) as exc:
        module.fail_json(msg="could not read the containers of compose project %s: %s" % (p["project"], exc))
    message = outcome.pop("message")
    if not outcome["healthy"] and not module.check_mode:
        module.fail_json(msg="compose project %s is not healthy: %s" % (p["project"], message), **outcome)
    module.exit_json(changed=False, **outcome)


if __name__ == "__main__":
    main()
