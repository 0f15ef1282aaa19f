# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Answer in ansible-playbook's main process for the tasks that need no worker.

The linear strategy forks a worker process for every task on every host. Three kinds of task do not
need one, and a release is mostly made of them:
- a task whose C(when) is false: the worker's first step is to evaluate it (with the delegated
  host's variables for a delegated task), and for a false one it sends back a skipped result and
  exits. A release skips some forty tasks per host (the branches that are not this run's). The main
  process holds the same variables: it evaluates the condition there, the same way, and sends the
  same skipped result through the same queue;
- a task whose action never reaches the host (C(set_fact), C(assert), C(debug), C(fail),
  C(set_stats), C(include_tasks), C(include_role), C(validate_argument_spec)), with its loop and its
  delegation if it has them: some seventy of a deploy's tasks. The main process runs ansible-core's
  own task executor on a copy of the task, as the worker would, and sends its result through the
  same queue;
- a module whose loop has no items (the registries to log in to, the other images to pull, when
  there are none): the same executor reports the empty loop.
A fork and a worker's start cost some 20 ms per task and host, ten times that on ten hosts sharing
two cores. Anything else (a module that runs, retries, async or a timeout, a loop that calls a
lookup, an error while deciding) goes to a worker as before.
"""

from __future__ import annotations

import re

from ansible_collections.nextgen.rollout.plugins.plugin_utils._user_cache import switched_off

try:
    from ansible.executor.task_executor import TaskExecutor
    from ansible.executor.task_result import _RawTaskResult
    from ansible.plugins import loader as plugin_loader
except ImportError:  # an ansible-core without them: every task goes to a worker, as with the builtin strategy
    _RawTaskResult = None

# Set to "off" to send every task to a worker (NEXTGEN_ROLLOUT_SKIP_IN_PLACE, its earlier name, still works).
SWITCH = "NEXTGEN_ROLLOUT_IN_PLACE"
TURNED_OFF = switched_off(SWITCH) or switched_off("NEXTGEN_ROLLOUT_SKIP_IN_PLACE")

CONTROLLER_ACTIONS = frozenset(prefix + name
                               for name in ("set_fact", "assert", "debug", "fail", "set_stats", "include_tasks", "include_role",
                                            "validate_argument_spec")
                               for prefix in ("", "ansible.builtin.", "ansible.legacy."))


# A loop whose text calls a lookup is left to the worker: a lookup may do something, and would do it twice.
CALLS_A_LOOKUP = re.compile(r"\b(lookup|query|q)\s*\(")


def _in_place_possible(task):
    return not (TURNED_OFF or _RawTaskResult is None or task.until or task.retries or task.async_val or task.timeout)


def skipped_result(strategy, host, task, task_vars, play_context):
    """The result the worker would send for ``task`` (no loop) on ``host`` when its condition is false, or None."""
    if not task.when or not _in_place_possible(task) or task.loop is not None or task.loop_with:
        return None
    try:
        from ansible._internal._templating._engine import TemplateEngine  # pylint: disable=import-outside-toplevel

        # The worker's first steps: the delegated host and its variables, then the connection's settings.
        variables = task_vars.copy()
        templar = TemplateEngine(loader=strategy._loader, variables=variables)  # pylint: disable=protected-access
        if task.delegate_to is not None:
            task = task.copy(exclude_tasks=True)
            delegated_vars, task.delegate_to = strategy._variable_manager.get_delegated_vars_and_hostname(  # pylint: disable=protected-access
                templar, task, variables)
            variables.update(delegated_vars)
        context = play_context.set_task_and_variable_override(task=task, variables=variables, templar=templar)
        context.post_validate(templar=templar)
        if not context.remote_addr:
            context.remote_addr = host.address
        condition_vars = variables.copy()
        context.update_vars(condition_vars)
        false_condition = {}
        if task._resolve_conditional(task.when, condition_vars, result_context=false_condition):  # pylint: disable=protected-access
            return None
        result = dict(changed=False, skipped=True, skip_reason="Conditional result was False", **false_condition)
        task.update_result_no_log(templar, result)
    except Exception:  # pylint: disable=broad-exception-caught
        return None  # the worker decides, and reports any error, as without this
    return result


def _executor(strategy, host, task, task_vars, play_context):
    # A worker runs on its own copies (it is forked): the executor finalises the task and the variables it is given.
    return TaskExecutor(host, task.copy(exclude_tasks=True), task_vars.copy(), play_context, strategy._loader,  # pylint: disable=protected-access
                        plugin_loader.get_plugin_loader_namespace(), strategy._final_q, strategy._variable_manager)  # pylint: disable=protected-access


def in_place_executor(strategy, host, task, task_vars, play_context):
    """ansible-core's task executor, to run in the main process, for a task that never reaches the host: an action
    that stays on the controller, or a module whose loop has no items. None for any other task."""
    if not _in_place_possible(task):
        return None
    try:
        if task.action in CONTROLLER_ACTIONS:
            # Its loop, its delegation and its condition are worked out by the executor, as in a worker.
            return _executor(strategy, host, task, task_vars, play_context)
        if task.loop is not None and not task.loop_with and not CALLS_A_LOOKUP.search(str(task.loop)):
            executor = _executor(strategy, host, task, task_vars, play_context)
            if executor._get_loop_items() == []:  # pylint: disable=protected-access
                return executor  # its run reports the empty loop, as the worker's would
    except Exception:  # pylint: disable=broad-exception-caught
        return None
    return None


class InPlace:
    """A strategy's _queue_task that answers for the worker of a task that needs none."""

    def _queue_task(self, host, task, task_vars, play_context):
        # An executor run here evaluates the task's condition itself: only a module's is evaluated here.
        executor = in_place_executor(self, host, task, task_vars, play_context)
        result = None if executor is not None else skipped_result(self, host, task, task_vars, play_context)
        if executor is None and result is None:
            return super()._queue_task(host, task, task_vars, play_context)
        # What the base strategy keeps for a queued task, and the callback it sends, as for a worker.
        self._queued_task_cache[(host.name, task._uuid)] = {"host": host, "task": task, "task_vars": task_vars, "play_context": play_context}
        self._tqm.send_callback("v2_runner_on_start", host, task)
        if executor is not None:
            result = executor.run()  # it turns any error of the task into a failed result, as in a worker
            task_fields = executor._task.dump_attrs()  # pylint: disable=protected-access
        else:
            task_fields = task.dump_attrs()
        self._final_q.send_task_result(_RawTaskResult(host=host, task=task, return_data=result, task_fields=task_fields))
        self._pending_results += 1
        return None
