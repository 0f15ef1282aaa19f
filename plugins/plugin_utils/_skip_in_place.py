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

from ansible_collections.nextgen.rollout.plugins.plugin_utils._user_cache import switched_off

try:
    from ansible.executor.task_result import _RawTaskResult
except ImportError:  # an ansible-core without it: every task goes to a worker, as with the builtin strategy
    _RawTaskResult = None

# Set to "off" to send every task to a worker.
SWITCH = "NEXTGEN_ROLLOUT_SKIP_IN_PLACE"
TURNED_OFF = switched_off(SWITCH)


def skipped_result(task, host, task_vars, play_context, loader):
    """The result the worker would send for ``task`` on ``host`` when its condition is false, or None."""
    if TURNED_OFF or _RawTaskResult is None or not task.when or task.loop is not None or task.loop_with or task.delegate_to is not None:
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


class SkipInPlace:
    """A strategy's _queue_task that answers for the worker of a task whose condition is false."""

    def _queue_task(self, host, task, task_vars, play_context):
        result = skipped_result(task, host, task_vars, play_context, self._loader)
        if result is None:
            return super()._queue_task(host, task, task_vars, play_context)
        # What the base strategy keeps for a queued task, and the callback it sends, as for a worker.
        self._queued_task_cache[(host.name, task._uuid)] = {"host": host, "task": task, "task_vars": task_vars, "play_context": play_context}
        self._tqm.send_callback("v2_runner_on_start", host, task)
        self._final_q.send_task_result(_RawTaskResult(host=host, task=task, return_data=result, task_fields=task.dump_attrs()))
        self._pending_results += 1
        return None
