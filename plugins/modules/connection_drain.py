#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: connection_drain
short_description: Wait until no connection to a colour's loopback port is open
version_added: 1.1.0
description:
  - After nginx stops sending a colour new requests, its connections to that colour close as their
    requests finish (idle keep-alive connections after the upstream's C(keepalive_timeout)). This
    module waits until none is left, so that stopping the colour cuts no answer; the colour is
    drained by connection, not by a fixed delay.
  - Reads the established TCP connections of the host's network namespace (C(/proc/net/tcp) and
    C(tcp6)) whose remote end is C(127.0.0.1:<port>) or C([::1]:<port>), and counts those of the
    processes named in O(clients) only. A monitoring agent that scrapes the colour (a Prometheus on
    the host) holds its own keep-alive connection for as long as the colour runs; it does not hold the
    drain up.
  - Past O(timeout) it returns with RV(drained=false) and the connections left; it does not fail, the
    caller decides.
options:
  ports:
    description: Loopback ports to drain.
    type: list
    elements: int
    required: true
  timeout:
    description: Longest wait, in seconds.
    type: float
    default: 30
  clients:
    description:
      - Names of the processes (as in C(/proc/<pid>/comm)) whose connections count, the proxy that sends
        the colour its traffic.
      - An empty list counts every connection. When none of these processes runs, or their sockets
        cannot be read (the module runs without root), every connection counts too.
    type: list
    elements: str
    default: [nginx]
attributes:
  check_mode:
    support: full
    description: Reports the connections open now without waiting.
  diff_mode:
    support: none
    description: Changes nothing.
  idempotent:
    support: full
    description: Reads only.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Let the old colour's requests finish before it stops
  nextgen.rollout.connection_drain:
    ports: [8001]
    timeout: 30
"""

RETURN = r"""
drained:
  description: Whether no connection was left.
  returned: always
  type: bool
waited_s:
  description: Seconds waited.
  returned: always
  type: float
open:
  description: Connections of O(clients) still open per port (empty when drained).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._drain import clients_connections, wait_drained


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ports=dict(type="list", elements="int", required=True),
            timeout=dict(type="float", default=30),
            clients=dict(type="list", elements="str", default=["nginx"]),
        ),
        supports_check_mode=True,
    )
    timeout = 0 if module.check_mode else module.params["timeout"]
    count = clients_connections(module.params["clients"])
    module.exit_json(changed=False, **wait_drained(module.params["ports"], timeout, count=count))


if __name__ == "__main__":
    main()
