#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_site
short_description: Switch an nginx site to new content, tested, reloaded, and put back on failure
version_added: 1.0.0
description:
  - Writes the site file atomically, tests the whole config, reloads nginx and waits until the
    master runs new workers, which is when the new config serves traffic.
  - When the test, the reload or the hand-over to new workers fails, the previous file is put
    back and nginx keeps serving it; the task fails and says what went wrong.
  - The previous content is kept as C(<name>.conf.previous) next to the site.
  - Does nothing (no reload) when the site already has this content and nginx runs it. A site file
    that a run killed between the write and the reload left behind (its content differs from the
    C(<name>.conf.loaded) stamp written after every reload that took) is tested and reloaded.
  - The rollout's sites declare their routing on a C(# nextgen-rollout-route:) comment line, which
    M(nextgen.rollout.release_ledger) reads to reconcile the ledger with the traffic.
options:
  name:
    description: Site name; the file is O(conf_dir)/C(<name>.conf).
    type: str
    required: true
  content:
    description: Full text of the site. Required with O(state=present).
    type: str
  state:
    description: V(present) puts O(content) live, V(absent) removes the site.
    type: str
    choices: [present, absent]
    default: present
  conf_dir:
    description: Directory nginx includes site files from.
    type: path
    default: /etc/nginx/conf.d
  test_command:
    description: Command that tests the whole nginx config.
    type: list
    elements: str
    default: [nginx, -t]
  reload_command:
    description: Command that asks the running nginx to reload its config.
    type: list
    elements: str
    default: [nginx, -s, reload]
  pid_file:
    description: PID file of the nginx master, used to see its workers being replaced.
    type: path
    default: /run/nginx.pid
  reload_timeout:
    description: Seconds to wait for the new workers after the reload.
    type: float
    default: 10
attributes:
  check_mode:
    support: full
    description: Reports whether the site would change, with the diff; writes and reloads nothing.
  diff_mode:
    support: full
    description: Shows the old and new site.
  idempotent:
    support: full
    description: The same content twice changes nothing the second time.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Send the traffic of agent-loop to port 8002
  nextgen.rollout.nginx_site:
    name: agent-loop
    content: "{{ lookup('ansible.builtin.template', 'site.conf.j2') }}"
"""

RETURN = r"""
path:
  description: Path of the site file.
  returned: always
  type: str
reloaded:
  description: Whether nginx was reloaded with the new site.
  returned: always
  type: bool
reload_s:
  description: Seconds from the reload command to the first new worker.
  returned: when reloaded
  type: float
reloaded_at:
  description: When the new workers were seen, in seconds since the epoch on the host.
  returned: when reloaded
  type: float
test_output:
  description: Output of the config test.
  returned: when reloaded
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import (
    SiteRefused, SiteSwitch, nginx_workers)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            content=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            conf_dir=dict(type="path", default="/etc/nginx/conf.d"),
            test_command=dict(type="list", elements="str", default=["nginx", "-t"]),
            reload_command=dict(type="list", elements="str", default=["nginx", "-s", "reload"]),
            pid_file=dict(type="path", default="/run/nginx.pid"),
            reload_timeout=dict(type="float", default=10),
        ),
        required_if=[("state", "present", ("content",))],
        supports_check_mode=True,
    )
    p = module.params
    path = os.path.join(p["conf_dir"], p["name"] + ".conf")
    switch = SiteSwitch(
        path,
        run=module.run_command,
        workers=lambda: nginx_workers(p["pid_file"]),
        test_command=p["test_command"],
        reload_command=p["reload_command"],
        reload_timeout=p["reload_timeout"],
    )
    wanted = p["content"] if p["state"] == "present" else None
    changed, before = switch.plan(wanted)
    diff = dict(before=before or "", after=wanted or "", before_header=path, after_header=path)
    loaded = switch.loaded()
    if module.check_mode or (not changed and loaded):
        module.exit_json(changed=changed or not loaded, path=path, reloaded=False, diff=diff)
    try:
        figures = switch.apply(wanted)
    except SiteRefused as exc:
        module.fail_json(msg="nginx refused the new site %s: %s" % (p["name"], exc), path=path, diff=diff)
    except OSError as exc:
        module.fail_json(msg="cannot write the site %s: %s" % (path, exc), path=path)
    figures["changed"] = figures["reloaded"] or figures["changed"]
    module.exit_json(path=path, diff=diff, **figures)


if __name__ == "__main__":
    main()
