# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: linear
short_description: The builtin linear strategy, without a worker process for the tasks that need none
version_added: 1.0.0
description:
  - Runs a play exactly as the builtin C(linear) strategy does (task by task, every host of the batch before the
    next task), with the same results, output and registered values.
  - The builtin strategy forks a worker process for every task on every host (about 20 ms each, ten times that on
    ten hosts sharing two cores). This one answers in ansible-playbook's main process for three kinds of task, from
    the same variables and with ansible-core's own code, as the worker would.
  - First, a task whose C(when) is false on a host (the worker would only evaluate the condition, with the delegated
    host's variables for a delegated task, and report it skipped).
  - Second, a task whose action never reaches the host (C(set_fact), C(assert), C(debug), C(fail), C(set_stats),
    C(include_tasks), C(include_role) and a role's C(validate_argument_spec)), with its loop and its delegation if it
    has them, run by ansible-core's task executor on a copy of the task.
  - Third, a module whose C(loop) has no items (the same executor reports the empty loop).
  - A module that runs, a loop that calls a lookup, retries or C(until), C(async) or a C(timeout), and a condition
    that cannot be evaluated there, still go to a worker.
  - C(NEXTGEN_ROLLOUT_IN_PLACE=off) in the environment sends every task to a worker.
  - The collection's playbooks that reach each host with one module call (C(rollback.yml), C(status.yml)) or not
    at all use it; the others use P(nextgen.rollout.mitogen_linear#strategy), which does the same and runs modules
    through Mitogen.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

from ansible.plugins.strategy.linear import StrategyModule as _LinearStrategy

from ansible_collections.nextgen.rollout.plugins.plugin_utils._in_place import InPlace


class StrategyModule(InPlace, _LinearStrategy):
    pass
