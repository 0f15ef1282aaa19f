from ansible_collections.nextgen.rollout.plugins.module_utils._process import holder_gone, run_owner


def fake_proc(tmp_path, processes):
    proc = tmp_path / "proc"
    for pid, (ppid, start, cmdline) in processes.items():
        (proc / str(pid)).mkdir(parents=True)
        fields = ["S", str(ppid)] + ["0"] * 17 + [str(start)] + ["0"] * 5
        (proc / str(pid) / "stat").write_text("%d (x) %s\n" % (pid, " ".join(fields)))
        (proc / str(pid) / "cmdline").write_bytes("\0".join(cmdline).encode() + b"\0")
    return str(proc)


def test_the_owner_is_the_outermost_ansible_playbook_process_not_its_worker(tmp_path):
    proc = fake_proc(tmp_path, {
        1: (0, 1, ["/sbin/init"]),
        50: (1, 500, ["/venv/bin/python3", "/venv/bin/ansible-playbook", "deploy.yml"]),
        60: (50, 600, ["/venv/bin/python3", "/venv/bin/ansible-playbook", "deploy.yml"]),  # a forked worker
    })
    assert run_owner(60, proc=proc, hostname="ops") == {"controller": "ops", "pid": 50, "pid_start": 500}


def test_a_holder_is_gone_only_when_it_ran_here_and_its_process_is_not_the_same(tmp_path):
    proc = fake_proc(tmp_path, {50: (1, 500, ["ansible-playbook"])})
    assert not holder_gone({"controller": "ops", "pid": 50, "pid_start": 500}, proc=proc, hostname="ops")
    assert holder_gone({"controller": "ops", "pid": 50, "pid_start": 499}, proc=proc, hostname="ops")  # pid reused
    assert holder_gone({"controller": "ops", "pid": 77, "pid_start": 1}, proc=proc, hostname="ops")
    assert not holder_gone({"controller": "awx-job-pod", "pid": 77, "pid_start": 1}, proc=proc, hostname="ops")
    assert not holder_gone(None) and not holder_gone({"holder": "old-layout"}, hostname="ops")
