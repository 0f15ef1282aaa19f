# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nextgen.rollout.plugins.module_utils import _waves


def wave_sizes(total, pilot=1, percents=(20, 50, 30)):
    try:
        return _waves.wave_sizes(total, pilot, percents)
    except _waves.WavePlanError as exc:
        raise AnsibleFilterError("wave_sizes: %s" % exc)


def pilot_first(hosts, pilot_group=()):
    return _waves.pilot_first(hosts, pilot_group)


def wave_pilot_size(hosts, count=1, pilot_group=()):
    return _waves.pilot_size(hosts, count, pilot_group)


def wave_plan(hosts, pilot=1, percents=(20, 50, 30)):
    try:
        return _waves.wave_plan(hosts, pilot, percents)
    except _waves.WavePlanError as exc:
        raise AnsibleFilterError("wave_plan: %s" % exc)


def wave_settings_problems(pilot, percents, max_fail_percent=0, on_failure="rollback_wave"):
    return _waves.wave_settings_problems(pilot, percents, max_fail_percent, on_failure)


def wave_verdict(outcomes, number, max_fail_percent=0, on_failure="rollback_wave", changed_before=(), pilot=False):
    return _waves.wave_verdict(number, outcomes, max_fail_percent, on_failure, changed_before, pilot)


def fleet_rollback_plan(choices):
    return _waves.fleet_rollback_plan(choices)


class FilterModule(object):
    """Pilot first, then waves: the plan of a rollout across a fleet, and the verdict on each wave."""

    def filters(self):
        return {
            "wave_sizes": wave_sizes,
            "wave_plan": wave_plan,
            "wave_pilot_size": wave_pilot_size,
            "pilot_first": pilot_first,
            "wave_settings_problems": wave_settings_problems,
            "wave_verdict": wave_verdict,
            "fleet_rollback_plan": fleet_rollback_plan,
        }
