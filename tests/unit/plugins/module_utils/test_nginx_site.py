import os
import stat

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import (
    SiteRefused, SiteSwitch, digest, nginx_workers, site_route)

GOOD = "upstream a { server 127.0.0.1:8001; }\n"
NEW = "upstream a { server 127.0.0.1:8002; }\n"
BROKEN = "upstream a { server broken\n"


class FakeNginx(object):
    """Stands in for the nginx binary and its master: a test that rejects 'broken' sites, and a
    reload that starts new workers unless the master cannot apply the config it finds."""

    def __init__(self, path, cannot_apply=None, reload_rc=0):
        self.path = path
        self.cannot_apply = cannot_apply
        self.reload_rc = reload_rc
        self.master = 100
        self.worker_set = {101, 102}
        self.next_pid = 200
        self.calls = []

    def run(self, argv):
        self.calls.append(argv[-1])
        site = open(self.path).read() if os.path.exists(self.path) else ""
        if argv[-1] == "-t":
            return (1, "", "nginx: [emerg] invalid host in %s:2" % self.path) if "broken" in site else (0, "", "syntax is ok")
        if self.reload_rc:
            return self.reload_rc, "", "nginx: [error] invalid PID number"
        if self.cannot_apply is None or self.cannot_apply not in site:
            self.worker_set = {self.next_pid, self.next_pid + 1}
            self.next_pid += 2
        return 0, "", ""

    def workers(self):
        return self.master, set(self.worker_set)


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def site(tmp_path):
    path = str(tmp_path / "agent-loop.conf")
    with open(path, "w") as handle:
        handle.write(GOOD)
    with open(path + ".loaded", "w") as handle:  # nginx runs it
        handle.write(digest(GOOD))
    return path


def switch_for(path, nginx, timeout=1.0):
    clock = Clock()
    return SiteSwitch(path, run=nginx.run, workers=nginx.workers, reload_timeout=timeout, clock=clock,
                      sleep=clock.sleep)


def test_new_content_goes_live_and_the_previous_is_kept(site):
    nginx = FakeNginx(site)
    result = switch_for(site, nginx).apply(NEW)
    assert result["changed"] and result["reloaded"] and result["reloaded_at"] > 1.7e9
    assert open(site).read() == NEW
    assert open(site + ".previous").read() == GOOD
    assert stat.S_IMODE(os.stat(site).st_mode) == 0o644
    assert nginx.calls == ["-t", "reload"]
    assert nginx.worker_set == {200, 201}


def test_same_content_changes_nothing_and_does_not_reload(site):
    nginx = FakeNginx(site)
    assert switch_for(site, nginx).apply(GOOD) == {"changed": False, "reloaded": False}
    assert nginx.calls == []


def test_a_config_that_fails_the_test_is_never_reloaded_and_the_old_one_is_back(site):
    nginx = FakeNginx(site)
    with pytest.raises(SiteRefused, match=r"nginx -t rejected .*invalid host.*previous config is back"):
        switch_for(site, nginx).apply(BROKEN)
    assert open(site).read() == GOOD
    assert nginx.calls == ["-t"]
    assert nginx.worker_set == {101, 102}


def test_a_master_that_keeps_its_old_workers_means_the_reload_failed(site):
    nginx = FakeNginx(site, cannot_apply="8002")
    with pytest.raises(SiteRefused, match=r"did not start new workers within 1 s.*previous config is back and serving"):
        switch_for(site, nginx).apply(NEW)
    assert open(site).read() == GOOD
    assert nginx.calls == ["-t", "reload", "reload"]  # the restored config is reloaded and takes over


def test_a_failing_reload_command_restores_the_previous_site(site):
    nginx = FakeNginx(site, reload_rc=1)
    with pytest.raises(SiteRefused, match=r"reload failed: nginx: \[error\] invalid PID.*reloading it failed too"):
        switch_for(site, nginx).apply(NEW)
    assert open(site).read() == GOOD


def test_a_new_site_that_fails_is_removed_again(tmp_path):
    path = str(tmp_path / "fresh.conf")
    nginx = FakeNginx(path)
    with pytest.raises(SiteRefused):
        switch_for(path, nginx).apply(BROKEN)
    assert not os.path.exists(path) and not os.path.exists(path + ".previous")


def test_absent_removes_the_site(site):
    nginx = FakeNginx(site)
    assert switch_for(site, nginx).apply(None)["reloaded"]
    assert not os.path.exists(site)
    assert open(site + ".previous").read() == GOOD


def test_nginx_not_running_is_said_plainly(site):
    nginx = FakeNginx(site)
    nginx.master = None
    with pytest.raises(SiteRefused, match="nginx is not running"):
        switch_for(site, nginx).apply(NEW)
    assert open(site).read() == GOOD


def test_workers_are_the_children_of_the_master(tmp_path):
    proc = tmp_path / "proc"
    for pid, ppid, comm in ((1, 0, "systemd"), (100, 1, "nginx"), (101, 100, "nginx"), (102, 100, "ng inx) x"),
                            (300, 1, "python3")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "stat").write_text("%d (%s) S %d 1 1 0 -1\n" % (pid, comm, ppid))
    (proc / "self").mkdir()
    pid_file = tmp_path / "nginx.pid"
    pid_file.write_text("100\n")
    assert nginx_workers(str(pid_file), proc=str(proc)) == (100, {101, 102})
    assert nginx_workers(str(tmp_path / "missing.pid"), proc=str(proc)) == (None, set())


def test_a_site_written_by_a_run_killed_before_its_reload_is_reloaded(site):
    with open(site, "w") as handle:  # the killed run wrote NEW, nginx still runs GOOD
        handle.write(NEW)
    nginx = FakeNginx(site)
    switch = switch_for(site, nginx)
    assert not switch.loaded()
    assert switch.apply(NEW)["reloaded"] and switch.loaded()
    assert nginx.calls == ["-t", "reload"]
    assert switch.apply(NEW) == {"changed": False, "reloaded": False}


def test_ensure_loaded_reloads_only_when_needed(site):
    nginx = FakeNginx(site)
    switch = switch_for(site, nginx)
    assert switch.ensure_loaded() == {"changed": False, "reloaded": False} and nginx.calls == []
    with open(site, "w") as handle:
        handle.write(NEW)
    assert switch.ensure_loaded()["reloaded"] and open(site + ".loaded").read() == digest(NEW)


def test_an_unloaded_site_that_fails_the_test_gives_way_to_the_previous_one(site):
    with open(site + ".previous", "w") as handle:
        handle.write(GOOD)
    with open(site, "w") as handle:
        handle.write(BROKEN)
    nginx = FakeNginx(site)
    result = switch_for(site, nginx).ensure_loaded()
    assert result["replaced_untested"] and open(site).read() == GOOD and nginx.calls == ["-t", "-t", "reload"]


@pytest.mark.parametrize("text, route", [
    (None, None),
    ('# nextgen-rollout-route: {"live_port": 8002, "canary_port": 8001, "share": 25.0, "hash_key": "$remote_addr"}\n',
     {"live_port": 8002, "canary_port": 8001, "share": 25.0, "hash_key": "$remote_addr"}),
    ("upstream a_live {\n    server 127.0.0.1:8001 max_fails=0;\n}\n", {"live_port": 8001, "canary_port": None, "share": 0}),
    ("upstream a_live {\n server 127.0.0.1:8001;\n}\nupstream a_canary {\n server 127.0.0.1:8002;\n}\n"
     "split_clients \"$remote_addr\" $a_pool {\n    10.5%    a_canary;\n    *    a_live;\n}\n",
     {"live_port": 8001, "canary_port": 8002, "share": 10.5}),
], ids=["no-site", "route-line", "site-before-route-lines", "canary-before-route-lines"])
def test_the_routing_of_a_site(text, route):
    assert site_route(text) == route
