import json

from ansible_collections.nextgen.rollout.plugins.module_utils._container_health import (
    check_timeout_s, container_state, docker_project, health_command, pause_s, wait_healthy)
from support.fake_clock import FakeClock

CURL = {"Healthcheck": {"Test": ["CMD-SHELL", "curl -fsS http://127.0.0.1:8000/health"], "Interval": 30 * 10 ** 9, "Timeout": 2 * 10 ** 9}}


def container(name, status="running", health=None, config=None, exit_code=0):
    state = {"Status": status, "ExitCode": exit_code, "Restarting": False}
    if health:
        state["Health"] = health
    return {"Name": "/" + name, "State": state, "Config": config if config is not None else CURL}


def test_the_healthcheck_runs_as_docker_would_run_it():
    assert health_command(CURL) == ["/bin/sh", "-c", "curl -fsS http://127.0.0.1:8000/health"]
    assert health_command({"Healthcheck": {"Test": ["CMD-SHELL", "true"]}, "Shell": ["/bin/bash", "-c"]}) == ["/bin/bash", "-c", "true"]
    assert health_command({"Healthcheck": {"Test": ["CMD", "redis-cli", "ping"]}}) == ["redis-cli", "ping"]
    assert health_command({"Healthcheck": {"Test": ["NONE"]}}) is None and health_command({}) is None and health_command(None) is None
    assert (check_timeout_s(CURL), check_timeout_s({}), check_timeout_s({"Healthcheck": {"Timeout": 10 ** 8}})) == (2, 30, 1)


def test_what_docker_says_of_a_container():
    assert container_state(container("a", health={"Status": "healthy"})) == ("ready", "healthy (docker's check)")
    assert container_state(container("a", health={"Status": "starting"})) == ("starting", "healthcheck starting")
    assert container_state(container("a", config={})) == ("ready", "runs (no healthcheck)")
    assert container_state(container("a", status="created")) == ("starting", "is created")
    assert container_state(container("a", status="exited", exit_code=3)) == ("failed", "exited with code 3")
    # One crash as it starts (its database not up yet) is waited out; a crash loop is not.
    once = dict(container("a", status="restarting", exit_code=1), RestartCount=1)
    once["State"]["Restarting"] = True
    assert container_state(once) == ("starting", "is restarting (exited with code 1)")
    assert container_state(dict(once, RestartCount=3)) == ("failed", "exited with code 1 and was restarted 3 times")
    unhealthy = {"Status": "unhealthy", "Log": [{"ExitCode": 1, "Output": "curl: (7) Failed\n to connect"}]}
    assert container_state(container("a", health=unhealthy)) == ("failed", "is unhealthy: its healthcheck failed: curl: (7) Failed to connect")


def test_a_container_is_healthy_as_soon_as_its_own_check_passes_not_one_docker_interval_later():
    clock, runs = FakeClock(), []

    def run_check(name, argv, timeout_s):
        runs.append((clock.now, name, argv[-1], timeout_s))
        return (0, "") if clock.now >= 1.0 else (7, "curl: (7) Failed to connect")  # ready one second after the start

    outcome = wait_healthy(lambda: ["shop-green-app-1"], lambda names: [container(names[0], health={"Status": "starting"})],
                           run_check, 60, 0.25, clock=clock.clock, sleep=clock.sleep)
    assert outcome == {"healthy": True, "waited_s": 1.0, "message": "",
                       "containers": {"shop-green-app-1": "healthy (its healthcheck, run at once)"}}
    assert [at for at, _name, _cmd, _timeout in runs] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert runs[0][1:] == ("shop-green-app-1", "curl -fsS http://127.0.0.1:8000/health", 2)


def test_a_slow_starter_is_checked_less_often_the_longer_it_takes_and_found_ready_at_most_25_percent_late():
    clock, runs = FakeClock(), []

    def run_check(name, argv, timeout_s):
        runs.append(clock.now)
        return (0, "") if clock.now >= 20 else (7, "")

    outcome = wait_healthy(lambda: ["a"], lambda names: [container("a", health={"Status": "starting"})],
                           run_check, 60, 0.25, 1.0, clock=clock.clock, sleep=clock.sleep)
    pauses = [round(later - earlier, 4) for earlier, later in zip(runs, runs[1:])]
    assert pauses[:5] == [0.25, 0.25, 0.25, 0.25, 0.25] and pauses[-1] == 1.0 and pauses == sorted(pauses)
    assert len(runs) < 35  # not 81 at a fixed 0.25 s
    assert outcome["healthy"] and 20 <= outcome["waited_s"] <= 21
    assert [pause_s(w, 0.25, 1.0) for w in (0, 1, 2, 3, 4, 30)] == [0.25, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert pause_s(10, 2.0, 1.0) == 2.0  # an interval longer than the cap is kept


def test_a_ready_container_is_not_checked_again_while_another_starts():
    clock, checked = FakeClock(), []
    states = {"app": {"Status": "starting"}, "sidecar": {"Status": "starting"}}

    def run_check(name, argv, timeout_s):
        checked.append(name)
        return (0, "") if name == "app" or clock.now >= 0.5 else (1, "")

    outcome = wait_healthy(lambda: ["app", "sidecar"], lambda names: [container(name, health=states[name]) for name in names],
                           run_check, 60, 0.25, clock=clock.clock, sleep=clock.sleep)
    assert outcome["healthy"] and outcome["waited_s"] == 0.5 and checked == ["app", "sidecar", "sidecar", "sidecar"]


def test_an_exit_or_docker_finding_it_unhealthy_fails_at_once_and_a_slow_one_at_the_deadline():
    clock = FakeClock()
    exited = wait_healthy(lambda: ["a", "b"], lambda names: [container("a", status="exited", exit_code=2), container("b", config={})],
                          lambda *args: (1, ""), 60, 0.25, clock=clock.clock, sleep=clock.sleep)
    assert exited == {"healthy": False, "waited_s": 0.0, "message": "container a exited with code 2",
                      "containers": {"a": "exited with code 2", "b": "runs (no healthcheck)"}}
    slow = wait_healthy(lambda: ["a"], lambda names: [container("a", health={"Status": "starting"})],
                        lambda *args: (22, "curl: (22) The requested URL returned error:\n 503"), 2, 0.5, clock=clock.clock, sleep=clock.sleep)
    assert not slow["healthy"] and slow["message"] == ("not healthy within 2 s: container a healthcheck starting (run at once, it exited 22: "
                                                       "curl: (22) The requested URL returned error: 503)")
    empty = wait_healthy(lambda: [], lambda names: [], lambda *args: (0, ""), 2, 0.5, clock=clock.clock, sleep=clock.sleep)
    assert empty["message"] == "the project has no container"


def test_a_container_that_cannot_be_inspected_is_waited_for():
    clock = FakeClock()
    rounds = []

    def inspect(names):
        rounds.append(names)
        return [] if len(rounds) == 1 else [container("a", config={})]

    outcome = wait_healthy(lambda: ["a"], inspect, lambda *args: (1, ""), 60, 0.25, clock=clock.clock, sleep=clock.sleep)
    assert outcome["healthy"] and len(rounds) == 2


def test_the_docker_cli_calls():
    calls = []

    def run(argv):
        calls.append(argv)
        if argv[:2] == ["docker", "ps"]:
            return 0, "shop-green-app-1\tapp\nshop-green-sidecar-1\tsidecar\nshop-green-old-1\told\n", ""
        if argv[:2] == ["docker", "inspect"]:
            return 0, json.dumps([container("shop-green-app-1")]), ""
        return 0, "", ""

    assert docker_project(run, "shop-green")[0]() == ["shop-green-app-1", "shop-green-old-1", "shop-green-sidecar-1"]
    list_names, inspect, run_check = docker_project(run, "shop-green", ["app", "sidecar"])
    assert list_names() == ["shop-green-app-1", "shop-green-sidecar-1"]  # not the orphan of a service no longer defined
    assert inspect(["shop-green-app-1"])[0]["Name"] == "/shop-green-app-1" and inspect([]) == []
    assert run_check("shop-green-app-1", ["curl", "-f", "x"], 2) == (0, "")
    assert calls[0] == ["docker", "ps", "--all", "--filter", "label=com.docker.compose.project=shop-green", "--format",
                        '{{.Names}}\t{{.Label "com.docker.compose.service"}}']
    assert calls[-1] == ["timeout", "2s", "docker", "exec", "shop-green-app-1", "curl", "-f", "x"]
