"""The collection's strategy skips a task whose condition is false without forking a worker for it,
with the result, output and registered value the worker would have given. Each case runs
ansible-playbook's own command line in a fresh Python that counts the workers it starts."""
import json

import pytest

from support.fresh_python import run_fresh

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    flag: false
    numbers: [1, 2]
  tasks:
    - name: A false condition
      ansible.builtin.command: touch {{ marker }}
      when: flag
      register: first
    - name: A false condition on a secret
      ansible.builtin.debug:
        msg: "{{ secret }}"
      when: flag or secret == 'no'
      no_log: true
      register: secret_result
    - name: A false include
      ansible.builtin.include_tasks: missing.yml
      when: flag
    - name: A loop, judged per item by its worker
      ansible.builtin.debug:
        msg: "{{ item }}"
      loop: "{{ numbers }}"
      when: item > 5
    - name: A condition that cannot be evaluated, its worker's error rescued
      block:
        - name: A condition that cannot be evaluated
          ansible.builtin.debug:
            msg: never
          when: not_defined_anywhere
      rescue:
        - name: Keep the worker's error
          ansible.builtin.set_fact:
            evaluation_error: "{{ ansible_failed_result.msg }}"
    - name: A condition that holds
      ansible.builtin.debug:
        msg: "{{ first.skip_reason }} ({{ first.false_condition }}), secret skipped {{ secret_result is skipped }}, {{ evaluation_error }}"
      when: first is skipped and ansible_connection == 'local'
"""
SCRIPT = """
import json, sys
from ansible.executor.process import worker
started = []
start = worker.WorkerProcess.start
def counted(self):
    started.append(self._task.get_name())
    return start(self)
worker.WorkerProcess.start = counted
from ansible.cli.playbook import PlaybookCLI
rc = PlaybookCLI(["ansible-playbook", "-i", "localhost,", "-e", "marker=" + sys.argv[3], "-e", "secret=s3cr3t", sys.argv[2]]).run()
sys.stderr.write("WORKERS=" + json.dumps({"rc": rc, "workers": started}) + "\\n")
"""


def run(tmp_path, strategy, output, **env):
    playbook = tmp_path / "skips.yml"
    playbook.write_text(PLAYBOOK)
    done = run_fresh(SCRIPT, [str(playbook), str(tmp_path / "marker")],
                     dict({"ANSIBLE_STRATEGY": strategy, "ANSIBLE_STDOUT_CALLBACK": output, "ANSIBLE_NOCOLOR": "1"}, **env))
    workers = json.loads([line for line in done.stderr.splitlines() if line.startswith("WORKERS=")][0][len("WORKERS="):])
    return done.stdout, workers


@pytest.mark.parametrize("output", ["ansible.builtin.default", "ansible.posix.json"])
def test_a_false_condition_is_skipped_without_a_worker_and_reported_as_a_worker_would(tmp_path, output):
    builtin, builtin_workers = run(tmp_path, "ansible.builtin.linear", output)
    ours, our_workers = run(tmp_path, "nextgen.rollout.mitogen_linear", output)
    assert builtin_workers["rc"] == our_workers["rc"] == 0
    assert not (tmp_path / "marker").exists()
    # Three tasks decided by the strategy; the loop, the undecidable condition, its rescue and the true one still have a worker.
    assert builtin_workers["workers"] == ["A false condition", "A false condition on a secret", "A false include",
                                          "A loop, judged per item by its worker", "A condition that cannot be evaluated",
                                          "Keep the worker's error", "A condition that holds"]
    assert our_workers["workers"] == ["A loop, judged per item by its worker", "A condition that cannot be evaluated",
                                      "Keep the worker's error", "A condition that holds"]
    assert "s3cr3t" not in ours
    assert "Conditional result was False (flag), secret skipped True" in ours
    assert "not_defined_anywhere" in ours and "is undefined" in ours
    if output == "ansible.posix.json":
        builtin, ours = json.loads(builtin), json.loads(ours)
        for play in builtin["plays"] + ours["plays"]:
            play["play"].pop("duration")
            play["play"].pop("id")
            for task in play["tasks"]:
                task["task"].pop("duration")
                task["task"].pop("id")
        assert ours["plays"] == builtin["plays"]
        assert ours["stats"] == builtin["stats"]
    else:
        assert ours == builtin


def test_the_environment_sends_every_task_to_a_worker(tmp_path):
    output, workers = run(tmp_path, "nextgen.rollout.mitogen_linear", "ansible.builtin.default", NEXTGEN_ROLLOUT_SKIP_IN_PLACE="off")
    assert len(workers["workers"]) == 7 and "Conditional result was False (flag), secret skipped True" in output
