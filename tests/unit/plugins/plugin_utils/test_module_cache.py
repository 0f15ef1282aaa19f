"""The summary callback keeps the modules ansible-core packs for the hosts (AnsiballZ) from one run to
the next, and packs a module again when a file it packed changed. Each case runs ansible-playbook
with the builtin strategy on localhost, and reads ansible-core's own debug lines about its cache."""
import os
import shutil
import subprocess
import sys

from support.fresh_python import ROOT

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run a module of the collection
      nextgen.rollout.release_ledger:
        service: agent-loop
        state_dir: "{{ playbook_dir }}/state"
"""
MODULE_UTIL = os.path.join(ROOT, "plugins", "module_utils", "_ledger.py")
ENTRY = "ansible_collections.nextgen.rollout.plugins.modules.release_ledger-ZIP_DEFLATED-none"


def run(tmp_path, **env):
    playbook = tmp_path / "ledger.yml"
    playbook.write_text(PLAYBOOK)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", str(playbook)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STRATEGY="linear",
                                   ANSIBLE_CALLBACKS_ENABLED="nextgen.rollout.summary", ANSIBLE_DEBUG="1",
                                   ANSIBLE_PYTHON_INTERPRETER=sys.executable, XDG_CACHE_HOME=str(tmp_path / "cache"), **env))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    built = "ANSIBALLZ: Creating module" in proc.stdout + proc.stderr
    used = "ANSIBALLZ: using cached module" in proc.stdout + proc.stderr
    assert built != used
    return built


def test_a_module_packed_in_one_run_is_not_packed_again_until_a_file_it_packed_changes(tmp_path):
    assert run(tmp_path) is True
    store = next((tmp_path / "cache" / "nextgen-rollout" / "modules").iterdir())
    kept = sorted(path.name for path in store.iterdir())
    assert len(kept) == 2 and kept[0].startswith(ENTRY + ".") and kept[1] == kept[0] + ".files.json"
    assert oct(store.stat().st_mode & 0o777) == "0o700"
    assert run(tmp_path) is False
    status = os.stat(MODULE_UTIL)
    try:
        os.utime(MODULE_UTIL, ns=(status.st_atime_ns, status.st_mtime_ns + 1000))
        assert run(tmp_path) is True
        assert run(tmp_path) is False
    finally:
        os.utime(MODULE_UTIL, ns=(status.st_atime_ns, status.st_mtime_ns))


def test_a_store_others_can_write_in_is_not_used_and_the_switch_turns_it_off(tmp_path):
    assert run(tmp_path) is True
    store = next((tmp_path / "cache" / "nextgen-rollout" / "modules").iterdir())
    for path in store.iterdir():
        path.unlink()
    store.chmod(0o777)
    assert run(tmp_path) is True and run(tmp_path) is True
    assert list(store.iterdir()) == []
    store.chmod(0o700)
    assert run(tmp_path, NEXTGEN_ROLLOUT_MODULE_CACHE="off") is True
    assert list(store.iterdir()) == []


def test_two_checkouts_of_the_collection_keep_packs_of_their_own_and_a_removed_one_is_forgotten(tmp_path):
    other = tmp_path / "other" / "ansible_collections" / "nextgen" / "rollout"
    shutil.copytree(os.path.join(ROOT, "plugins"), str(other / "plugins"), ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(ROOT, "meta"), str(other / "meta"))
    shutil.copy(os.path.join(ROOT, "galaxy.yml"), str(other))
    checkout = {"ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "other")}
    assert run(tmp_path) is True
    assert run(tmp_path, **checkout) is True
    with open(str(other / "plugins" / "module_utils" / "_ledger.py"), "a") as stream:
        stream.write("\n# changed in the other checkout only\n")
    assert run(tmp_path, **checkout) is True
    assert run(tmp_path, **checkout) is False
    assert run(tmp_path) is False
    store = next((tmp_path / "cache" / "nextgen-rollout" / "modules").iterdir())
    assert len(list(store.iterdir())) == 4
    # A checkout that is gone: the next run forgets its pack.
    shutil.rmtree(str(tmp_path / "other"))
    assert run(tmp_path) is False
    assert len(list(store.iterdir())) == 2
