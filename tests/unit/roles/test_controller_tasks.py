"""Every module the playbooks and roles run on the controller runs there without sudo, even with an
inventory that sets ansible_become for every host (inventories/example's group_vars/all.yml): such a
variable outranks a task's or a play's become: false (under Mitogen, ansible.cfg's strategy), and the
controller (a laptop, an AWX execution environment) has no sudo for the run. Only a variable of the
task, its block or its play outranks it."""
import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Actions that run inside the controller's Ansible process: they open no connection, so they never become.
IN_PROCESS = {"add_host", "assert", "debug", "fail", "group_by", "import_role", "import_tasks", "include_role",
              "include_tasks", "include_vars", "meta", "pause", "set_fact", "set_stats"}
TASK_KEYS = {"name", "when", "vars", "register", "delegate_to", "delegate_facts", "run_once", "become", "changed_when",
             "failed_when", "ignore_errors", "loop", "loop_control", "tags", "no_log", "until", "retries", "delay",
             "notify", "check_mode", "environment", "listen", "async", "poll", "throttle", "args", "any_errors_fatal",
             "become_user", "diff", "timeout", "ignore_unreachable", "module_defaults", "collections"}


def action_of(task):
    names = [key for key in task if key not in TASK_KEYS and key not in ("block", "rescue", "always")]
    return names[0].rsplit(".", 1)[-1] if names else None


def controller_tasks(tasks, on_controller, become_off, where):
    """(where, task name) of each task that runs a module on the controller without ansible_become: false."""
    found = []
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        here = on_controller or task.get("delegate_to") in ("localhost", "127.0.0.1")
        off = become_off or (task.get("vars") or {}).get("ansible_become") is False
        for section in ("block", "rescue", "always"):
            found += controller_tasks(task.get(section), here, off, where)
        if "block" not in task and here and not off and action_of(task) not in IN_PROCESS:
            found.append((where, task.get("name")))
    return found


def files():
    patterns = ["playbooks/*.yml", "roles/*/tasks/*.yml", "roles/*/handlers/*.yml", "extensions/**/*.yml",
                "benchmarks/**/*.yml", "tests/e2e/files/*.yml"]
    return sorted(set(path for pattern in patterns for path in glob.glob(os.path.join(ROOT, pattern), recursive=True)))


def unbecoming_controller_tasks(path):
    with open(path) as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, list):
        return []
    where = os.path.relpath(path, ROOT)
    plays = [item for item in data if isinstance(item, dict) and ("hosts" in item or "import_playbook" in item)]
    if not plays:
        return controller_tasks(data, False, False, where)
    found = []
    for play in plays:
        on_controller = str(play.get("hosts", "")).strip() in ("localhost", "127.0.0.1")
        become_off = (play.get("vars") or {}).get("ansible_become") is False
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            found += controller_tasks(play.get(section), on_controller, become_off, where)
    return found


def test_the_scan_reads_the_playbooks_and_roles():
    scanned = [os.path.relpath(path, ROOT) for path in files()]
    assert "playbooks/blue-green-deploy.yml" in scanned and "roles/logging/tasks/tls.yml" in scanned


@pytest.mark.parametrize("path", files(), ids=lambda path: os.path.relpath(path, ROOT))
def test_modules_on_the_controller_never_become(path):
    assert unbecoming_controller_tasks(path) == []


def test_the_check_finds_a_delegated_module_that_would_become(tmp_path):
    tasks = [{"name": "webhook", "nextgen.rollout.notify": {}, "delegate_to": "localhost", "become": False},
             {"name": "fine", "nextgen.rollout.notify": {}, "delegate_to": "localhost", "vars": {"ansible_become": False}},
             {"name": "in process", "ansible.builtin.set_fact": {"x": 1}, "delegate_to": "localhost"},
             {"name": "block", "delegate_to": "localhost", "block": [{"name": "inner", "ansible.builtin.file": {}}]},
             {"name": "on the host", "ansible.builtin.file": {}}]
    path = tmp_path / "tasks.yml"
    path.write_text(yaml.safe_dump(tasks))
    assert [name for _where, name in unbecoming_controller_tasks(str(path))] == ["webhook", "inner"]
    play = [{"hosts": "localhost", "become": False, "tasks": [{"name": "awx", "awx.awx.project": {}}]}]
    path.write_text(yaml.safe_dump(play))
    assert [name for _where, name in unbecoming_controller_tasks(str(path))] == ["awx"]
