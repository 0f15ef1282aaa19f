"""Event-driven rollback with real parts: Prometheus scraping the service through nginx and the
ledger's textfile through node_exporter, the collection's alert rules installed by
playbooks/alert-rules.yml, Alertmanager, and ansible-rulebook running the collection's rulebook.
A version that goes bad after its release (no guard here) is rolled back with no one at the keys.

Everything listens on 127.0.0.1: the simulated host publishes nginx and node_exporter there.
"""
import json
import os
import subprocess
import time

import pytest

from support.alerting import http_json, start_alertmanager, start_prometheus, start_rulebook
from support.load import Load
from support.playbook import ROOT, host_exec, ledger, must, run_playbook, simulated_hosts, wait_until

PREFIX = "nr-e2e-eda"
HOST = PREFIX + "-1"
BASE_PORT = 19700
NODE_EXPORTER_BASE = 19750
PROMETHEUS_PORT, ALERTMANAGER_PORT, RULEBOOK_PORT = 19790, 19791, 19792
URL = "http://127.0.0.1:%d/" % (BASE_PORT + 1)
# The reference service's metric names, short windows so that the test takes seconds.
ALERTS = {
    "rollout_alert_metrics": {"requests": "agent_requests_total", "status_label": "status",
                              "duration_buckets": "agent_request_duration_seconds_bucket", "rate_window": "10s",
                              "scrape_interval_s": 1},
    "rollout_alert_policy": {"rules": {"error_rate": {"for": "5s"}}},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("eda"))
    rules_dir = os.path.join(directory, "rules")
    with simulated_hosts(PREFIX, 1, BASE_PORT, directory, first_version="1.0.0",
                         publish=("%d:9100" % NODE_EXPORTER_BASE,)) as inventory:
        # node_exporter on the host reads the ledger's textfile, as Debian's prometheus-node-exporter does.
        subprocess.run(["docker", "cp", "/usr/bin/prometheus-node-exporter", "%s:/usr/local/bin/" % HOST], check=True)
        subprocess.run(["docker", "exec", "-d", HOST, "/usr/local/bin/prometheus-node-exporter",
                        "--collector.disable-defaults", "--collector.textfile",
                        "--collector.textfile.directory=/var/lib/prometheus/node-exporter",
                        "--web.listen-address=:9100"], check=True)
        os.makedirs(rules_dir)
        daemons = []
        try:
            daemons.append(start_alertmanager(directory, ALERTMANAGER_PORT,
                                              "http://127.0.0.1:%d/alerts" % RULEBOOK_PORT))
            daemons.append(start_prometheus(directory, PROMETHEUS_PORT, {
                "agent-loop": ("127.0.0.1:%d" % (BASE_PORT + 1), {"instance": HOST, "service": "agent-loop"}),
                "node": ("127.0.0.1:%d" % (NODE_EXPORTER_BASE + 1), {"instance": HOST}),
            }, rules_dir, ALERTMANAGER_PORT))
            daemons.append(start_rulebook(directory, inventory,
                                          {"rollback_playbook": os.path.join(ROOT, "playbooks", "rollback.yml")},
                                          RULEBOOK_PORT))
            yield {"inventory": inventory, "rules_dir": rules_dir, "rulebook": daemons[-1]}
        finally:
            for daemon in reversed(daemons):
                daemon.stop()


def prometheus(path):
    return http_json("http://127.0.0.1:%d%s" % (PROMETHEUS_PORT, path))["data"]


def playbook_runs(rulebook):
    return rulebook.output().count("PLAY RECAP")


def test_the_shipped_rules_load_into_the_controllers_prometheus(stack):
    must(run_playbook("alert-rules.yml", stack["inventory"], dict(
        ALERTS, rollout_prometheus_hosts="localhost", ansible_connection="local", ansible_become=False,
        ansible_python_interpreter=os.path.join(ROOT, ".venv", "bin", "python"),
        prometheus_rules_dir=stack["rules_dir"], prometheus_rules_reload="http",
        prometheus_rules_url="http://127.0.0.1:%d" % PROMETHEUS_PORT)))
    wait_until(lambda: any(g["name"] == "nextgen-release-agent-loop-%s" % HOST for g in prometheus("/api/v1/rules")["groups"]),
               30, "the release rules in Prometheus")
    # The live version reaches Prometheus from the ledger's textfile on the host.
    wait_until(lambda: prometheus("/api/v1/query?query=nextgen_release_live_info")["result"], 30, "nextgen_release_live_info")
    info = prometheus("/api/v1/query?query=nextgen_release_live_info")["result"][0]["metric"]
    assert (info["instance"], info["service"], info["version"]) == (HOST, "agent-loop", "1.0.0")


def test_a_version_that_goes_bad_after_its_release_is_rolled_back_by_its_alert(stack):
    inventory, rulebook = stack["inventory"], stack["rulebook"]
    load = Load(URL, rate_per_s=50, max_requests=20000, max_seconds=300, workers=4).start()
    try:
        must(run_playbook("blue-green-deploy.yml", inventory, {
            "target_version": "1.2.0", "rollout_env": {"FAULT_ERROR_RATE": "0.3", "FAULT_START_AFTER_S": "25"}}))
        assert ledger(HOST)["live"]["version"] == "1.2.0" and playbook_runs(rulebook) == 0
        firing = {}

        def alert_fired_and_traffic_back():
            if not firing:
                for alert in prometheus("/api/v1/alerts")["alerts"]:
                    if alert["labels"]["alertname"] == "NextgenErrorRateAfterRelease" and alert["state"] == "firing":
                        firing.update(alert, seen_at=time.time())
            return ledger(HOST)["live"]["version"] == "1.0.0"
        wait_until(alert_fired_and_traffic_back, 180, "the rollback to 1.0.0 by the rulebook", interval=0.25)
        time.sleep(2)
    finally:
        load.stop()
    records = load.snapshot()
    failed = [r for r in records if r[1] is None or r[1] >= 500]
    rollback = [e for e in ledger(HOST)["history"] if e["action"] == "rollback"][-1]
    back_at = float(rollback["details"]["switched_at"])
    assert firing, "Prometheus never showed the alert firing: %s" % rulebook.output()[-2000:]
    assert firing["labels"]["version"] == "1.2.0" and firing["labels"]["host"] == HOST
    print("event-driven rollback: first bad answer -> alert firing %.1f s -> traffic back on 1.0.0 %.1f s "
          "(%d bad answers of %d)" % (firing["seen_at"] - failed[0][0], back_at - firing["seen_at"], len(failed),
                                      len(records)))
    assert (rollback["version"], rollback["result"], rollback["details"].get("one_call")) == ("1.0.0", "succeeded", True)
    assert back_at - firing["seen_at"] < 60
    # Only 1.2.0's own answers failed, none after traffic came back.
    assert failed and set(r[2] for r in failed) == {"1.2.0"}
    assert [r for r in records if r[0] > back_at + 0.5 and r[2] != "1.0.0"] == []
    assert playbook_runs(rulebook) == 1


def test_a_second_alert_of_the_incident_and_an_alert_for_a_version_not_live_change_nothing(stack):
    rulebook = stack["rulebook"]
    history = len(ledger(HOST)["history"])
    runs = playbook_runs(rulebook)

    def post(alertname, version):
        alert = {"status": "firing", "labels": {"alertname": alertname, "severity": "critical", "host": HOST,
                                                "service": "agent-loop", "version": version},
                 "annotations": {}, "startsAt": "2026-01-01T00:00:00Z", "fingerprint": alertname + version}
        body = {"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "rollback", "groupLabels": {},
                "commonLabels": alert["labels"], "externalURL": "http://127.0.0.1", "alerts": [alert]}
        return http_json("http://127.0.0.1:%d/alerts" % RULEBOOK_PORT, json.dumps(body).encode())

    # Another rule of the same incident (same host, service and version): the throttle starts no run.
    assert post("NextgenLatencyP95AfterRelease", "1.2.0") == {"events": 1}
    time.sleep(5)
    assert playbook_runs(rulebook) == runs
    # An alert for a version that is not live: the rollback runs and changes nothing.
    assert post("NextgenErrorRateAfterRelease", "1.1.0") == {"events": 1}
    wait_until(lambda: playbook_runs(rulebook) == runs + 1, 90, "the rollback run for 1.1.0")
    assert "agent-loop 1.1.0 is not live on %s (live: 1.0.0): nothing to roll back" % HOST in \
        " ".join(rulebook.output().split())
    assert len(ledger(HOST)["history"]) == history and ledger(HOST)["live"]["version"] == "1.0.0"
    assert host_exec(HOST, "test", "-e", "/var/lib/nextgen-rollout/agent-loop/lock.json").returncode == 1
