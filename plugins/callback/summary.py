# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: summary
type: aggregate
short_description: End every run of the collection's playbooks with a readable summary table
version_added: 1.0.0
description:
  - At the end of a run, prints what the playbooks reported with C(set_stats) (release, status, backup, restore,
    maintenance, logging) as one table per report, one line per host (result, versions, wave, whether traffic
    moved, what happened), which hosts could not be reached (a row in each table, C(unreachable), and a line),
    and which webhooks could not be told. With C(--check), the titles say that the results
    are what the run would do.
  - It needs no setting in C(ansible.cfg); the collection's playbooks load it from their C(callback_plugins)
    directory. Elsewhere, enable it with C(callbacks_enabled = nextgen.rollout.summary).
  - It also loads the collection's filters and lookups once in the controller's main process, which every
    worker process forked for a task then inherits instead of loading them again.
  - And it keeps the code Jinja compiles each template into, in C(~/.cache/nextgen-rollout/templates/) (a directory
    of the user that runs the playbook, mode 0700; C($XDG_CACHE_HOME) moves it), so that a template is compiled
    once, not once per task per host. C(NEXTGEN_ROLLOUT_TEMPLATE_CACHE=off) in the environment turns this off.
  - At the end of a run it keeps the modules ansible-core packed for the hosts (AnsiballZ, without Mitogen) in
    C(~/.cache/nextgen-rollout/modules/), each with the list of files it packed, and puts back at the start of the
    next run those whose files are unchanged, so that a module is not packed again in every run.
    C(NEXTGEN_ROLLOUT_MODULE_CACHE=off) turns this off.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.nextgen.rollout.plugins.module_utils._summary import summary_lines
from ansible_collections.nextgen.rollout.plugins.plugin_utils import _module_cache
from ansible_collections.nextgen.rollout.plugins.plugin_utils._template_cache import install as keep_compiled_templates
from ansible_collections.nextgen.rollout.plugins.plugin_utils._worker_preload import load_before_fork


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "nextgen.rollout.summary"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.unreachable = {}
        # The collection's playbooks load this callback in ansible-playbook's main process, before any
        # worker is forked: the one place where loading the plugins once spares every task on every host.
        load_before_fork()
        keep_compiled_templates()
        self.modules_restored = _module_cache.restore()

    def v2_runner_on_unreachable(self, result):
        self.unreachable.setdefault(result._host.get_name(), result._result.get("msg", ""))

    def v2_playbook_on_stats(self, stats):
        _module_cache.keep(skip=self.modules_restored)
        lines = summary_lines(getattr(stats, "custom", None) or {}, check_mode=bool(context.CLIARGS.get("check")),
                              unreachable=self.unreachable)
        if lines:
            self._display.display("\n".join(lines))
