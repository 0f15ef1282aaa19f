#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_check
short_description: Read in one call what a release needs from a host - Compose v2, memory, disk, nginx and its config
version_added: 1.1.0
description:
  - Reads, without changing anything, whether C(docker compose) (Compose v2) answers and its version, whether the
    Docker engine runs and its version, the memory available (C(MemAvailable) in C(/proc/meminfo)), the free space on
    the filesystem of Docker's data directory, the state of the nginx unit, and whether nginx accepts its config as it
    is (C(nginx -t)). The release process of nextgen.rollout.blue_green judges them before anything changes.
  - One call instead of one per fact (the command, setup and systemd modules), a round trip each.
  - The logic is in module_utils/_host_check.py.
options:
  docker_root:
    description:
      - Docker's data directory; the free space counted is that of its filesystem (of the nearest directory above it
        that exists).
      - Empty asks the engine (C(docker info), the C(data-root) of its C(daemon.json)); without an engine that answers,
        C(/var/lib/docker).
    type: path
    default: ""
  nginx_unit:
    description: The systemd unit of nginx.
    type: str
    default: nginx
  nginx_test_command:
    description:
      - The command that tests nginx's config as it is on the host. A config that something else broke (a site
        file of another service, a missing include) makes every reload fail, a release's included.
      - Not run when its program is not on the host (nginx not installed yet); an empty list does not test.
    type: list
    elements: str
    default: [nginx, -t]
  service:
    description: The service whose colour O(ports) are checked; a port its own running containers publish is not foreign.
    type: str
    default: ""
  ports:
    description:
      - The colour ports of O(service) (C(blue), C(green)). For each, RV(port_holders) says which other process
        listens there, read from C(/proc/net/tcp) and C(tcp6) (a colour cannot start on a port another process holds).
    type: dict
    default: {}
  volumes:
    description:
      - The named volumes of O(service) as its definition gives them now. For each that exists with another driver or
        other driver options, RV(volume_changes) says so - docker never changes a volume once made, so its data would
        stay where it is.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The docker volume's name.
        type: str
        required: true
      driver:
        description: Its driver.
        type: str
        default: local
      driver_options:
        description: Its driver options.
        type: dict
        default: {}
  files:
    description: Paths on the host that the release needs (the TLS certificate and key); RV(missing_files) names those that do not exist.
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - nextgen.rollout.read_only
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Read what a release needs from the host
  nextgen.rollout.host_check:
  register: host

- name: Refuse a host without Compose v2
  ansible.builtin.assert:
    that: host.compose.ok
    fail_msg: "no Compose v2 plugin: {{ host.compose.error }}"
"""

RETURN = r"""
compose:
  description: Whether C(docker compose version) answered (C(ok)), the C(version), or the C(error) it gave.
  returned: always
  type: dict
  sample: {"ok": true, "version": "2.40.3", "error": ""}
engine:
  description: Whether the Docker engine answered C(docker version) (C(ok)), its C(version), or the C(error) it gave.
  returned: always
  type: dict
  sample: {"ok": true, "version": "20.10.24", "error": ""}
memory_available_mb:
  description: MB of memory available to a new process without swapping.
  returned: always
  type: int
disk:
  description: The directory whose filesystem was measured (C(path)) and its free MB (C(free_mb)).
  returned: always
  type: dict
  sample: {"path": "/var/lib/docker", "free_mb": 20480}
nginx_state:
  description: systemd's active state of the nginx unit (C(active), C(inactive), C(failed), C(unknown)...).
  returned: always
  type: str
nginx_config:
  description:
    - Whether nginx's config was tested (C(tested)), whether nginx accepts it (C(ok)), and why not (C(error), the
      C([emerg]) lines of C(nginx -t), without their time and process).
  returned: always
  type: dict
  sample: {"tested": true, "ok": false, "error": "unknown directive \"x\" in /etc/nginx/conf.d/other.conf:1"}
port_holders:
  description:
    - For each colour of O(ports), the processes (C(command (pid N))) that listen on its port without being a container
      of O(service); empty when the port is free or the service's own.
  returned: always
  type: dict
  sample: {"blue": "python3 (pid 9181)", "green": ""}
volume_changes:
  description: One sentence for each volume of O(volumes) that exists with another driver or other driver options.
  returned: always
  type: list
  elements: str
  sample: ["volume shop_data was made with driver local and no options, and the service's definition now gives it driver
           local with options device=/srv/shop, o=bind, type=none"]
missing_files:
  description: The paths of O(files) that do not exist on the host.
  returned: always
  type: list
  elements: str
  sample: ["/etc/nginx/tls/shop.key"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._host_check import command_runner, missing_files, read_host


def main():
    module = AnsibleModule(
        argument_spec=dict(
            docker_root=dict(type="path", default=""),
            nginx_unit=dict(type="str", default="nginx"),
            nginx_test_command=dict(type="list", elements="str", default=["nginx", "-t"]),
            service=dict(type="str", default=""),
            ports=dict(type="dict", default={}),
            volumes=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                driver=dict(type="str", default="local"),
                driver_options=dict(type="dict", default={}),
            )),
            files=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )

    with open("/proc/meminfo") as meminfo:
        facts = read_host(command_runner(module), module.params["docker_root"], module.params["nginx_unit"], meminfo.read(),
                          module.params["nginx_test_command"], module.params["service"], module.params["ports"],
                          volumes=module.params["volumes"])
    module.exit_json(changed=False, missing_files=missing_files(module.params["files"]), **facts)


if __name__ == "__main__":
    main()
