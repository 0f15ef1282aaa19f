"""After converge: 1.1.0 live on green behind nginx, 1.0.0 warm on blue, the ledger says so."""
import json


def ledger(host):
    return json.loads(host.check_output("cat /var/lib/nextgen-rollout/agent-loop/ledger.json"))


def test_nginx_serves_the_new_version(host):
    headers = host.check_output("curl -fsS -D- -o /dev/null http://127.0.0.1/")
    assert "X-Served-By: green/1.1.0" in headers and "X-App-Version: 1.1.0" in headers


def test_both_colours_run_the_expected_versions(host):
    assert "X-App-Version: 1.1.0" in host.check_output("curl -fsS -D- -o /dev/null http://127.0.0.1:8002/")
    assert "X-App-Version: 1.0.0" in host.check_output("curl -fsS -D- -o /dev/null http://127.0.0.1:8001/")


def test_route_points_at_green(host):
    route = json.loads(host.file("/etc/nginx/nextgen-rollout/routes/agent-loop.json").content_string)
    assert (route["live"], route["ports"]["green"], route["canary"]) == ("green", 8002, None)
    assert host.run("nginx -t").rc == 0
    assert not [f for f in host.file("/etc/nginx/conf.d").listdir() if "~" in f]  # no backup left behind


def test_ledger_records_both_releases(host):
    doc = ledger(host)
    assert doc["live"] == dict(doc["live"], colour="green", version="1.1.0", previous_version="1.0.0")
    assert doc["colours"]["blue"]["state"] == "warm"
    assert [(e["version"], e["result"]) for e in doc["history"]] == [("1.0.0", "succeeded"), ("1.1.0", "succeeded")]
    # The first release had nothing to go back to; the second was guarded for its 6 s window and passed.
    assert doc["history"][0]["details"]["guard"] is None
    guard = doc["history"][1]["details"]["guard"]
    assert guard["passed"] is True and guard["elapsed_s"] >= 6 and guard["decision"] in ("promote", "hold")


def test_state_is_root_only_and_unlocked(host):
    assert host.file("/var/lib/nextgen-rollout/agent-loop").mode == 0o700
    assert host.file("/var/lib/nextgen-rollout/agent-loop/ledger.json").mode == 0o600
    assert not host.file("/var/lib/nextgen-rollout/agent-loop/lock.json").exists


def test_secret_env_file_is_root_only_and_reaches_the_container(host):
    env_file = host.file("/opt/nextgen-rollout/agent-loop/green.env")
    assert env_file.mode == 0o600 and env_file.user == "root"
    assert "AGENT_API_TOKEN=molecule-secret-token" in host.check_output(
        "docker exec agent-loop-green-app-1 env")


def test_old_colour_retirement_is_scheduled_and_survives_a_reboot(host):
    timer = host.service("nextgen-rollout-retire-agent-loop.timer")
    assert timer.is_running and timer.is_enabled
    assert ledger(host)["colours"]["blue"]["retire_at"] > ledger(host)["live"]["since"]


def test_json_access_log_records_version_and_upstream(host):
    host.check_output("curl -fsS http://127.0.0.1/ -o /dev/null")
    last = json.loads(host.check_output("tail -n 1 /var/log/nginx/agent-loop.access.json"))
    assert (last["colour"], last["version"], last["upstream_addr"], last["status"]) == ("green", "1.1.0", "127.0.0.1:8002", 200)
