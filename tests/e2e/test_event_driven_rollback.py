"""Event-driven rollback with real parts: Prometheus scraping the service through nginx and the
ledger's textfile through node_exporter, the collection's alert rules installed by
playbooks/alert-rules.yml, Alertmanager, and ansible-rulebook running the collection's rulebook.
A version that goes bad after its release (no guard here) is rolled back with no one at the keys.

Everything listens on 127.0.0.1: the simulated host publishes nginx and node_exporter there.
"""
import time

import pytest

from support.alerting import Stack
from support.load import Load
from support.playbook import host_exec, ledger, must, run_playbook, simulated_hosts, wait_until

PREFIX = "nr-e2e-eda"
HOST = PREFIX + "-1"
BASE_PORT = 19700
NODE_EXPORTER_BASE = 19750
PORTS = {"prometheus": 19790, "alertmanager": 19791, "rulebook": 19792}
URL = "http://127.0.0.1:%d/" % (BASE_PORT + 1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("eda"))
    with simulated_hosts(PREFIX, 1, BASE_PORT, directory, first_version="1.0.0",
                         publish=("%d:9100" % NODE_EXPORTER_BASE,)) as inventory:
        running = Stack(directory, HOST, inventory, PORTS)
        try:
            yield running.start(BASE_PORT + 1, NODE_EXPORTER_BASE + 1)
        finally:
            running.stop()


def test_the_shipped_rules_load_into_the_controllers_prometheus(stack):
    must(run_playbook("alert-rules.yml", stack.inventory, stack.rules_playbook_vars()))
    wait_until(stack.rules_loaded, 30, "the release rules in Prometheus")
    # The live version reaches Prometheus from the ledger's textfile on the host.
    query = "/api/v1/query?query=nextgen_release_live_info"
    wait_until(lambda: stack.prometheus(query)["result"], 30, "nextgen_release_live_info")
    info = stack.prometheus(query)["result"][0]["metric"]
    assert (info["instance"], info["service"], info["version"]) == (HOST, "agent-loop", "1.0.0")


def test_a_version_that_goes_bad_after_its_release_is_rolled_back_by_its_alert(stack):
    inventory = stack.inventory
    load = Load(URL, rate_per_s=50, max_requests=20000, max_seconds=300, workers=4).start()
    try:
        must(run_playbook("blue-green-deploy.yml", inventory, {
            "target_version": "1.2.0", "rollout_env": {"FAULT_ERROR_RATE": "0.3", "FAULT_START_AFTER_S": "25"}}))
        assert ledger(HOST)["live"]["version"] == "1.2.0" and stack.playbook_runs() == 0
        firing = stack.wait_for_rollback("1.0.0")
        # The 10 s rate window still holds 1.2.0's errors after the switch; they must not be charged
        # to 1.0.0 (an alert for it would roll the rollback back). Wait until the window holds none.
        wait_until(stack.no_errors_in_window, 60, "a rate window without 1.2.0's errors")
    finally:
        load.stop()
    records = load.snapshot()
    failed = [r for r in records if r[1] is None or r[1] >= 500]
    rollback = [e for e in ledger(HOST)["history"] if e["action"] == "rollback"][-1]
    back_at = float(rollback["details"]["switched_at"])
    assert firing, "Prometheus never showed the alert firing: %s" % stack.rulebook.output()[-2000:]
    assert firing["labels"]["version"] == "1.2.0" and firing["labels"]["host"] == HOST
    print("event-driven rollback: first bad answer -> alert firing %.1f s -> traffic back on 1.0.0 %.1f s "
          "(%d bad answers of %d)" % (firing["seen_at"] - failed[0][0], back_at - firing["seen_at"], len(failed),
                                      len(records)))
    assert (rollback["version"], rollback["result"], rollback["details"].get("one_call")) == ("1.0.0", "succeeded", True)
    assert back_at - firing["seen_at"] < 60
    # Only 1.2.0's own answers failed, none after traffic came back.
    assert failed and set(r[2] for r in failed) == {"1.2.0"}
    assert [r for r in records if r[0] > back_at + 0.5 and r[2] != "1.0.0"] == []
    assert stack.playbook_runs() == 1 and ledger(HOST)["live"]["version"] == "1.0.0"


def test_a_second_alert_of_the_incident_and_an_alert_for_a_version_not_live_change_nothing(stack):
    history = len(ledger(HOST)["history"])
    runs = stack.playbook_runs()

    # Another rule of the same incident (same host, service and version): the throttle starts no run.
    assert stack.post_alert("NextgenLatencyP95AfterRelease", "1.2.0") == {"events": 1}
    time.sleep(5)
    assert stack.playbook_runs() == runs
    # An alert for a version that is not live: the rollback runs and changes nothing.
    assert stack.post_alert("NextgenErrorRateAfterRelease", "1.1.0") == {"events": 1}
    wait_until(lambda: stack.playbook_runs() == runs + 1, 90, "the rollback run for 1.1.0")
    assert "agent-loop 1.1.0 is not live on %s (live: 1.0.0): nothing to roll back" % HOST in \
        " ".join(stack.rulebook.output().split())
    assert len(ledger(HOST)["history"]) == history and ledger(HOST)["live"]["version"] == "1.0.0"
    assert host_exec(HOST, "test", "-e", "/var/lib/nextgen-rollout/agent-loop/lock.json").returncode == 1
