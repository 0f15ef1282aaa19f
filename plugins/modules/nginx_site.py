#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_site
short_description: Route a service's traffic through nginx, without a reload unless its site changes
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
  - With O(route), where traffic goes (live colour, canary colour and share) is written to the
    service's route file in O(route_dir), atomically, before the site. The site's njs handler
    (installed by the C(nextgen.rollout.nginx) role) reads it at every request, so a switch or a
    canary step needs no reload and closes no client connection; nginx reloads only when the site
    itself changes. M(nextgen.rollout.release_ledger) reads the route file to reconcile the ledger.
  - When nginx refuses a changed site, the previous route is put back with the previous site.
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
  route:
    description:
      - Where the service's traffic goes. Without it only the site is managed.
    type: dict
    suboptions:
      live:
        description: Colour that gets the traffic (all of it, or all but the canary's share).
        type: str
        required: true
      live_version:
        description: Version the live colour runs (for the access log and the served header).
        type: str
        default: ""
      canary:
        description: Colour that gets O(route.share) % of the clients.
        type: str
      canary_version:
        description: Version the canary colour runs.
        type: str
        default: ""
      share:
        description: Percentage of clients (0 to 100) sent to the canary; 0 sends every client to the live colour.
        type: float
        default: 0
      hash_key:
        description: nginx expression whose value picks a client's side of the split (as written in the site).
        type: str
        default: $remote_addr
      ports:
        description: Loopback port of each colour.
        type: dict
        required: true
      upstream_prefix:
        description: The site names each colour's upstream block C(<upstream_prefix>_<colour>).
        type: str
        required: true
  route_dir:
    description: Directory of the route files (readable by nginx's workers).
    type: path
    default: /etc/nginx/nextgen-rollout/routes
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
    route:
      live: green
      live_version: 1.1.0
      ports: {blue: 8001, green: 8002}
      upstream_prefix: agent_loop
"""

RETURN = r"""
path:
  description: Path of the site file.
  returned: always
  type: str
route_changed:
  description: Whether the route file changed (traffic moved without a reload).
  returned: with O(route)
  type: bool
routed_at:
  description: When the new route was written, in seconds since the epoch on the host.
  returned: when the route changed
  type: float
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

from ansible_collections.nextgen.rollout.plugins.module_utils._files import refuse_unsafe_name
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import (
    RouteProblem, SiteRefused, SiteSwitch, build_route, nginx_workers, read_route)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            content=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            conf_dir=dict(type="path", default="/etc/nginx/conf.d"),
            route=dict(type="dict", options=dict(
                live=dict(type="str", required=True),
                live_version=dict(type="str", default=""),
                canary=dict(type="str"),
                canary_version=dict(type="str", default=""),
                share=dict(type="float", default=0),
                hash_key=dict(type="str", default="$remote_addr", no_log=False),
                ports=dict(type="dict", required=True),
                upstream_prefix=dict(type="str", required=True),
            )),
            route_dir=dict(type="path", default="/etc/nginx/nextgen-rollout/routes"),
            test_command=dict(type="list", elements="str", default=["nginx", "-t"]),
            reload_command=dict(type="list", elements="str", default=["nginx", "-s", "reload"]),
            pid_file=dict(type="path", default="/run/nginx.pid"),
            reload_timeout=dict(type="float", default=10),
        ),
        required_if=[("state", "present", ("content",))],
        supports_check_mode=True,
    )
    refuse_unsafe_name(module, "name")
    p = module.params
    path = os.path.join(p["conf_dir"], p["name"] + ".conf")
    route_path = os.path.join(p["route_dir"], p["name"] + ".json")
    switch = SiteSwitch(
        path,
        run=module.run_command,
        workers=lambda: nginx_workers(p["pid_file"]),
        route_path=route_path,
        test_command=p["test_command"],
        reload_command=p["reload_command"],
        reload_timeout=p["reload_timeout"],
    )
    wanted = p["content"] if p["state"] == "present" else None
    route = None
    if p["route"] is not None and wanted is not None:
        try:
            route = build_route(p["name"], p["route"], read_route(route_path))
        except RouteProblem as exc:
            module.fail_json(msg="route of %s refused: %s. Nothing was changed." % (p["name"], exc))
    changed, before = switch.plan(wanted)
    diff = [dict(before=before or "", after=wanted or "", before_header=path, after_header=path)]
    route_changed = False
    if route is not None:
        route_changed, route_before = switch.plan_route(route)
        diff.append(dict(before=route_before or "", after=switch.route_text(route),
                         before_header=route_path, after_header=route_path))
    loaded = switch.loaded()
    if module.check_mode or (not changed and not route_changed and loaded):
        module.exit_json(changed=changed or route_changed or not loaded, path=path, reloaded=False,
                         route_changed=route_changed, diff=diff)
    try:
        if route is not None:
            if not os.path.isdir(p["route_dir"]):
                os.makedirs(p["route_dir"], 0o755)
            figures = switch.switch(wanted, route)
        else:
            figures = switch.apply(wanted)
    except SiteRefused as exc:
        module.fail_json(msg="nginx refused the new site %s: %s" % (p["name"], exc), path=path, diff=diff)
    except OSError as exc:
        module.fail_json(msg="cannot write the site %s or its route: %s" % (path, exc), path=path)
    figures["changed"] = figures["reloaded"] or figures["changed"]
    module.exit_json(path=path, diff=diff, **figures)


if __name__ == "__main__":
    main()
