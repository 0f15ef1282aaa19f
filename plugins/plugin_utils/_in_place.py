# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Answer in ansible-playbook's main process for the tasks that need no worker.

The linear strategy forks a worker process for every task on every host. Two kinds of task do not
need one, and a release is mostly made of them:
- a task whose C(when) is false: the worker's first step is to evaluate it, and for a false one it
  sends back a skipped result and exits. A release skips some forty tasks per host (the branches
  that are not this run's). The main process holds the same variables: it evaluates the condition
  there, the same way, and sends the same skipped result through the same queue;
- a task whose action never reaches the host (C(set_fact), C(assert), C(debug), C(fail),
  C(set_stats), C(include_tasks), C(include_role), C(validate_argument_spec)): some seventy of a
  deploy's tasks. The main process runs ansible-core's own task executor on a copy of the task, as
  the worker would, and sends its result through the same queue.
A fork and a worker's start cost some 20 ms per task and host, ten times that on ten hosts sharing
two cores. Anything that is not plainly one of these (a loop, a delegation, retries, async or a
timeout, an error while deciding) goes to a worker as before.
"""

from __future__ import annotations

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


def _one_run(task):
    """A task the main process can run as its worker would: one run, no loop."""
    return not (TURNED_OFF or _RawTaskResult is None or task.loop is not None or task.loop_with)


def _plain(task):
    """A task whose condition the main process can evaluate as its worker would: one run, on its own host
    (the worker evaluates a delegated task's condition with the delegated host's variables)."""
    return _one_run(task) and task.delegate_to is None


def skipped_result(task, host, task_vars, play_context, loader):
    """The result the worker would send for ``task`` on ``host`` when its condition is false, or None."""
    if not task.when or not _plain(task):
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


def controller_executor(strategy, host, task, task_vars, play_context):
    """ansible-core's task executor for a task whose action stays on the controller, or None."""
    # The executor itself works out a delegation (its host, its variables, delegate_facts), as in a worker.
    if task.action not in CONTROLLER_ACTIONS or not _one_run(task) or task.until or task.retries or task.async_val or task.timeout:
        return None
    try:
        # A worker runs on its own copies (it is forked): the executor finalises the task and the variables it is given.
        return TaskExecutor(host, task.copy(exclude_tasks=True), task_vars.copy(), play_context, strategy._loader,  # pylint: disable=protected-access
                            plugin_loader.get_plugin_loader_namespace(), strategy._final_q, strategy._variable_manager)  # pylint: disable=protected-access
    except Exception:  # pylint: disable=broad-exception-caught
        return None


class InPlace:
    """A strategy's _queue_task that answers for the worker of a task that needs none."""

    def _queue_task(self, host, task, task_vars, play_context):
        # A controller-only task's executor evaluates its condition itself: only a module's is evaluated here.
        executor = controller_executor(self, host, task, task_vars, play_context)
        result = None if executor is not None else skipped_result(task, host, task_vars, play_context, self._loader)
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
