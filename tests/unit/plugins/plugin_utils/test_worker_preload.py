"""The summary callback loads the collection's filters and lookups in the controller's main process,
so that the workers forked for each task inherit them. Run in a fresh Python with ansible-core's own
plugin loader, as ansible-playbook sets it up."""
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SCRIPT = """
import json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[1]])
from ansible_collections.nextgen.rollout.plugins.callback.summary import CallbackModule
before = set(sys.modules)
CallbackModule()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def run_script(script):
    """The JSON lines ``script`` prints, run in a fresh Python with the collection's plugin loader."""
    done = subprocess.run([sys.executable, "-c", script, os.path.join(ROOT, ".collections")], capture_output=True, text=True,
                          check=False, env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg")))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.strip().splitlines()]


def test_the_callback_loads_every_filter_and_lookup_file_and_the_argument_validation_before_any_fork():
    loaded = run_script(SCRIPT)[-1]
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
