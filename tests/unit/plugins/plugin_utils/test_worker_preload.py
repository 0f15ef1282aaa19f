"""The summary callback loads the collection's filters and lookups in the controller's main process,
so that the workers forked for each task inherit them. Run in a fresh Python with ansible-core's own
plugin loader, as ansible-playbook sets it up."""
import glob
import os

from support.fresh_python import ROOT, run_script

SCRIPT = """
import json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[1]])
from ansible_collections.nextgen.rollout.plugins.callback.summary import CallbackModule
before = set(sys.modules)
CallbackModule()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_the_callback_loads_every_filter_and_lookup_file_and_the_argument_validation_before_any_fork():
    loaded = run_script(SCRIPT, {"NEXTGEN_ROLLOUT_TEMPLATE_CACHE": "off"})[-1]
    for kind in ("filter", "lookup"):
        for path in glob.glob(os.path.join(ROOT, "plugins", kind, "*.py")):
            name = "ansible_collections.nextgen.rollout.plugins.%s.%s" % (kind, os.path.basename(path)[:-3])
            assert name in loaded, name
    assert "ansible_collections.nextgen.rollout.plugins.module_utils._prechecks" in loaded
    assert "ansible_collections.ansible.builtin.plugins.action.validate_argument_spec" in loaded


def test_nothing_it_cannot_load_stops_a_run():
    script = SCRIPT.replace("CallbackModule()", "from ansible_collections.nextgen.rollout.plugins.plugin_utils import _worker_preload as p\n"
                                                "p.FILTER = 'nextgen.rollout.no_such_filter'\nprint(json.dumps(p.load_before_fork()))")
    assert run_script(script)[0] == ["nextgen.rollout.no_such_filter"]
