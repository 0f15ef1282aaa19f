"""The collection's strategy runs tasks through Mitogen when it is installed, and as the builtin
linear strategy when it is not. Each case runs a real ansible-playbook on localhost and asks the
task's shell who started it: Mitogen's long-lived interpreter names itself python3(mitogen:...)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Name the process that ran this task's module
      ansible.builtin.shell: ps -o args= -p "$PPID"
      register: parent
      changed_when: false
    - name: Show it
      ansible.builtin.debug:
        msg: "PARENT={{ parent.stdout }}"
    - name: Run a module of the collection (Mitogen finds it through the collection directories)
      nextgen.rollout.release_ledger:
        service: agent-loop
        state_dir: "{{ playbook_dir }}/state"
      register: read
    - name: Show what it read
      ansible.builtin.debug:
        msg: "SERVICE={{ read.ledger.service }}"
"""


def run_playbook(tmp_path, extra_env):
    playbook = tmp_path / "who.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, **extra_env)
    env.pop("ANSIBLE_STRATEGY", None)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", str(playbook)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert [line.split("SERVICE=")[1] for line in proc.stdout.splitlines() if "SERVICE=" in line] == ["agent-loop"]
    return [line for line in proc.stdout.splitlines() if "PARENT=" in line][0]


def test_with_mitogen_installed_the_tasks_run_in_mitogens_interpreter(tmp_path):
    # requirements-dev.txt installs mitogen in .venv.
    assert "(mitogen:" in run_playbook(tmp_path, {})


def test_without_mitogen_it_is_the_builtin_linear_strategy(tmp_path):
    # A package named ansible_mitogen that fails to import stands for a controller without Mitogen.
    hidden = tmp_path / "no_mitogen" / "ansible_mitogen"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('mitogen is not installed here')\n")
    parent = run_playbook(tmp_path, {"PYTHONPATH": str(tmp_path / "no_mitogen")})
    assert "mitogen" not in parent and "python" in parent


def test_the_collection_directories_are_listed_once_per_run_not_once_per_task(monkeypatch):
    import ansible.collections.list
    from ansible_collections.nextgen.rollout.plugins.strategy import mitogen_linear
    calls = []

    def listing():
        calls.append(1)
        return iter([b"/a/ansible_collections/x/y", b"/b/ansible_collections/z/w"])
    monkeypatch.setattr(ansible.collections.list, "list_collection_dirs", listing)
    mitogen_linear.collection_dirs.cache_clear()

    class Invocation(object):
        def __init__(self):
            self._extra_sys_paths = set()
    invocations = [Invocation() for _task in range(3)]
    for invocation in invocations:
        mitogen_linear._load_collections(invocation)
    assert len(calls) == 1
    assert all(i._extra_sys_paths == {"/a/ansible_collections/x/y", "/b/ansible_collections/z/w"} for i in invocations)
    mitogen_linear.collection_dirs.cache_clear()
