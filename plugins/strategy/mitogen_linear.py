# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: mitogen_linear
short_description: The linear strategy, run through Mitogen when Mitogen is installed
version_added: 1.0.0
description:
  - Runs a play exactly as the builtin C(linear) strategy does (task by task, every host of the batch before the
    next task). When the C(mitogen) Python package is installed on the controller, each host's tasks run in one
    long-lived Python process on that host instead of a new process per task, which makes a task about ten times
    cheaper (0.05 s instead of 0.5 s on one simulated host).
  - Without C(mitogen), it is the builtin C(linear) strategy, so a controller or execution environment that lacks
    it still runs every playbook.
  - Mitogen speeds up the connections named C(ssh), C(docker) and C(local); others (for example
    C(community.docker.docker) by its full name) run as with the builtin strategy.
  - Mitogen lists every installed collection's directory before each task of a collection's module, in the worker
    process of that task and host (about 0.18 s with the C(ansible) package's collections; ten hosts' workers share
    the controller's cores). This strategy lists them once per run, before the workers start.
  - With or without Mitogen, the tasks that need no worker are answered by the strategy itself, as
    P(nextgen.rollout.linear#strategy) does it.
  - The collection's C(ansible.cfg) sets C(strategy = nextgen.rollout.mitogen_linear); C(requirements.txt) installs
    C(mitogen). C(ANSIBLE_STRATEGY=linear) turns it off for one run.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

import functools

from ansible_collections.nextgen.rollout.plugins.plugin_utils._in_place import InPlace
from ansible_collections.nextgen.rollout.plugins.strategy.linear import StrategyModule as _InPlaceLinear

try:
    import ansible_mitogen.loaders
    import ansible_mitogen.planner
    import ansible_mitogen.strategy
except ImportError:
    StrategyModule = _InPlaceLinear
else:
    @functools.lru_cache(maxsize=None)
    def collection_dirs():
        import ansible.collections.list
        return tuple(path.decode("utf-8") for path in ansible.collections.list.list_collection_dirs())

    def _load_collections(invocation):
        invocation._extra_sys_paths.update(collection_dirs())

    # Workers are forked from this process after the strategy loads, so they plan with these.
    ansible_mitogen.planner._load_collections = _load_collections

    class StrategyModule(InPlace, ansible_mitogen.strategy.StrategyMixin,
                         ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)):
        def run(self, *args, **kwargs):
            collection_dirs()  # once here, before the workers fork, instead of in every worker
            return super().run(*args, **kwargs)
