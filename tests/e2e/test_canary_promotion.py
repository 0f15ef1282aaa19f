"""A healthy candidate is promoted on every host of a play, each under its own load, with no
failed request. The statistical version (20 runs, false aborts) is `make bench-canary`."""
import json
import os

import pytest
import yaml

from support.load import Load
from support.playbook import host_exec, ledger, run_playbook, simulated_hosts

PREFIX = "nr-e2e-cp"
BASE_PORT = 18940
HOSTS = ["%s-%d" % (PREFIX, i) for i in range(1, 3)]
ROUNDS = 1
VERSIONS = ["1.1.0", "1.2.0", "1.0.0"]
FAST = os.path.join(os.path.dirname(__file__), "files", "canary-fast.yml")


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    with simulated_hosts(PREFIX, len(HOSTS), BASE_PORT, tmp_path_factory.mktemp("inv"), first_version="1.0.0") as path:
        yield path


def test_a_healthy_candidate_is_promoted_on_every_host(inventory):
    with open(FAST) as handle:
        profile = yaml.safe_load(handle)
    # One analysed step (three 2 s samples, enough for the 4 s rules to fire), then promotion.
    # Backups are tested elsewhere.
    profile.update(rollout_strategy="canary", blue_green_backup_before_change=False, blue_green_smoke_samples=5,
                   canary_steps=[{"share": 10, "pause": 6}, {"share": 100, "pause": 0}])
    promoted, aborted, failed_requests = 0, [], 0
    for round_index in range(ROUNDS):
        version = VERSIONS[round_index % len(VERSIONS)]
        loads = [Load("http://127.0.0.1:%d/" % (BASE_PORT + i + 1), rate_per_s=60, max_seconds=180,
                      key_header="X-Client-Id").start() for i in range(len(HOSTS))]
        try:
            result = run_playbook("blue-green-deploy.yml", inventory, dict(profile, target_version=version))
        finally:
            summaries = [load.stop() for load in loads]
        failed_requests += sum(s["failed"] for s in summaries)
        for host in HOSTS:
            doc = ledger(host)
            if doc["live"]["version"] == version and doc["history"][-1]["result"] == "succeeded":
                promoted += 1
            else:
                aborted.append((round_index, host, [e.get("reasons") or e.get("message") for e in doc["history"][-3:]]))
        assert result.rc == 0 or aborted, result.output[-3000:]
    assert (promoted, aborted) == (len(HOSTS) * ROUNDS, []), aborted
    assert failed_requests == 0


def test_a_host_that_fails_releases_its_lock_and_does_not_stop_the_others(inventory, tmp_path):
    with open(inventory) as handle:
        doc = json.load(handle)
    # The first host gets a version that never becomes ready; the second a healthy one.
    doc["all"]["hosts"][HOSTS[0]].update(blue_green_env={"FAULT_NEVER_READY": "1"}, blue_green_ready_timeout=8)
    faulty = str(tmp_path / "hosts.json")
    with open(faulty, "w") as handle:
        json.dump(doc, handle)
    before = ledger(HOSTS[0])["live"]["version"]
    target = "1.2.0" if before != "1.2.0" else "1.1.0"
    # One wave of both hosts that tolerates one failure: the failed host does not take the other one back.
    result = run_playbook("blue-green-deploy.yml", faulty, {"target_version": target, "blue_green_backup_before_change": False,
                                                            "blue_green_smoke_samples": 3, "rollout_wave_max_fail_percent": 50})
    assert result.rc != 0 and "not healthy within 8 s" in result.output
    assert ledger(HOSTS[0])["live"]["version"] == before and ledger(HOSTS[1])["live"]["version"] == target
    for host in HOSTS:
        assert host_exec(host, "test", "-e", "/var/lib/nextgen-rollout/agent-loop/lock.json").returncode == 1, host


def test_a_host_whose_candidate_fails_goes_back_to_stable_without_waiting_for_the_others_steps(inventory, tmp_path):
    with open(FAST) as handle:
        profile = yaml.safe_load(handle)
    with open(inventory) as handle:
        doc = json.load(handle)
    # The first host's candidate fails 30 % of its requests; the second's is healthy. Each host judges its own.
    doc["all"]["hosts"][HOSTS[0]].update(blue_green_env={"FAULT_ERROR_RATE": "0.3"})
    faulty = str(tmp_path / "hosts.json")
    with open(faulty, "w") as handle:
        json.dump(doc, handle)
    before = ledger(HOSTS[0])["live"]["version"]
    target = "1.2.0" if before != "1.2.0" else "1.1.0"
    pause = 16
    # Each host's step is watched in parts of 4 s: a host that has its verdict records it at the end of that part.
    profile.update(rollout_strategy="canary", blue_green_backup_before_change=False, blue_green_smoke_samples=3,
                   rollout_wave_max_fail_percent=50, canary_report_every=4,
                   canary_steps=[{"share": 50, "pause": pause}, {"share": 100, "pause": 0}])
    loads = [Load("http://127.0.0.1:%d/" % (BASE_PORT + i + 1), rate_per_s=60, max_seconds=180,
                  key_header="X-Client-Id").start() for i in range(len(HOSTS))]
    try:
        result = run_playbook("blue-green-deploy.yml", faulty, dict(profile, target_version=target))
    finally:
        for load in loads:
            load.stop()
    assert result.rc != 0 and "the analysis at 50 % says rollback" in result.output, result.output[-3000:]
    failing, healthy = ledger(HOSTS[0]), ledger(HOSTS[1])
    assert failing["live"]["version"] == before and healthy["live"]["version"] == target
    step = [e for e in failing["history"] if e["action"] == "canary-step"][-1]
    end = [e for e in failing["history"] if e["action"] == "canary"][-1]
    assert (step["result"], end["result"]) == ("rollback", "aborted")
    # Back to share 0 in the part where its rule fired (4 s of errors, 2 s samples), while the healthy host
    # still watched its 16 s step: not after the other host's step.
    abort_s = float(end["details"]["share_zero_at"]) - float(step["details"]["started_at"])
    assert abort_s < pause - 2, abort_s
