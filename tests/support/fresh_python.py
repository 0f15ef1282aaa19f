"""Run a script in a fresh Python with ansible-core's plugin loader set up for the collection, as
ansible-playbook sets it up in its main process."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_fresh(script, args=(), env=None):
    """The finished process of ``script``, which finds the collections directory in sys.argv[1] and ``args`` after it."""
    done = subprocess.run([sys.executable, "-c", script, os.path.join(ROOT, ".collections")] + list(args), capture_output=True,
                          text=True, check=False, env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), **(env or {})))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def run_script(script, env=None):
    """The JSON lines ``script`` prints."""
    return [json.loads(line) for line in run_fresh(script, env=env).stdout.strip().splitlines()]
