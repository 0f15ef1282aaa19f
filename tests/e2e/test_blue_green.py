"""Blue-green deploy and rollback on a simulated host under continuous load through nginx."""
import json
import os
import re
import time

import pytest

from support.load import Load
from support.playbook import host_exec, ledger, must, run_playbook, simulated_hosts, wait_until
from support.prometheus import start_prometheus, wait_for_rules

PREFIX = "nr-e2e-bg"
HOST = PREFIX + "-1"
BASE_PORT = 18900
URL = "http://127.0.0.1:%d/" % (BASE_PORT + 1)
BROKEN_TEMPLATE = os.path.join(os.path.dirname(__file__), "files", "broken-site.conf.j2")
ROUTE_FILE = "/etc/nginx/nextgen-rollout/routes/agent-loop.json"
METRICS_FILE = "/var/lib/prometheus/node-exporter/agent-loop.prom"


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    with simulated_hosts(PREFIX, 1, BASE_PORT, tmp_path_factory.mktemp("inv")) as path:
        yield path


def nginx_workers():
    """pids of nginx's workers: they change with every reload."""
    master = host_exec(HOST, "cat", "/run/nginx.pid").stdout.strip()
    return sorted(host_exec(HOST, "pgrep", "-P", master).stdout.split())


def serving_version():
    load = Load(URL, rate_per_s=20, max_requests=5, max_seconds=5, workers=1).start()
    return load.stop()["versions"]


def test_invalid_version_is_refused_before_anything_changes(inventory):
    result = run_playbook("blue-green-deploy.yml", inventory, {"target_version": "1.0.0;rm -rf /"})
    assert result.rc != 0 and "not a valid image tag" in result.output
    assert ledger(HOST) is None
    stats = " ".join(result.output[result.output.index("CUSTOM STATS"):].split())
    assert "result: refused" in stats and "traffic_switched: false" in stats, stats


def test_a_service_name_that_leaves_its_directories_is_refused_before_anything_is_written(inventory):
    for playbook, extra_vars in (("blue-green-deploy.yml", {"target_version": "1.0.0", "rollout_listen_port": 81}),
                                 ("backup.yml", {}), ("rollback.yml", {})):
        result = run_playbook(playbook, inventory, dict(extra_vars, rollout_service="../escaped"))
        said = " ".join(result.output.split())
        assert result.rc != 0 and "service '../escaped' is not a plain name (no '/', not '.' or '..')" in said, said[-2000:]
    for escaped in ("/var/lib/escaped", "/var/backups/escaped", "/etc/nginx/escaped.conf"):
        assert host_exec(HOST, "test", "-e", escaped).returncode == 1, escaped


def test_nginx_settings_that_would_add_to_the_config_are_refused_before_anything_is_written(inventory):
    result = run_playbook("blue-green-deploy.yml", inventory, {
        "target_version": "1.0.0", "rollout_server_name": "shop.example.com; return 200 other", "rollout_path_prefix": "/a b",
        "rollout_listen_port": 70000})
    said = " ".join(result.output.split())
    assert result.rc != 0 and "rollout_server_name (nginx_server_name) 'shop.example.com; return 200 other' is not one host " \
        "name" in said and "rollout_path_prefix (nginx_path_prefix) '/a b' is not a path" in said, said[-2000:]
    assert "rollout_listen_port (nginx_listen_port) 70000 is not a TCP port: give a whole number from 1 to 65535" in said
    assert "Nothing was changed." in said and ledger(HOST) is None
    assert host_exec(HOST, "test", "-e", "/etc/nginx/conf.d/agent-loop.conf").returncode == 1


def test_missing_image_is_refused_with_a_clear_message(inventory):
    # Not on the host, and not pullable (these hosts reach no registry) ...
    result = run_playbook("blue-green-deploy.yml", inventory, {"target_version": "9.9.9"})
    assert result.rc != 0 and "image agent-loop:9.9.9 cannot be pulled on %s" % HOST in " ".join(result.output.split())
    # ... or not on an air-gapped host that must not pull.
    result = run_playbook("blue-green-deploy.yml", inventory, {"target_version": "9.9.9", "rollout_image_pull": "never"})
    assert result.rc != 0 and "image agent-loop:9.9.9 is not on %s" % HOST in " ".join(result.output.split())
    assert "Nothing was changed" in result.output and ledger(HOST) is None


def test_check_mode_changes_nothing(inventory):
    result = must(run_playbook("blue-green-deploy.yml", inventory, {"target_version": "1.0.0"}, check=True))
    compose_task = result.output.split("Start the compose project of the colour - blue]")[1]
    assert compose_task.lstrip("* \n").startswith("changed:")  # the compose action is predicted
    assert "+    server 127.0.0.1:8001 max_fails=0;" in result.output  # the nginx diff is shown
    assert ledger(HOST) is None
    assert host_exec(HOST, "docker", "ps", "-q", "--filter", "label=nextgen.rollout.service").stdout.strip() == ""


def test_deploys_and_rollbacks_under_load_fail_no_request(inventory):
    must(run_playbook("blue-green-deploy.yml", inventory, {"target_version": "1.0.0"}))
    assert serving_version() == ["1.0.0"]
    workers = nginx_workers()
    load = Load(URL, rate_per_s=150, max_requests=20000, max_seconds=400, workers=10).start()
    # A client that never retries: any closed connection or error would count.
    posts = Load(URL + "run-agent", rate_per_s=30, max_requests=8000, max_seconds=400, workers=3, method="POST",
                 body='{"task": "e2e"}', retry=False).start()
    steps = [
        # Load-tested for 4 s before its switch and guarded for 8 s after it: a healthy version passes both.
        ("blue-green-deploy.yml", {"target_version": "1.1.0", "rollout_guard_window": 8, "rollout_guard_interval": 2,
                                   "rollout_staging_gate": {"rate_per_min": 1200, "duration": 4, "max_p95_ms": 500,
                                                            "endpoints": ["/", {"path": "/run-agent", "method": "POST",
                                                                                "body": '{"task": "gate"}'}]}},
         "1.1.0"),
        ("rollback.yml", {"target_version": "1.0.0"}, "1.0.0"),
        ("blue-green-deploy.yml", {"target_version": "1.1.0"}, "1.1.0"),
        ("rollback.yml", {}, "1.0.0"),
        # Pressed again: 1.0.0 went live by a rollback, so it stays (never back to the version just left).
        ("rollback.yml", {}, "1.0.0"),
    ]
    try:
        outputs = []
        for playbook, extra, expected in steps:
            outputs.append(must(run_playbook(playbook, inventory, extra)).output)
            assert serving_version() == [expected], (playbook, extra)
        load.wait_for_requests(10000)
    finally:
        summary, post_summary = load.stop(), posts.stop()
    print("load summary:", summary, "POST load summary:", post_summary)
    assert "1.0.0 went live by a rollback from 1.1.0; nothing to undo without a version" in " ".join(outputs[-1].split())
    assert summary["requests"] >= 10000
    assert summary["rate_per_s"] >= 100
    assert summary["failed"] == 0, summary
    assert summary["versions"] == ["1.0.0", "1.1.0"]
    # No reload, so no keep-alive connection was closed under the clients: nothing to retry.
    assert nginx_workers() == workers
    assert summary["retried"] == 0, summary
    assert post_summary["requests"] > 500 and post_summary["failed"] == 0, post_summary
    guarded = [e for e in ledger(HOST)["history"] if e["action"] == "deploy" and e["version"] == "1.1.0"]
    assert guarded[0]["details"]["guard"]["passed"] is True and guarded[0]["details"]["guard"]["live"]["requests"] > 100
    # What the guard saw is in the run's output, as a canary step's figures are.
    said = re.search(r"guard of 1\.1\.0 on (blue|green) for [0-9.]+ s: (\d+) requests, 0 5xx \(0 %\), p95 [0-9.]+ ms -> passed",
                     " ".join(outputs[0].split()))
    assert said and int(said.group(2)) == guarded[0]["details"]["guard"]["live"]["requests"], outputs[0][-3000:]
    assert "guard of" not in outputs[2]  # the inventory turns the guard off
    assert guarded[1]["details"]["guard"] is None  # the inventory turns the guard off
    gate = guarded[0]["details"]["staging_gate"]
    assert gate["passed"] is True and gate["requests"] == 80 and gate["endpoints"]["POST /run-agent"]["failed"] == 0
    assert guarded[1]["details"]["staging_gate"] is None
    # The warm rollbacks took the one-call path.
    rollbacks = [e for e in ledger(HOST)["history"] if e["action"] == "rollback"][-2:]
    assert [e["details"].get("one_call") for e in rollbacks] == [True, True], rollbacks


def test_redeploying_the_live_version_changes_nothing_and_a_changed_environment_is_refused(inventory):
    result = must(run_playbook("blue-green-deploy.yml", inventory, {"target_version": "1.0.0"}))
    assert "changed=0" in result.output
    assert "already live" in result.output
    # With another environment, "already live" would leave it unapplied: refused, saying how to ship it.
    before, containers = ledger(HOST), host_exec(HOST, "docker", "ps", "-q").stdout
    result = run_playbook("blue-green-deploy.yml", inventory, {"target_version": "1.0.0", "rollout_env": {"LOG_LEVEL": "debug"}})
    said = " ".join(result.output.split())
    assert result.rc != 0 and "agent-loop 1.0.0 is already live on %s, but this run gives it another definition (image, " \
        "environment, settings): a release is a new version, so ship the change with a new image tag" % HOST in said, said[-2000:]
    assert "blue-green refused 1.0.0 no" in said and "Take this host back" not in result.output
    assert (ledger(HOST), host_exec(HOST, "docker", "ps", "-q").stdout) == (before, containers)


def test_a_host_without_room_a_stopped_nginx_and_a_broken_nginx_config_is_refused_naming_all_three_at_once(inventory):
    """A config that something else broke would fail the reload a new site needs half-way; one run
    names every problem of the host, so the operator fixes them all before the next."""
    before = ledger(HOST)
    containers = host_exec(HOST, "docker", "ps", "-q").stdout
    other = "/etc/nginx/conf.d/zz-other.conf"
    assert host_exec(HOST, "sh", "-c", "echo 'server { listen 81; broken_directive on; }' > %s" % other).returncode == 0
    assert host_exec(HOST, "systemctl", "stop", "nginx").returncode == 0
    try:
        result = run_playbook("blue-green-deploy.yml", inventory, {"target_version": "1.2.0", "rollout_proxy_read_timeout": 61,
                                                                   "blue_green_min_free_disk_mb": 10 ** 9})
        said = " ".join(result.output.split())
        assert result.rc != 0 and "(1) not enough room on %s" % HOST in said, said[-2000:]
        assert "MB free on the filesystem of /var/lib/docker (need 1000000000). Free some" in said
        assert "(2) nginx is inactive on %s although agent-loop 1.0.0 is live behind it" % HOST in said
        assert "(3) nginx rejects its config on %s as it is now, before any change (unknown directive " \
            '"broken_directive" in %s:1)' % (HOST, other) in said
        assert ledger(HOST) == before and host_exec(HOST, "docker", "ps", "-q").stdout == containers
        assert "proxy_read_timeout 61s" not in host_exec(HOST, "cat", "/etc/nginx/conf.d/agent-loop.conf").stdout
    finally:
        assert host_exec(HOST, "rm", "-f", other).returncode == 0
        assert host_exec(HOST, "systemctl", "start", "nginx").returncode == 0
    assert serving_version() == ["1.0.0"]


def test_a_version_that_never_gets_ready_is_refused_and_cleaned_up(inventory):
    before = len(ledger(HOST)["history"])
    load = Load(URL, rate_per_s=100, max_requests=10000, max_seconds=120, workers=6).start()
    try:
        result = run_playbook("blue-green-deploy.yml", inventory, {
            "target_version": "1.2.0", "blue_green_env": {"FAULT_NEVER_READY": "1"},
            "blue_green_ready_timeout": 8})
    finally:
        summary = load.stop()
    assert result.rc != 0
    assert "readiness of" in result.output and "not healthy within 8 s" in result.output
    # The artifacts say so on the failure path too: an AWX workflow must not roll back a healthy live version.
    stats = " ".join(result.output[result.output.index("CUSTOM STATS"):].split())
    assert "result: failed" in stats and "traffic_switched: false" in stats and "version: 1.2.0" in stats, stats
    assert summary["failed"] == 0 and summary["versions"] == ["1.0.0"], summary
    doc = ledger(HOST)
    assert doc["history"][-1]["result"] == "failed" and doc["history"][-1]["version"] == "1.2.0"
    assert len(doc["history"]) == before + 1
    assert doc["live"]["version"] == "1.0.0"
    idle = doc["history"][-1]["colour"]
    assert host_exec(HOST, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=agent-loop-" + idle
                     ).stdout.strip() == ""
    assert host_exec(HOST, "test", "-e", "/var/lib/nextgen-rollout/agent-loop/lock.json").returncode == 1
    # node_exporter's textfile: the failure is counted for its version, the live version unchanged.
    metrics = host_exec(HOST, "cat", METRICS_FILE).stdout
    assert 'deployment_failures_total{service="agent-loop",version="1.2.0"} 1' in metrics
    assert 'nextgen_release_live_info{service="agent-loop",version="1.0.0",colour="%s"} 1' % doc["live"]["colour"] \
        in metrics
    assert host_exec(HOST, "stat", "-c", "%a", METRICS_FILE).stdout.strip() == "644"


def test_a_colour_port_another_program_listens_on_is_refused_before_anything_changes(inventory):
    """Compose would fail to publish the port after the release began. The failed deploy before
    left the idle colour stopped, so its port is free for another program to take."""
    before = ledger(HOST)
    containers = host_exec(HOST, "docker", "ps", "-q").stdout
    idle = "green" if before["live"]["colour"] == "blue" else "blue"
    port = json.loads(host_exec(HOST, "cat", "/var/lib/nextgen-rollout/agent-loop/claims.json").stdout)["ports"][idle]
    assert host_exec(HOST, "docker", "ps", "-q", "--filter", "label=com.docker.compose.project=agent-loop-" + idle).stdout == ""
    assert host_exec(HOST, "sh", "-c", "setsid python3 -m http.server %d --bind 127.0.0.1 >/dev/null 2>&1 &" % port).returncode == 0
    try:
        wait_until(lambda: ":%d " % port in host_exec(HOST, "ss", "-ltn").stdout, 10, "the foreign listener on %d" % port)
        result = run_playbook("blue-green-deploy.yml", inventory, {"target_version": "1.2.0"})
        said = " ".join(result.output.split())
        assert result.rc != 0 and "port %d of the %s colour of agent-loop, where 1.2.0 would start, is held on %s by python3 (pid " \
            % (port, idle, HOST) in said and "Nothing was changed" in said, said[-2000:]
        assert ledger(HOST) == before and host_exec(HOST, "docker", "ps", "-q").stdout == containers
    finally:
        assert host_exec(HOST, "pkill", "-f", "http.server %d" % port).returncode == 0
    assert serving_version() == ["1.0.0"]


def test_a_version_slower_than_the_staging_gate_allows_is_refused_before_any_traffic_moves(inventory):
    live_before = ledger(HOST)["live"]
    load = Load(URL, rate_per_s=50, max_requests=10000, max_seconds=120, workers=4).start()
    try:
        result = run_playbook("blue-green-deploy.yml", inventory, {
            "target_version": "1.2.0", "rollout_env": {"FAULT_LATENCY_MS": "300"},
            "rollout_staging_gate": {"rate_per_min": 600, "duration": 5, "max_p95_ms": 200}})
    finally:
        summary = load.stop()
    output = " ".join(result.output.split())
    assert result.rc != 0 and "staging gate failed at http://127.0.0.1:" in output, result.output[-3000:]
    assert "GET /: p95 " in output and "ms above 200 ms" in output
    assert summary["failed"] == 0 and summary["versions"] == ["1.0.0"], summary
    doc = ledger(HOST)
    last = doc["history"][-1]
    assert (last["version"], last["result"], doc["live"]) == ("1.2.0", "failed", live_before)
    gate = last["details"]["staging_gate"]
    assert gate["passed"] is False and gate["requests"] == 50 and gate["endpoints"]["GET /"]["latency_ms"]["p95"] >= 300
    assert host_exec(HOST, "docker", "ps", "-q", "--filter", "label=nextgen.rollout.version=1.2.0").stdout.strip() == ""
    # Settings that cannot be right are refused by the pre-checks, all of them in one run.
    bad = run_playbook("blue-green-deploy.yml", inventory,
                       {"target_version": "1.2.0", "rollout_staging_gate": {"rate": 500}, "rollout_guard_window": 30, "rollout_guard_interval": 0,
                        "rollout_guard_report_every": -5, "rollout_guard_policy": {"rules": {"mine": {"op": ">"}}},
                        "rollout_after_switch_tasks": "no-such-checks.yml"})
    said = " ".join(bad.output.split())
    assert bad.rc != 0 and "unknown staging gate keys rate" in said, said[-2000:]
    assert "(2) rollout_guard_interval is 0: use more than 0 s." in said and "(4) rollout_guard_policy: rule mine lacks metric, threshold." in said
    assert "(3) rollout_guard_report_every is -5: use 0 (figures when the guard ends) or the seconds between them." in said
    assert "rollout_after_switch_tasks no-such-checks.yml is not a file on the controller (looked for " in said
    assert len(ledger(HOST)["history"]) == len(doc["history"])


def test_a_version_that_goes_bad_after_the_switch_is_switched_back_by_the_guard(inventory):
    """1.2.0 passes every gate, goes live, and starts failing 1 request in 5 some seconds later: the
    guard's error rule (over 4 s here) fires and every client is back on the warm 1.0.0 at once."""
    live_before = ledger(HOST)["live"]
    guard = {"rollout_guard_window": 90, "rollout_guard_interval": 2, "rollout_guard_report_every": 10,
             "rollout_guard_policy": {"rules": {"error_rate": {"for": "4s"}}}}
    load = Load(URL, rate_per_s=100, max_requests=20000, max_seconds=200, workers=6).start()
    try:
        result = run_playbook("blue-green-deploy.yml", inventory, dict(
            guard, target_version="1.2.0", rollout_env={"FAULT_ERROR_RATE": "0.2", "FAULT_START_AFTER_S": "30"}))
        back_at = time.time()
        time.sleep(2)
    finally:
        load.stop()
    records = load.snapshot()
    output = " ".join(result.output.split())
    assert result.rc != 0 and "the guard switched every client back to %s (1.0.0)" % live_before["colour"] in output, \
        result.output[-3000:]
    assert "error_rate" in output and serving_version() == ["1.0.0"]
    assert re.search(r"guard of 1\.2\.0 on \w+ for [0-9.]+ s: \d+ requests, [1-9]\d* 5xx \([0-9.]+ %%\), p95 [0-9.]+ ms -> switched back to %s: error_rate"
                     % live_before["colour"], output), output[-3000:]
    # Watched in parts of 10 s, each saying what the guard saw so far; the rule fired within a part.
    assert re.search(r"guard of 1\.2\.0 on \w+, [0-9.]+ s of 90 s: \d+ requests, 0 5xx \(0 %\), p95 [0-9.]+ ms -> continue", output), output[-3000:]
    doc = ledger(HOST)
    last = doc["history"][-1]
    assert (last["version"], last["result"], doc["live"]["version"]) == ("1.2.0", "failed", "1.0.0")
    record = last["details"]["guard"]
    assert record["decision"] == "rollback" and record["interval_s"] == 2 and record["last_sample"]["error_rate"] > 0.01
    # Every failed request was one of 1.2.0's own answers, and none came after the switch back.
    failed = [r for r in records if r[1] is None or r[1] >= 500]
    assert failed and set(r[2] for r in failed) == {"1.2.0"}, failed[:5]
    first_bad, last_bad = failed[0][0], failed[-1][0]
    fired, switched_back = record["fired_at"], record["switched_back_at"]
    print("guard: first bad answer -> rule fired %.1f s -> traffic back %.2f s; %d bad answers of %d requests"
          % (fired - first_bad, switched_back - fired, len(failed), len(records)))
    # The rule needs 4 s of errors: it fires at the first evaluation after that, at most one interval later ...
    assert 4 <= fired - first_bad <= 4 + 2 + 2, (first_bad, fired)
    # ... and traffic is back within the evaluation interval + 5 s of the rule firing.
    assert 0 <= switched_back - fired <= 2 + 5
    assert last_bad <= switched_back + 0.5 and switched_back <= back_at
    assert [r for r in records if r[0] > switched_back + 0.5 and r[2] != "1.0.0"] == []
    # The bad colour is removed, the lock released, and the failure counted for 1.2.0.
    assert host_exec(HOST, "docker", "ps", "-q", "--filter", "label=nextgen.rollout.version=1.2.0").stdout.strip() == ""
    assert host_exec(HOST, "test", "-e", "/var/lib/nextgen-rollout/agent-loop/lock.json").returncode == 1
    assert 'deployment_failures_total{service="agent-loop",version="1.2.0"} 3' in host_exec(HOST, "cat", METRICS_FILE).stdout


def test_the_alert_rules_of_the_service_load_in_prometheus(inventory):
    start_prometheus(HOST, rule_files="/etc/prometheus/rules/nextgen/*.rules.yml", lifecycle=True)
    on_host = {"rollout_prometheus_hosts": HOST, "prometheus_rules_reload": "http"}
    result = must(run_playbook("alert-rules.yml", inventory, on_host))
    assert "changed=" in result.output
    groups = wait_for_rules(HOST, "nextgen-release-agent-loop-%s" % HOST)
    rules = dict((rule["name"], rule) for rule in groups[0]["rules"])
    assert sorted(rules) == ["DeploymentFailed", "NextgenErrorRateAfterRelease", "NextgenHealthFailuresAfterRelease",
                             "NextgenLatencyP95AfterRelease", "NextgenMemoryAfterRelease",
                             "NextgenReleaseInfoMissing"]
    assert all(rule["health"] == "ok" for rule in rules.values()), rules
    # A second run changes nothing and does not reload.
    again = must(run_playbook("alert-rules.yml", inventory, on_host))
    assert "changed=0" in again.output


def test_a_broken_nginx_template_is_refused_and_traffic_keeps_flowing(inventory):
    site_before = host_exec(HOST, "cat", "/etc/nginx/conf.d/agent-loop.conf").stdout
    route_before = host_exec(HOST, "cat", ROUTE_FILE).stdout
    load = Load(URL, rate_per_s=100, max_requests=10000, max_seconds=120, workers=6).start()
    try:
        result = run_playbook("blue-green-deploy.yml", inventory, {
            "target_version": "1.2.0", "nginx_site_template": BROKEN_TEMPLATE})
    finally:
        summary = load.stop()
    assert result.rc != 0 and "nginx refused the new site" in result.output, result.output[-2000:]
    assert summary["failed"] == 0 and summary["versions"] == ["1.0.0"], summary
    assert host_exec(HOST, "cat", "/etc/nginx/conf.d/agent-loop.conf").stdout == site_before
    assert host_exec(HOST, "cat", ROUTE_FILE).stdout == route_before
    assert host_exec(HOST, "nginx", "-t").returncode == 0
    assert ledger(HOST)["live"]["version"] == "1.0.0"


def test_a_second_deploy_is_refused_while_the_lock_is_held(inventory):
    lock = '{"holder": "someone-else", "reason": "deploy 1.1.0", "time": "2026-11-21T05:00:00.000000Z"}'
    host_exec(HOST, "sh", "-c", "echo '%s' > /var/lib/nextgen-rollout/agent-loop/lock.json" % lock)
    try:
        result = run_playbook("blue-green-deploy.yml", inventory, {"target_version": "1.1.0"})
        assert result.rc != 0 and "held by 'someone-else'" in result.output
        assert ledger(HOST)["live"]["version"] == "1.0.0"
        assert serving_version() == ["1.0.0"]
    finally:
        host_exec(HOST, "rm", "-f", "/var/lib/nextgen-rollout/agent-loop/lock.json")


def test_a_rollback_to_a_version_the_service_never_ran_says_so(inventory):
    result = run_playbook("rollback.yml", inventory, {"target_version": "9.9.9", "rollout_image_pull": "never"})
    said = " ".join(result.output.split())
    assert result.rc != 0 and "image agent-loop:9.9.9 is not on %s" % HOST in said, said[-2500:]
    ran = re.search(r"9\.9\.9 never ran as agent-loop on this host as far as its ledger knows \(it ran ([^)]*)\): check the version", said)
    assert ran and "1.0.0" in ran.group(1).split(", "), said[-2500:]
    assert ledger(HOST)["live"]["version"] == "1.0.0" and serving_version() == ["1.0.0"]


def test_a_deploy_that_comes_while_the_retirement_timer_stops_a_colour_waits_for_it_instead_of_failing(inventory):
    """The host's retirement timer holds the deploy lock while it stops a warm colour whose window is
    over: up to the colour's stop grace period (here 12 s: the colour ignores its stop signal). A deploy
    that comes then waits for it (lock_retirement_wait) and goes on."""
    fast = {"blue_green_retire_check_interval": 2, "blue_green_backup_before_change": False, "blue_green_smoke_samples": 3}
    slow_to_stop = {"rollout_compose": {"stop_signal": "SIGWINCH", "stop_grace_period": "12s"}}
    assert ledger(HOST)["live"]["version"] == "1.0.0"
    must(run_playbook("blue-green-deploy.yml", inventory, dict(fast, target_version="1.1.0", **slow_to_stop)))
    # 1.1.0 stays warm for 3 s only: then the timer takes the lock and stops it for 12 s.
    must(run_playbook("blue-green-deploy.yml", inventory, dict(fast, target_version="1.2.0", blue_green_warm_seconds=3)))
    lock_file = "/var/lib/nextgen-rollout/agent-loop/lock.json"
    wait_until(lambda: "retire-timer-" in host_exec(HOST, "cat", lock_file).stdout, 60,
               "the retirement timer holds the lock", interval=0.2)
    result = run_playbook("blue-green-deploy.yml", inventory, dict(fast, target_version="1.0.0"))
    assert result.rc == 0, result.output[-3000:]
    said = " ".join(result.output.split())
    assert "s for the host's retirement timer to release the deploy lock of agent-loop" in said, said[-3000:]
    history = ledger(HOST)["history"]
    retire = [e for e in history if e["action"] == "retire"][-1]
    deploy = history[-1]
    assert (retire["version"], deploy["action"], deploy["version"], deploy["result"]) == ("1.1.0", "deploy", "1.0.0", "succeeded")
    assert deploy["started"] >= retire["time"], (deploy, retire)  # it began once the timer let go
    assert serving_version() == ["1.0.0"]


def test_a_service_with_its_healthcheck_turned_off_is_gated_by_its_ready_path(inventory):
    # Compose's wait takes a healthcheck turned off as an error; the readiness path is the gate then.
    off = {"rollout_compose": {"healthcheck": {"disable": True}}, "blue_green_ready_timeout": 8}
    never_ready = dict(off, target_version="1.2.0", blue_green_env={"FAULT_NEVER_READY": "1"})
    result = run_playbook("blue-green-deploy.yml", inventory, never_ready)
    assert result.rc != 0 and "readiness of" in result.output and "not healthy within 8 s" in result.output, \
        result.output[-2000:]
    assert serving_version() == ["1.0.0"]
    load = Load(URL, rate_per_s=100, max_requests=10000, max_seconds=120, workers=6).start()
    try:
        slow_ready = dict(off, target_version="1.1.0", blue_green_env={"READY_DELAY_S": "3"})
        result = run_playbook("blue-green-deploy.yml", inventory, slow_ready)
    finally:
        summary = load.stop()
    assert result.rc == 0, result.output[-3000:]
    assert summary["failed"] == 0 and set(summary["versions"]) == {"1.0.0", "1.1.0"}, summary
    live = ledger(HOST)["live"]
    assert live["version"] == "1.1.0" and serving_version() == ["1.1.0"]
    check = host_exec(HOST, "docker", "inspect", "--format", "{{json .Config.Healthcheck.Test}}",
                      "agent-loop-%s-app-1" % live["colour"]).stdout.strip()
    assert check == '["NONE"]', check


def test_a_healthcheck_every_30_s_does_not_hold_the_release_and_a_failing_one_is_named(inventory):
    """Docker before 25 runs the first check one interval after the start: the release runs the
    container's own healthcheck at once instead of waiting 30 s for docker's."""
    every_30_s = {"test": ["CMD-SHELL", "curl -fsS http://127.0.0.1:8000/health"], "interval": "30s", "timeout": "2s", "retries": 3}
    started = time.monotonic()
    must(run_playbook("blue-green-deploy.yml", inventory, {"target_version": "1.2.0", "rollout_compose": {"healthcheck": every_30_s}}))
    took = time.monotonic() - started
    live = ledger(HOST)["live"]
    docker_says = host_exec(HOST, "docker", "inspect", "--format", "{{.State.Health.Status}}", "agent-loop-%s-app-1" % live["colour"])
    assert (live["version"], serving_version(), docker_says.stdout.strip()) == ("1.2.0", ["1.2.0"], "starting")
    assert took < 30, took
    failing = dict(every_30_s, test=["CMD-SHELL", "echo no database at db:5432; exit 1"])
    # A version of its own on the host: the hosts hold the images the controller had when they started.
    tagged = host_exec(HOST, "docker", "tag", "agent-loop:1.2.0", "agent-loop:1.3.0")
    assert tagged.returncode == 0, tagged.stderr
    result = run_playbook("blue-green-deploy.yml", inventory, {"target_version": "1.3.0", "rollout_compose": {"healthcheck": failing},
                                                               "blue_green_ready_timeout": 3})
    said = " ".join(result.output.split())
    idle = "green" if live["colour"] == "blue" else "blue"
    assert result.rc != 0 and "compose project agent-loop-%s is not healthy: not healthy within 3" % idle in said, said[-2000:]
    assert "healthcheck starting (run at once, it exited 1: no database at db:5432)" in said, said[-2000:]
    assert ledger(HOST)["live"] == live and serving_version() == ["1.2.0"]
