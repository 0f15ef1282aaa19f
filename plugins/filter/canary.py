# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nextgen.rollout.plugins.module_utils._decision import PolicyError, decide
from ansible_collections.nextgen.rollout.plugins.module_utils._split import share_problem, split_lines


def canary_split_lines(share, candidate, stable):
    problem = share_problem(share)
    if problem:
        raise AnsibleFilterError(problem)
    return split_lines(share, candidate, stable)


def rollback_decision(samples, policy=None, judgement=None):
    try:
        return decide(samples, policy, judgement)
    except (PolicyError, KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("rollback_decision: %s" % exc)


class FilterModule(object):
    """Canary traffic split and the promote / hold / rollback decision."""

    def filters(self):
        return {
            "canary_split_lines": canary_split_lines,
            "canary_share_problem": share_problem,
            "rollback_decision": rollback_decision,
        }
