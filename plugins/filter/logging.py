# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nextgen.rollout.plugins.module_utils._logging_profile import (
    ProfileError, peer_addresses, peer_ports, resolve_profile, service_logging_config)


def logging_profile(group_names, profiles, agent_type=""):
    try:
        return resolve_profile(group_names, profiles, agent_type)
    except ProfileError as exc:
        raise AnsibleFilterError("logging_profile: %s" % exc)


def logging_service_config(resolved, service, host, log_file, level="INFO", queue_size=10000):
    try:
        return service_logging_config(service, host, resolved, log_file, level, queue_size)
    except (ProfileError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("logging_service_config: %s" % exc)


def logging_peer_ports(peers, first_port):
    try:
        return peer_ports(peers, first_port)
    except ProfileError as exc:
        raise AnsibleFilterError("logging_peer_ports: %s" % exc)


def logging_peer_addresses(resolved_lines):
    try:
        return peer_addresses(resolved_lines)
    except ProfileError as exc:
        raise AnsibleFilterError("logging_peer_addresses: %s" % exc)


class FilterModule(object):
    """Logging profiles by agent type."""

    def filters(self):
        return {
            "logging_profile": logging_profile,
            "logging_service_config": logging_service_config,
            "logging_peer_ports": logging_peer_ports,
            "logging_peer_addresses": logging_peer_addresses,
        }
