"""The collection's strategies answer in ansible-playbook's main process for the tasks that need no
worker (a false condition; an action that stays on the controller), with the result, output and
registered value the worker would have given. Each case runs ansible-playbook's own command line in
a fresh Python that counts the workers it starts."""
import json
import sys

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
    - name: A loop of messages, each judged
      ansible.builtin.debug:
        msg: "{{ item }}"
      loop: "{{ numbers }}"
      when: item > 5
    - name: A module's loop, judged per item by its worker
      ansible.builtin.command: touch {{ marker }}
      loop: "{{ numbers }}"
      when: item > 5
    - name: A module's loop without items
      ansible.builtin.command: touch {{ marker }}
      loop: "{{ numbers | select('gt', 5) | list }}"
    - name: A module's loop that calls a lookup, left to its worker
      ansible.builtin.command: touch {{ marker }}
      loop: "{{ lookup('ansible.builtin.items', numbers | select('gt', 5) | list, wantlist=true) }}"
    - name: A module on another host, whose condition is false with that host's variables
      ansible.builtin.command: touch {{ marker }}
      delegate_to: other
      when: ansible_delegated_vars['other'].flavour != 'plain'
    - name: A condition that cannot be evaluated, its error rescued
      block:
        - name: A condition that cannot be evaluated
          ansible.builtin.debug:
            msg: never
          when: not_defined_anywhere
      rescue:
        - name: Keep the error
          ansible.builtin.set_fact:
            evaluation_error: "{{ ansible_failed_result.msg }}"
    - name: A fact from a module's result
      ansible.builtin.command: echo {{ numbers | sum }}
      register: echoed
      changed_when: false
    - name: Set facts, one of them secret
      ansible.builtin.set_fact:
        total: "{{ echoed.stdout | int + 1 }}"
        hidden: "{{ secret }}"
      no_log: true
    - name: An include with a variable
      ansible.builtin.include_tasks: included.yml
      vars:
        increment: 10
    - name: A role whose argument specification refuses a value, its error rescued
      block:
        - name: A role whose argument specification refuses a value
          ansible.builtin.include_role:
            name: checked
          vars:
            checked_count: many
      rescue:
        - name: Keep the refusal
          ansible.builtin.set_fact:
            refusal: "{{ ansible_failed_result.msg }}"
    - name: A role whose arguments hold
      ansible.builtin.include_role:
        name: checked
      vars:
        checked_count: 3
    - name: An assertion that fails, its message rescued
      block:
        - name: An assertion that fails
          ansible.builtin.assert:
            that: total | int > 100
            fail_msg: "total is {{ total }}"
      rescue:
        - name: Keep the message
          ansible.builtin.set_fact:
            assertion: "{{ ansible_failed_result.msg }}"
    - name: A fact set on another host
      ansible.builtin.set_fact:
        delegated_fact: "{{ total | int * 10 }}"
      delegate_to: other
      delegate_facts: true
    - name: A message on another host, with a condition
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} has {{ hostvars['other'].delegated_fact }} on other"
      delegate_to: other
      when: hostvars['other'].delegated_fact is defined
    - name: A condition that holds
      ansible.builtin.debug:
        msg: "{{ first.skip_reason }} ({{ first.false_condition }}), secret skipped {{ secret_result is skipped }}, {{ evaluation_error }},
          total {{ total }}, included {{ included }}, {{ refusal }}, counted {{ counted }}, {{ assertion }},
          delegated {{ hostvars['other'].delegated_fact }}, local {{ delegated_fact | default('none') }}"
      when: first is skipped and ansible_connection == 'local'
    - name: Counted statistics
      ansible.builtin.set_stats:
        data:
          total: "{{ total }}"
"""
INCLUDED = """
- name: A fact from the include's variable
  ansible.builtin.set_fact:
    included: "{{ total | int + increment }}"
"""
ROLE_SPECS = """
argument_specs:
  main:
    short_description: A role with one integer argument
    options:
      checked_count:
        type: int
        required: true
        description: A count.
"""
ROLE_TASKS = """
- name: Count
  ansible.builtin.set_fact:
    counted: "{{ checked_count * 2 }}"
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
rc = PlaybookCLI(["ansible-playbook", "-i", sys.argv[4], "-e", "marker=" + sys.argv[3], "-e", "secret=s3cr3t", sys.argv[2]]).run()
sys.stderr.write("WORKERS=" + json.dumps({"rc": rc, "workers": started}) + "\\n")
"""
# The tasks that still need a worker: the modules that run (if only to judge their loop's items).
WORKER_TASKS = ["A module's loop, judged per item by its worker", "A module's loop that calls a lookup, left to its worker",
                "A fact from a module's result"]


def run(tmp_path, strategy, output, **env):
    playbook = tmp_path / "in_place.yml"
    playbook.write_text(PLAYBOOK)
    (tmp_path / "included.yml").write_text(INCLUDED)
    for name, text in (("meta/argument_specs.yml", ROLE_SPECS), ("tasks/main.yml", ROLE_TASKS)):
        path = tmp_path / "roles" / "checked" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    inventory = tmp_path / "hosts"
    inventory.write_text("localhost ansible_python_interpreter={0}\nother ansible_connection=local ansible_python_interpreter={0} flavour=plain\n"
                         .format(sys.executable))
    done = run_fresh(SCRIPT, [str(playbook), str(tmp_path / "marker"), str(inventory)],
                     dict({"ANSIBLE_STRATEGY": strategy, "ANSIBLE_STDOUT_CALLBACK": output, "ANSIBLE_NOCOLOR": "1",
                           "ANSIBLE_SHOW_CUSTOM_STATS": "1"}, **env))
    workers = json.loads([line for line in done.stderr.splitlines() if line.startswith("WORKERS=")][0][len("WORKERS="):])
    return done.stdout, workers


@pytest.mark.parametrize("strategy", ["nextgen.rollout.mitogen_linear", "nextgen.rollout.linear"])
@pytest.mark.parametrize("output", ["ansible.builtin.default", "ansible.posix.json"])
def test_the_tasks_that_need_no_worker_are_answered_as_a_worker_would(tmp_path, output, strategy):
    builtin, builtin_workers = run(tmp_path, "ansible.builtin.linear", output)
    ours, our_workers = run(tmp_path, strategy, output)
    assert builtin_workers["rc"] == our_workers["rc"] == 0
    assert not (tmp_path / "marker").exists()
    assert len(builtin_workers["workers"]) == 26
    assert our_workers["workers"] == WORKER_TASKS
    assert "s3cr3t" not in ours
    for said in ("Conditional result was False (flag), secret skipped True", "not_defined_anywhere", "is undefined",
                 "total 4, included 14,", "checked_count", "counted 6", "total is 4",
                 "localhost has 40 on other", "delegated 40, local none"):
        assert said in ours
    if output == "ansible.posix.json":
        builtin, ours = json.loads(builtin), json.loads(ours)
        for play in builtin["plays"] + ours["plays"]:
            play["play"].pop("duration")
            play["play"].pop("id")
            for task in play["tasks"]:
                task["task"].pop("duration")
                task["task"].pop("id")
                for host in task["hosts"].values():
                    # The command's own timing and its start and end.
                    for key in ("delta", "start", "end"):
                        host.pop(key, None)
        assert ours["plays"] == builtin["plays"]
        assert ours["stats"] == builtin["stats"]
        assert ours["custom_stats"] == builtin["custom_stats"]
    else:
        assert ours == builtin


def test_the_environment_sends_every_task_to_a_worker(tmp_path):
    output, workers = run(tmp_path, "nextgen.rollout.mitogen_linear", "ansible.builtin.default", NEXTGEN_ROLLOUT_IN_PLACE="off")
    assert len(workers["workers"]) == 26 and "Conditional result was False (flag), secret skipped True" in output
