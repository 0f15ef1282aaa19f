# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""What each service of a host holds: its colour ports and its nginx server names.

Each service's claim is a file ``<state_dir>/<service>/claims.json``. A service gets its declared
colour ports, or keeps the ports it claimed before, or gets the first free pair of the range (no
other service claims them and no process listens there). A
claim that collides with another service's is refused with the variable, the value and the other
service. The check and the write run under one host-wide lock file, so two deploys of two
services at the same time cannot take the same ports.
"""

from __future__ import annotations

import fcntl
import json
import os

from ansible_collections.nextgen.rollout.plugins.module_utils._files import atomic_write_text

CLAIMS_FILE = "claims.json"
LOCK_FILE = ".claims.lock"


def read_claims(state_dir):
    """{service: claim} of every service of the host that has a claim."""
    claims = {}
    try:
        names = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return claims
    for name in names:
        try:
            with open(os.path.join(state_dir, name, CLAIMS_FILE)) as handle:
                claims[name] = json.load(handle)
        except (OSError, ValueError):
            continue
    return claims


def site_label(site):
    port, name = site
    return "port %s with server_name %s" % (port, repr(name) if name else "'' (the default server)")


def decide(service, declared_ports, sites, claims, port_range=(8001, 8999), listening=tuple):
    """Return {ports, problems}: the colour ports of ``service`` and what collides.

    ``sites`` are the (port, server_name) pairs nginx serves the service on; ``claims`` the claims
    read from the host (the service's own included); ``listening()`` the ports a process listens on,
    which a new pair avoids (asked only when a new pair is chosen)."""
    others = dict((name, claim) for name, claim in claims.items() if name != service)
    taken = {}
    for name, claim in others.items():
        for colour, port in (claim.get("ports") or {}).items():
            taken[int(port)] = "the %s colour of service %s" % (colour, name)
        for port, _name in claim.get("sites") or []:
            taken.setdefault(int(port), "nginx (service %s)" % name)
    own_sites = set(int(site[0]) for site in sites)
    problems = []
    if declared_ports:
        ports = dict(declared_ports)
        for colour in ("blue", "green"):
            port = ports.get(colour)
            if port in taken:
                problems.append("rollout_ports.%s = %s is already taken by %s on this host: pick another port, or "
                                "leave rollout_ports unset to get a free pair" % (colour, port, taken[port]))
            elif port in own_sites:
                problems.append("rollout_ports.%s = %s is the port nginx serves the service on: pick another port"
                                % (colour, port))
    else:
        previous = (claims.get(service) or {}).get("ports") or {}
        if previous and not any(int(p) in taken for p in previous.values()):
            ports = dict((colour, int(port)) for colour, port in previous.items())
        else:
            unusable = set(taken) | own_sites | set(listening())
            free = [p for p in range(port_range[0], port_range[1] + 1) if p not in unusable]
            if len(free) < 2:
                return {"ports": None, "problems": ["no two free ports left in %s-%s for rollout_ports: declare them"
                                                    % port_range]}
            ports = {"blue": free[0], "green": free[1]}
    for name, claim in sorted(others.items()):
        for site in claim.get("sites") or []:
            if tuple(site) in set(tuple(s) for s in sites):
                problems.append("nginx already serves service %s on %s: give this service its own rollout_server_name "
                                "or rollout_listen_port" % (name, site_label(site)))
    return {"ports": ports, "problems": problems}


class ClaimsLock(object):
    """Host-wide lock around reading and writing the claims."""

    def __init__(self, state_dir):
        self.path = os.path.join(state_dir, LOCK_FILE)
        self.handle = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        self.handle = open(self.path, "a")
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
        self.handle.close()


def claim(state_dir, service, declared_ports, sites, port_range=(8001, 8999), write=True, listening=tuple, deploying=True):
    """Decide the service's ports and, when nothing collides and ``write``, record its claim; an action
    other than a deploy (``deploying`` false) on a service the host has no claim of says so.
    Returns {ports, problems, changed}."""
    sites = [[int(port), name or ""] for port, name in sites]
    with ClaimsLock(state_dir):
        claims = read_claims(state_dir)
        outcome = decide(service, declared_ports, sites, claims, port_range, listening)
        if outcome["problems"] and not deploying and service not in claims:
            # A rollback, say, of a service unknown here: most often a misspelt rollout_service.
            outcome["problems"].append("service %s was never deployed on this host (the services it runs: %s): check "
                                       "rollout_service, or deploy it first" % (service, ", ".join(sorted(claims)) or "none"))
        wanted = {"ports": outcome["ports"], "sites": sites}
        outcome["changed"] = not outcome["problems"] and claims.get(service) != wanted
        if outcome["changed"] and write:
            directory = os.path.join(state_dir, service)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            atomic_write_text(os.path.join(directory, CLAIMS_FILE), json.dumps(wanted, sort_keys=True) + "\n", 0o600)
    return outcome
