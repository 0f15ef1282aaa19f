# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Drain a colour by connection: wait until no TCP connection to its loopback port is open.

After a switch nginx sends no new request to the old colour; what is still open towards it is a
request in flight or an idle keep-alive connection, which nginx closes after the upstream's
keepalive_timeout. Once none is left, stopping the colour cannot cut an answer. The connections
are read from /proc/net/tcp and tcp6 of the host's network namespace (nginx's).

Only the connections of the proxy's own processes count: a monitoring agent on the host (a
Prometheus scraping each colour every few seconds) keeps its own keep-alive connection to the colour
open for as long as the colour runs, and would otherwise hold every drain for its whole timeout.
"""

from __future__ import annotations

import os
import time

from ansible_collections.nextgen.rollout.plugins.module_utils._host_check import fd_links, process_command, tcp_sockets

ESTABLISHED = "01"
LOOPBACK = ("0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000")


def socket_inodes(process_names, proc="/proc"):
    """Inodes of the sockets the processes called ``process_names`` hold, or None when none of them
    runs or their descriptors cannot be read (then every connection counts)."""
    inodes, found = set(), False
    for pid in os.listdir(proc):
        if not pid.isdigit() or process_command(pid, proc) not in process_names:
            continue
        fd_dir = os.path.join(proc, pid, "fd")
        if not os.access(fd_dir, os.R_OK):
            return None
        found = True
        inodes.update(link[len("socket:["):-1] for link in fd_links(fd_dir) if link.startswith("socket:["))
    return inodes if found else None


def open_connections(port, proc_net="/proc/net", inodes=None):
    """Number of established connections whose remote end is 127.0.0.1:``port`` (or ::1), only
    those whose socket inode is in ``inodes`` when it is given."""
    return sum(1 for state, _local_port, address, remote_port, inode in tcp_sockets(proc_net)
               if state == ESTABLISHED and address in LOOPBACK and remote_port == int(port) and (inodes is None or inode in inodes))


def clients_connections(process_names):
    """A counter of the connections to a port that the processes called ``process_names`` hold
    (every process's when the list is empty)."""
    def count(port):
        return open_connections(port, inodes=socket_inodes(process_names) if process_names else None)
    return count


def wait_drained(ports, timeout, count=open_connections, clock=time.monotonic, sleep=time.sleep, interval=0.1):
    """Wait until no connection to any of ``ports`` is open, at most ``timeout`` seconds.
    Returns {drained, waited_s, open: {port: connections left}}."""
    started = clock()
    while True:
        left = dict((int(port), count(port)) for port in ports)
        left = dict((port, n) for port, n in left.items() if n)
        if not left or clock() - started >= timeout:
            return {"drained": not left, "waited_s": round(clock() - started, 3), "open": left}
        sleep(interval)
