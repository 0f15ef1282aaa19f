#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: service_claims
short_description: Give a service of a host its colour ports and check that no other service claims them
version_added: 1.1.0
description:
  - Several services share a host. Each one claims its two colour ports and the nginx sites (port and
    server_name) it is served on, in C(<state_dir>/<service>/claims.json).
  - The service gets its declared O(ports); without them it keeps the ports it claimed before, or gets
    the first two ports of O(port_range) that no other service claims and no process listens on
    (C(/proc/net/tcp) and C(tcp6)), but the service's own containers (a claim file that was lost).
  - A port or site another service already claims is refused, with the variable, the value and the
    other service in the message, and nothing is written. The check and the write hold one host-wide lock.
options:
  service:
    description: The service.
    type: str
    required: true
  state_dir:
    description: Directory of the services' ledgers, locks and claims.
    type: path
    default: /var/lib/nextgen-rollout
  ports:
    description: Declared colour ports, C(blue) and C(green); empty to keep the previous claim or get a free pair.
    type: dict
    default: {}
  sites:
    description: The C([port, server_name]) pairs nginx serves the service on (an empty name is the port's default server).
    type: list
    elements: list
    default: []
  port_range:
    description: First and last port of the range free ports are taken from.
    type: list
    elements: int
    default: [8001, 8999]
  record:
    description:
      - Write the claim when nothing collides (a deploy); V(false) only checks.
    type: bool
    default: true
  deploying:
    description:
      - The caller puts a version of the service on the host (a deploy, or its read-only pre-checks with O(record=false)),
        so a service the host has no claim of yet is expected there.
      - Otherwise (a rollback, a status), a collision of a service that has no claim on the host adds that it was never
        deployed there, naming the services the host runs (a misspelt service name, most often).
      - Defaults to O(record).
    type: bool
attributes:
  check_mode:
    support: full
    description: Decides and reports, writes nothing.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: full
    description: The claim is written only when it differs.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Claim the ports and the site of the shop
  nextgen.rollout.service_claims:
    service: shop
    sites: [[443, shop.example.com], [80, shop.example.com]]
  register: shop_claim

- name: Use them
  ansible.builtin.debug:
    msg: "blue on {{ shop_claim.ports.blue }}, green on {{ shop_claim.ports.green }}"
"""

RETURN = r"""
ports:
  description: The colour ports of the service.
  returned: success
  type: dict
  sample: {"blue": 8003, "green": 8004}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._claims import claim
from ansible_collections.nextgen.rollout.plugins.module_utils._files import refuse_unsafe_name
from ansible_collections.nextgen.rollout.plugins.module_utils._host_check import command_runner, foreign_listeners
from ansible_collections.nextgen.rollout.plugins.module_utils._service import as_port, port_problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            service=dict(type="str", required=True),
            state_dir=dict(type="path", default="/var/lib/nextgen-rollout"),
            ports=dict(type="dict", default={}),
            sites=dict(type="list", elements="list", default=[]),
            port_range=dict(type="list", elements="int", default=[8001, 8999]),
            record=dict(type="bool", default=True),
            deploying=dict(type="bool"),
        ),
        supports_check_mode=True,
    )
    refuse_unsafe_name(module, "service")
    p = module.params
    if len(p["port_range"]) != 2 or p["port_range"][0] > p["port_range"][1]:
        module.fail_json(msg="port_range must be [first, last], got %r" % (p["port_range"],))
    for site in p["sites"]:
        if len(site) != 2:
            module.fail_json(msg="each site must be [port, server_name], got %r" % (site,))
    ports = dict((colour, as_port(port)) for colour, port in p["ports"].items())
    problems = port_problems(ports, 1) if ports else []
    if problems:
        module.fail_json(msg="; ".join(problems) + ". Nothing was changed.", problems=problems)
    # A new pair is not where a program listens, unless it is the service's own container (a claim lost).
    outcome = claim(p["state_dir"], p["service"], ports, p["sites"], tuple(p["port_range"]),
                    write=p["record"] and not module.check_mode,
                    listening=lambda: foreign_listeners(command_runner(module), p["service"]),
                    deploying=p["record"] if p["deploying"] is None else p["deploying"])
    if outcome["problems"]:
        module.fail_json(msg="; ".join(outcome["problems"]) + ". Nothing was changed.", problems=outcome["problems"])
    module.exit_json(changed=outcome["changed"] and p["record"], ports=outcome["ports"])


if __name__ == "__main__":
    main()
