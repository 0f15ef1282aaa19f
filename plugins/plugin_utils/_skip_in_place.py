# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Skip a task whose condition is false without forking a worker for it.

The linear strategy forks a worker process for every task on every host; the worker's first step
is to evaluate the task's C(when), and for a false one it sends back a skipped result and exits.
A release skips some forty tasks per host (the branches that are not this run's), each costing a
fork and a worker's start (about 20 ms, ten times that on ten hosts sharing two cores). The
strategy's main process already holds the same variables: it evaluates the condition there, the
same way, and sends the same skipped result through the same queue. Anything it cannot decide as
the worker would (a loop, a delegation, an error, a condition that holds) goes to a worker as
before.
"""

from __future__ import annotations


def skipped_result(task, host, task_vars, play_context, loader):
    """The result the worker would send for ``task`` on ``host`` when its condition is false, or None."""
    if not task.when or task.loop is not None or task.loop_with or task.delegate_to is not None:
        return None
    try:
        from ansible._internal._templating._engine import TemplateEngine  # pylint: disable=import-outside-toplevel

        templar = TemplateEngine(loader=loader, variables=task_vars)
        # What the worker adds to the variables before it evaluates the condition: the connection's settings.
        context = play_context.set_task_and_variable_override(task=task, variables=task_vars, templar=templar)
        context.post_validate(templar=templar)
        if not context.remote_addr:
            context.remote_addr = host.address
        variables = task_vars.copy()
        context.update_vars(variables)
        false_condition = {}
        if task._resolve_conditional(task.when, variables, result_context=false_condition):  # pylint: disable=protected-access
            return None
        result = dict(changed=False, skipped=True, skip_reason="Conditional result was False", **false_condition)
        task.update_result_no_log(templar, result)
    except Exception:  # pylint: disable=broad-exception-caught
        return None  # the worker decides, and reports any error, as without this
    return result
