"""The job templates and workflows of awx/controller.yml, launched as AWX launches them (ansible-runner
with a private data directory, survey answers as extra vars, artifacts passed between nodes) by
AwxStandIn, a stand-in for AWX's scheduler, against a simulated host under load; the webhooks of
the playbooks reach a real HTTP receiver on 127.0.0.1."""
import json
import os
import time

import pytest

from support.awx_stand_in import AwxStandIn
from support.load import Load
from support.playbook import ROOT, ledger, run_playbook, simulated_hosts
from support.receiver import Receiver

PREFIX = "nr-e2e-awx"
HOST = PREFIX + "-1"
BASE_PORT = 19600
URL = "http://127.0.0.1:%d/" % (BASE_PORT + 1)
FAILING_CHECK = os.path.join(os.path.dirname(__file__), "files", "failing-after-switch.yml")
DEPLOY = "nextgen.rollout deploy, roll back if traffic moved"
CANARY = "nextgen.rollout canary with approval"
# What every job of these tests carries, as an AWX inventory's variables would.
SITE = {"blue_green_backup_before_change": False, "blue_green_smoke_samples": 3, "rollout_notify_timeout": 3}


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    with simulated_hosts(PREFIX, 1, BASE_PORT, tmp_path_factory.mktemp("inv"), first_version="1.0.0") as path:
        yield path


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def site_inventory(inventory, directory, **site_vars):
    """The inventory with the site's variables, as AWX would hold them (inventory variables)."""
    with open(inventory) as handle:
        doc = json.load(handle)
    doc["all"]["vars"].update(SITE, **site_vars)
    path = os.path.join(str(directory), "awx-inventory.json")
    with open(path, "w") as handle:
        json.dump(doc, handle)
    return path


def webhooks(receiver):
    return [{"name": "team", "url": receiver.url, "kind": "json"}]


def live_version():
    return ledger(HOST)["live"]["version"]


def nodes(ran):
    return [(node, result if isinstance(result, str) else result.status) for node, result in ran]


def test_a_deploy_that_fails_before_the_switch_runs_no_rollback(inventory, tmp_path, receiver):
    assert live_version() == "1.0.0"
    awx = AwxStandIn(site_inventory(inventory, tmp_path, rollout_webhooks=webhooks(receiver),
                                    rollout_env={"FAULT_NEVER_READY": "1"}, blue_green_ready_timeout=8), tmp_path)
    load = Load(URL, rate_per_s=60, max_requests=10000, max_seconds=240, workers=4).start()
    try:
        status, ran = awx.launch_workflow(DEPLOY, {"target_version": "1.1.0"})
    finally:
        summary = load.stop()
    assert status == "failed"
    assert nodes(ran) == [("deploy", "failed"), ("moved", "failed")], nodes(ran)
    deploy = ran[0][1]
    assert deploy.artifacts["rollout"][HOST]["traffic_switched"] is False
    assert deploy.artifacts["rollout"][HOST]["result"] == "failed"
    assert "traffic did not move on any host" in ran[1][1].output
    assert summary["failed"] == 0 and summary["versions"] == ["1.0.0"], summary
    assert live_version() == "1.0.0"
    events = [doc["event"] for doc in receiver.received]
    assert events == ["started", "failed"], receiver.received
    failed = receiver.received[-1]
    assert failed["version"] == "1.1.0" and failed["hosts"] == [HOST] and failed["traffic_switched"] == []
    assert any("not healthy within 8 s" in reason for reason in failed["reasons"]), failed
    assert isinstance(failed["duration_s"], float) and failed["duration_s"] > 0


def test_a_deploy_that_fails_after_traffic_moved_is_rolled_back_by_the_workflow(inventory, tmp_path, receiver):
    assert live_version() == "1.0.0"
    awx = AwxStandIn(site_inventory(inventory, tmp_path, rollout_webhooks=webhooks(receiver),
                                    rollout_after_switch_tasks=FAILING_CHECK), tmp_path)
    load = Load(URL, rate_per_s=60, max_requests=20000, max_seconds=300, workers=4).start()
    try:
        status, ran = awx.launch_workflow(DEPLOY, {"target_version": "1.1.0"})
    finally:
        summary = load.stop()
    assert nodes(ran) == [("deploy", "failed"), ("moved", "successful"), ("rollback", "successful")], \
        [(node, result.output[-2500:]) for node, result in ran]
    assert status == "successful"
    deploy, rollback = ran[0][1], ran[2][1]
    assert deploy.artifacts["rollout"][HOST]["traffic_switched"] is True
    assert "order page of 1.1.0 shows no prices" in deploy.output
    # The workflow still carries target_version=1.1.0: the rollback read the deploy's artifact.
    assert rollback.extra_vars["target_version"] == "1.1.0"
    assert rollback.artifacts["rollout"][HOST]["version"] == "1.0.0"
    assert live_version() == "1.0.0"
    assert summary["failed"] == 0 and set(summary["versions"]) == {"1.0.0", "1.1.0"}, summary
    assert Load(URL, rate_per_s=20, max_requests=5, max_seconds=5, workers=1).start().stop()["versions"] == ["1.0.0"]
    events = [(doc["event"], doc["version"]) for doc in receiver.received]
    assert events == [("started", "1.1.0"), ("failed", "1.1.0"), ("rolled_back", "1.0.0")], receiver.received
    assert receiver.received[1]["traffic_switched"] == [HOST]
    assert receiver.received[2]["action"] == "rollback" and receiver.received[2]["duration_s"] >= 0


def test_a_canary_holds_for_approval_then_is_promoted_or_aborted(inventory, tmp_path, receiver):
    awx = AwxStandIn(site_inventory(inventory, tmp_path, rollout_webhooks=webhooks(receiver),
                                    canary_interval=2, canary_max_extensions=1, canary_hash_key="$http_x_client_id",
                                    canary_policy={"min_requests": 20}), tmp_path)
    for version, approve in (("1.1.0", False), ("1.2.0", True)):
        before = live_version()
        load = Load(URL, rate_per_s=60, max_requests=20000, max_seconds=300, workers=4, key_header="X-Client-Id").start()
        try:
            status, ran = awx.launch_workflow(CANARY, {"target_version": version, "rollout_canary_plan": "25:6:hold,100"},
                                              approve=approve)
        finally:
            summary = load.stop()
        assert status == "successful", [(node, getattr(result, "output", result)[-2500:]) for node, result in ran]
        last = "resume" if approve else "abort"
        assert nodes(ran) == [("canary", "successful"), ("held", "successful"), ("approve", "approved" if approve else "denied"),
                              (last, "successful")], nodes(ran)
        assert ran[0][1].artifacts["rollout"][HOST]["result"] == "held"
        assert live_version() == (version if approve else before)
        assert summary["failed"] == 0, summary
    events = [doc["event"] for doc in receiver.received]
    assert events.count("step_passed") >= 2 and events[-1] == "completed", events


def test_webhooks_that_are_down_or_silent_never_fail_or_hold_up_a_deploy(inventory, tmp_path):
    silent = Receiver(delay_s=30)
    down = Receiver()
    down.close()
    try:
        awx = AwxStandIn(site_inventory(inventory, tmp_path, rollout_notify_timeout=2, rollout_webhooks=[
            {"name": "down", "url": down.url}, {"name": "silent", "url": silent.url, "kind": "slack"}]), tmp_path)
        target = "1.1.0" if live_version() != "1.1.0" else "1.0.0"
        started = time.monotonic()
        job = awx.launch_job("nextgen.rollout deploy", {"target_version": target})
        seconds = time.monotonic() - started
    finally:
        silent.close()
    assert job.succeeded, job.output[-3000:]
    assert live_version() == target
    unsent = dict((hook["name"], hook["reason"]) for hook in job.artifacts["notifications"]["unsent"])
    assert unsent["down"].startswith("connection refused")
    assert unsent["silent"].startswith("no answer within the timeout after 2.")
    # Two notices (started, completed) reached the silent webhook; each cost at most its timeout.
    assert len(silent.received) == 2
    print("deploy with a down and a silent webhook: %.1f s" % seconds)


def test_a_survey_answer_awx_would_refuse_launches_nothing(inventory, tmp_path):
    awx = AwxStandIn(inventory, tmp_path)
    with pytest.raises(ValueError, match="'rainbow' is not one of blue-green, canary"):
        awx.launch_workflow(DEPLOY, {"target_version": "1.3.0", "rollout_strategy": "rainbow"})
    assert os.listdir(str(tmp_path)) == []


def test_configuring_a_controller_checks_the_data_before_touching_it(tmp_path):
    result = run_playbook("awx-configure.yml", os.path.join(ROOT, "inventories", "example"),
                          {"awx_inventory": "production", "awx_controller_host": "https://127.0.0.1:9"})
    assert result.rc != 0
    assert "awx_project_url is not set: give the git URL of the repository AWX syncs" in result.output
    assert "Nothing was changed" in result.output
