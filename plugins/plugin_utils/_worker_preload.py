# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Load the collection's controller-side plugins once, in ansible-playbook's main process.

ansible-playbook runs every task of every host in a worker process forked from its main process.
A worker inherits what the main process has imported, and imports the rest itself, then exits: a
task that uses one of the collection's filters imported all of them (the filter files and their
module_utils, about 50 ms) again in every worker, that is once per task per host. Loaded here
first, every worker inherits them: measured side by side, a deploy about 0.75 s shorter on one host
and a warm rollback of ten hosts about 0.6 s shorter.
"""

from __future__ import annotations

from ansible.plugins.loader import action_loader, filter_loader, lookup_loader

# One filter loads the collection's whole filter directory; each lookup is its own file.
FILTER = "nextgen.rollout.release_problems"
LOOKUPS = ("nextgen.rollout.controller_run", "nextgen.rollout.controller_dir")
# The action behind the argument validation of every role the playbooks include, on every host.
ACTIONS = ("ansible.builtin.validate_argument_spec",)


def load_before_fork():
    """Load them; return the names that could not be (a missing one only costs the workers time)."""
    missing = []
    for name, load in [(FILTER, filter_loader.get)] + [(lookup, lookup_loader.get) for lookup in LOOKUPS] + [
            (action, lambda fqcn: action_loader.get(fqcn, class_only=True)) for action in ACTIONS]:
        # Whatever goes wrong, this only spares time: it never stops a run.
        try:
            found = load(name)
        except Exception:  # pylint: disable=broad-exception-caught
            found = None
        if found is None:
            missing.append(name)
    return missing
