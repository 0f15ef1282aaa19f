# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logging profiles by agent type, and the service logging config a profile produces."""

from __future__ import annotations

PROFILE_FLAGS = ("elasticsearch", "encryption", "async", "monitoring", "alerting")


class ProfileError(ValueError):
    pass


def check_profiles(profiles):
    """Raise ProfileError when a profile is not a mapping of the known flags to booleans."""
    if not isinstance(profiles, dict) or not profiles:
        raise ProfileError("logging_profiles must map agent types (inventory groups) to profiles")
    for name, profile in profiles.items():
        if not isinstance(profile, dict):
            raise ProfileError("profile %s must be a mapping of %s to true/false" % (name, ", ".join(PROFILE_FLAGS)))
        unknown = sorted(set(profile) - set(PROFILE_FLAGS))
        if unknown:
            raise ProfileError("profile %s has unknown setting(s) %s; the settings are %s"
                               % (name, ", ".join(unknown), ", ".join(PROFILE_FLAGS)))
        for flag, value in profile.items():
            if not isinstance(value, bool):
                raise ProfileError("profile %s: %s must be true or false, got %r" % (name, flag, value))


def resolve_profile(group_names, profiles, agent_type=""):
    """The agent type of a host and its full profile (every flag present).

    ``agent_type`` wins when given; otherwise the host must be in exactly one profile group."""
    check_profiles(profiles)
    if agent_type:
        if agent_type not in profiles:
            raise ProfileError("agent type %r has no profile; known types: %s" % (agent_type, ", ".join(sorted(profiles))))
        chosen = agent_type
    else:
        matches = [name for name in sorted(profiles) if name in (group_names or [])]
        if not matches:
            raise ProfileError("the host is in none of the agent type groups (%s): add it to one in the inventory, "
                               "or set logging_agent_type" % ", ".join(sorted(profiles)))
        if len(matches) > 1:
            raise ProfileError("the host is in several agent type groups (%s): keep one, or set logging_agent_type"
                               % ", ".join(matches))
        chosen = matches[0]
    profile = dict((flag, False) for flag in PROFILE_FLAGS)
    profile.update(profiles[chosen])
    return {"agent_type": chosen, "profile": profile}


def service_logging_config(service, host, resolved, log_file, level="INFO", queue_size=10000, block_timeout_s=1.0):
    """The structured logging config a Python service loads (nextgen_logging.configure)."""
    if not isinstance(queue_size, int) or isinstance(queue_size, bool) or queue_size < 0:
        raise ProfileError("the queue size must be a whole number >= 0 (0: unbounded), got %r" % (queue_size,))
    if str(level).upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ProfileError("level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got %r" % (level,))
    profile = resolved["profile"]
    return {
        "version": 1,
        "service": service,
        "log_file": log_file,
        "level": str(level).upper(),
        "format": "json",
        "async": profile["async"],
        "queue_size": queue_size,
        "block_timeout_s": block_timeout_s,
        "monitoring": profile["monitoring"],
        "caller_info": False,
        "fields": {"service": service, "host": host, "agent_type": resolved["agent_type"]},
    }


def peer_ports(peers, first_port):
    """Each encrypting agent's own TLS port on the collector: ``first_port`` plus the agent's place
    in the sorted list, so the collector and every agent compute the same from the inventory."""
    if not isinstance(first_port, int) or isinstance(first_port, bool) or not 1 <= first_port <= 65535:
        raise ProfileError("the first TLS port must be a port number (1-65535), got %r" % (first_port,))
    names = sorted(set(peers or []))
    if names and first_port + len(names) - 1 > 65535:
        raise ProfileError("%d encrypting agents from port %d go past 65535: lower logging_relp_tls_port"
                           % (len(names), first_port))
    return dict((name, first_port + place) for place, name in enumerate(names))


def peer_addresses(resolved_lines):
    """Agent by address, from the collector's lines ``<agent> <address>`` (``-`` when the name did
    not resolve). Raises, naming them, for agents without an address and for agents sharing one:
    a plain connection carries no certificate, so its address is all that tells agents apart."""
    owners, unresolved = {}, []
    for line in resolved_lines:
        parts = line.split()
        if len(parts) != 2:
            raise ProfileError("cannot read the agent address line %r (expected '<agent> <address>')" % (line,))
        agent, address = parts
        if address == "-":
            unresolved.append(agent)
            continue
        if address in owners and owners[address] != agent:
            raise ProfileError("agents %s and %s both connect from %s: the collector files a plain agent's lines by "
                               "the address they come from and could not tell them apart. Give each its own "
                               "address, or give their profile encryption." % (owners[address], agent, address))
        owners[address] = agent
    if unresolved:
        raise ProfileError("the collector cannot resolve the address of %s (ansible_host, else the inventory name): "
                           "it files a plain agent's lines by the address they come from. Give these hosts an "
                           "ansible_host the collector resolves." % ", ".join(unresolved))
    return owners
