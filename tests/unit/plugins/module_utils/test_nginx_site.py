import os
import stat

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import (
    RouteProblem, SiteRefused, SiteSwitch, build_route, digest, nginx_workers, read_route, route_view, site_route,
    site_setting_problems)
from support.fake_clock import FakeClock

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


@pytest.fixture
def site(tmp_path):
    path = str(tmp_path / "agent-loop.conf")
    with open(path, "w") as handle:
        handle.write(GOOD)
    with open(path + ".loaded", "w") as handle:  # nginx runs it
        handle.write(digest(GOOD))
    return path


def switch_for(path, nginx, timeout=1.0):
    clock = FakeClock()
    return SiteSwitch(path, run=nginx.run, workers=nginx.workers, reload_timeout=timeout, clock=clock.clock,
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


PORTS = {"blue": 8001, "green": 8002}


def wanted(**changes):
    route = {"live": "blue", "live_version": "1.0.0", "canary": None, "canary_version": "", "share": 0,
             "hash_key": "$remote_addr", "ports": PORTS, "upstream_prefix": "agent_loop"}
    route.update(changes)
    return route


def test_a_route_names_each_colour_upstream_and_what_it_serves():
    route = build_route("agent-loop", wanted(), None)
    assert (route["live"], route["canary"], route["share"]) == ("blue", None, 0.0)
    assert route["upstreams"] == {"blue": "agent_loop_blue", "green": "agent_loop_green"}
    assert route["served"] == {"127.0.0.1:8001": "blue/1.0.0"}


def test_a_switch_keeps_what_the_old_colour_serves_for_requests_still_in_flight():
    canary = build_route("agent-loop", wanted(canary="green", canary_version="1.1.0", share=10), None)
    promoted = build_route("agent-loop", wanted(live="green", live_version="1.1.0"), canary)
    assert promoted["served"] == {"127.0.0.1:8001": "blue/1.0.0", "127.0.0.1:8002": "green/1.1.0"}
    assert route_view(promoted) == {"live_port": 8002, "canary_port": None, "share": 0.0, "hash_key": "$remote_addr"}
    assert route_view(canary) == {"live_port": 8001, "canary_port": 8002, "share": 10.0, "hash_key": "$remote_addr"}


@pytest.mark.parametrize("changes, message", [
    ({"live": "red"}, "live colour 'red' has no port"),
    ({"canary": "red", "share": 5}, "canary colour 'red' has no port"),
    ({"canary": "green", "share": 150}, "from 0 to 100, not 150"),
])
def test_a_route_that_cannot_be_served_is_refused(changes, message):
    with pytest.raises(RouteProblem) as raised:
        build_route("agent-loop", wanted(**changes), None)
    assert message in str(raised.value)


def test_a_share_of_zero_or_a_canary_on_the_live_colour_is_no_split():
    assert build_route("agent-loop", wanted(canary="green", share=0), None)["canary"] is None
    assert build_route("agent-loop", wanted(canary="blue", share=20), None)["share"] == 0.0


def route_switch(site, tmp_path, **kwargs):
    nginx = FakeNginx(site, **kwargs)
    clock = FakeClock()
    switch = SiteSwitch(site, nginx.run, nginx.workers, route_path=str(tmp_path / "agent-loop.json"),
                        clock=clock.clock, sleep=clock.sleep)
    return switch, nginx


def test_moving_traffic_rewrites_only_the_route_and_never_reloads(site, tmp_path):
    switch, nginx = route_switch(site, tmp_path)
    figures = switch.switch(GOOD, build_route("agent-loop", wanted(live="green", live_version="1.1.0"), None))
    assert figures["changed"] and figures["route_changed"] and not figures["reloaded"] and nginx.calls == []
    assert read_route(switch.route_path)["live"] == "green"
    assert oct(stat.S_IMODE(os.stat(switch.route_path).st_mode)) == oct(0o644)
    assert switch.routing() == {"live_port": 8002, "canary_port": None, "share": 0.0, "hash_key": "$remote_addr"}
    again = switch.switch(GOOD, read_route(switch.route_path))
    assert not again["changed"] and nginx.calls == []


def test_a_site_nginx_refuses_moves_no_traffic(site, tmp_path):
    switch, nginx = route_switch(site, tmp_path)
    switch.switch(GOOD, build_route("agent-loop", wanted(), None))
    before = open(switch.route_path).read()
    with pytest.raises(SiteRefused):
        switch.switch(BROKEN, build_route("agent-loop", wanted(live="green"), None))
    assert open(switch.route_path).read() == before and open(site).read() == GOOD


def test_a_changed_site_is_reloaded_before_the_route_moves(site, tmp_path):
    switch, nginx = route_switch(site, tmp_path)
    switch.switch(GOOD, build_route("agent-loop", wanted(), None))
    seen = []
    run = nginx.run

    def spy(argv):
        seen.append((argv[-1], read_route(switch.route_path)["live"]))
        return run(argv)
    switch.run = spy
    figures = switch.switch(NEW, build_route("agent-loop", wanted(live="green"), None))
    assert figures["reloaded"] and figures["route_changed"]
    assert seen == [("-t", "blue"), ("reload", "blue")] and read_route(switch.route_path)["live"] == "green"


def test_a_first_route_is_removed_again_when_the_site_is_refused(site, tmp_path):
    switch, nginx = route_switch(site, tmp_path)
    with pytest.raises(SiteRefused):
        switch.switch(BROKEN, build_route("agent-loop", wanted(), None))
    assert not os.path.exists(switch.route_path)


def test_without_a_route_file_the_routing_comes_from_a_legacy_site(site, tmp_path):
    switch, nginx = route_switch(site, tmp_path)
    with open(site, "w") as handle:
        handle.write('# nextgen-rollout-route: {"live_port": 8002, "canary_port": null, "share": 0}\n')
    assert switch.routing()["live_port"] == 8002
    with open(switch.route_path, "w") as handle:
        handle.write("not json")
    assert switch.routing()["live_port"] == 8002


def test_site_settings_that_would_break_the_config_or_add_to_it_are_named():
    good = {"server_name": "*.shop.example.com", "path_prefix": "/api/v1%20x", "client_max_body_size": "512k",
            "served_header": "X-Served-By"}
    assert site_setting_problems(good) == []
    assert site_setting_problems({"server_name": "", "served_header": ""}) == []
    bad = site_setting_problems({"server_name": "a.com; return 200 x", "path_prefix": "api", "client_max_body_size": "1m;",
                                 "served_header": "X-A: b"})
    assert [problem.split(" ", 1)[0] for problem in bad] == [
        "rollout_server_name", "rollout_path_prefix", "rollout_client_max_body_size", "rollout_served_header"]
    assert bad[0] == ("rollout_server_name (nginx_server_name) 'a.com; return 200 x' is not one host name: letters, digits, "
                      "'.', '-', '_' and a '*' wildcard, or empty for the port's default server")
    assert site_setting_problems({"path_prefix": "/a{b}"}) and site_setting_problems({"server_name": "a b"})


def test_the_load_balancers_in_front_of_nginx_are_addresses_or_networks():
    good = {"real_ip_header": "X-Real-IP", "real_ip_from": ["10.0.0.5", "10.0.0.0/24", "fd00::/8"]}
    assert site_setting_problems(good) == []
    bad = site_setting_problems({"real_ip_header": "X_Forwarded; x", "real_ip_from": ["10.0.0.300", "10.0.0.5/24", "lb.local"]})
    assert [problem.split(" ", 1)[0] for problem in bad] == ["rollout_real_ip_header"] + ["rollout_real_ip_from"] * 3
    assert bad[1].startswith("rollout_real_ip_from (nginx_real_ip_from) '10.0.0.300' is not an address or a network")
    assert "has host bits set" in bad[2]
    assert site_setting_problems({"real_ip_from": "10.0.0.0/8"}) == [
        "rollout_real_ip_from (nginx_real_ip_from) '10.0.0.0/8' is not a list: give the addresses or networks your load "
        "balancers connect from, e.g. -e '{\"rollout_real_ip_from\": [\"10.0.0.0/24\"]}'"]


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0"])
def test_trusting_every_address_as_a_load_balancer_is_refused(everyone):
    problems = site_setting_problems({"real_ip_from": ["10.0.0.5", everyone]})
    assert len(problems) == 1
    assert problems[0].startswith("rollout_real_ip_from (nginx_real_ip_from) '%s' trusts every address: any client" % everyone)
    assert "list only the addresses or networks your load balancers connect from" in problems[0]


def test_ports_nginx_cannot_listen_on_are_named_before_the_site_is_written():
    assert site_setting_problems({"listen_port": 80, "tls_port": "443"}) == []
    assert site_setting_problems({"listen_port": "8080"}) == []
    bad = site_setting_problems({"listen_port": 70000, "tls_port": "https"})
    assert bad == ["rollout_listen_port (nginx_listen_port) 70000 is not a TCP port: give a whole number from 1 to 65535",
                   "rollout_tls_port (nginx_tls_port) 'https' is not a TCP port: give a whole number from 1 to 65535"]
    assert site_setting_problems({"listen_port": 0}) and site_setting_problems({"listen_port": True})
    assert site_setting_problems({"listen_port": 8443, "tls_port": 8443}) == [
        "rollout_tls_port and rollout_listen_port are both 8443: plain HTTP and TLS need a port each"]
