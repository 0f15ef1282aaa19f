# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nextgen.rollout.plugins.module_utils._alert_rules import AlertRulesError, release_alert_rules
from ansible_collections.nextgen.rollout.plugins.module_utils._decision import PolicyError, decide
from ansible_collections.nextgen.rollout.plugins.module_utils._fleet_canary import fleet_verdict
from ansible_collections.nextgen.rollout.plugins.module_utils._split import plan_line, share_problem, steps_problems


def canary_plan(line):
    steps, problem = plan_line(line)
    if problem:
        raise AnsibleFilterError(problem)
    return steps


def canary_plan_problem(line):
    return plan_line(line)[1]


def rollback_decision(samples, policy=None, judgement=None):
    try:
        return decide(samples, policy, judgement)
    except (PolicyError, KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("rollback_decision: %s" % exc)


def fleet_canary_verdict(intervals, interval, planned, policy=None, latency_factor=1.5, min_bucket_requests=10,
                         judge=False, alpha=0.01, max_extensions=0, rate_window=0, wave_hosts=None, max_left_percent=0):
    try:
        return fleet_verdict(intervals, interval, planned, policy, latency_factor, min_bucket_requests, judge, alpha,
                             max_extensions, rate_window, wave_hosts, max_left_percent)
    except (PolicyError, KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise AnsibleFilterError("fleet_canary_verdict: %s" % exc)


def rollout_alert_rules(service, host, policy=None, selector=None, info_selector=None, metrics=None,
                        memory_limit_bytes=None):
    try:
        return release_alert_rules(service, host, policy, selector, info_selector, metrics, memory_limit_bytes)
    except (AlertRulesError, PolicyError, KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("release_alert_rules: %s" % exc)


class FilterModule(object):
    """Canary traffic split, the promote / hold / rollback decision, and the alert rules that keep
    applying its policy once a release is live."""

    def filters(self):
        return {
            "canary_share_problem": share_problem,
            "canary_plan": canary_plan,
            "canary_plan_problem": canary_plan_problem,
            "canary_steps_problems": steps_problems,
            "rollback_decision": rollback_decision,
            "fleet_canary_verdict": fleet_canary_verdict,
            "release_alert_rules": rollout_alert_rules,
        }
