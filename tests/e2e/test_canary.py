"""Canary through nginx split_clients on a simulated host, under load from 127.0.0.1.

Requests carry varied keys (X-Client-Id), and the canary hashes that header, so that one load
generator looks like many clients.
"""
import json
import os

import pytest
import yaml

from support.load import Load, versions_by_key
from support.playbook import host_exec, ledger, must, run_playbook, simulated_hosts
from support.prometheus import start_prometheus

PREFIX = "nr-e2e-cn"
HOST = PREFIX + "-1"
BASE_PORT = 18920
URL = "http://127.0.0.1:%d/" % (BASE_PORT + 1)
FAST = os.path.join(os.path.dirname(__file__), "files", "canary-fast.yml")
RATE = 150


def fast_profile(**overrides):
    with open(FAST) as handle:
        profile = yaml.safe_load(handle)
    profile.update(rollout_strategy="canary", blue_green_smoke_samples=10)
    profile.update(overrides)
    return profile


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    with simulated_hosts(PREFIX, 1, BASE_PORT, tmp_path_factory.mktemp("inv"), first_version="1.0.0") as path:
        yield path


def live_version():
    return ledger(HOST)["live"]["version"]


def canary_under_load(inventory, extra, var_files=()):
    load = Load(URL, rate_per_s=RATE, max_requests=30000, max_seconds=180, key_header="X-Client-Id").start()
    try:
        result = run_playbook("blue-green-deploy.yml", inventory, extra, var_files=var_files)
    finally:
        load.stop()
    return result, load


def history(action=None):
    entries = ledger(HOST)["history"]
    return [e for e in entries if action is None or e["action"] == action]


def test_bad_canary_input_is_refused_before_anything_changes(inventory):
    site = host_exec(HOST, "cat", "/etc/nginx/conf.d/agent-loop.conf").stdout
    route = host_exec(HOST, "cat", "/etc/nginx/nextgen-rollout/routes/agent-loop.json").stdout
    before = len(history())
    for extra, message in (
            ({"canary_steps": [{"share": 10, "pause": 1}, {"share": 150, "pause": 1}]}, "canary share 150 % is outside 0 to 100 %"),
            ({"canary_steps": [{"share": 12.345, "pause": 1}]}, "more than two decimals"),
            ({"canary_steps": [{"share": 50, "pause": 1}, {"share": 10, "pause": 1}]}, "must rise from step to step"),
            ({"canary_steps": [10, 50, 100]}, "canary_steps step 1 (10) is not {share: PERCENT, pause: SECONDS[, hold: true]}; "
             "give canary_steps as a list of {share: PERCENT, pause: SECONDS}"),
            ({"canary_hash_key": "remote_addr; evil"}, "is not an nginx variable"),
            ({"rollout_real_ip_from": ["10.0.0.300"]}, "rollout_real_ip_from (nginx_real_ip_from) '10.0.0.300' is not an address"),
            ({"canary_policy": {"rules": {"error_rate": {"for": "two minutes"}}}}, "is not a duration"),
            ({"canary_rate_window": -4, "canary_report_every": -1}, "canary_rate_window is -4: give 0 (each sample covers its interval)"
             " or the seconds it covers; canary_report_every is -1: give 0 (figures when a step ends)"),
            ({"rollout_canary_scope": "fleet", "canary_prometheus_url": "http://127.0.0.1:9",
              "canary_prometheus_queries": {"prom_error_rate": "up"}}, "whose verdict is taken from the hosts' access logs")):
        result = run_playbook("blue-green-deploy.yml", inventory, dict(fast_profile(target_version="1.1.0"), **extra))
        assert result.rc != 0 and message in " ".join(result.output.split()), (extra, result.output[-2000:])
    assert host_exec(HOST, "cat", "/etc/nginx/conf.d/agent-loop.conf").stdout == site
    assert host_exec(HOST, "cat", "/etc/nginx/nextgen-rollout/routes/agent-loop.json").stdout == route
    assert len(history()) == before and live_version() == "1.0.0"


def test_split_follows_the_steps_within_1_5_points_and_clients_stay_on_their_side(inventory):
    steps = [{"share": 10, "pause": 0, "hold": True}, {"share": 25, "pause": 0, "hold": True},
             {"share": 50, "pause": 0, "hold": True}, {"share": 100, "pause": 0}]
    keys = ["client-%d" % i for i in range(5000)]
    extra = fast_profile(target_version="1.1.0", canary_steps=steps)
    on_candidate = []
    for step, share in enumerate((10, 25, 50)):
        if step == 0:
            result = must(run_playbook("blue-green-deploy.yml", inventory, extra))
        else:
            result = must(run_playbook("blue-green-deploy.yml", inventory,
                                       {"rollout_strategy": "canary", "canary_action": "resume"}))
        assert "holds at %d %%" % share in result.output
        assert ledger(HOST)["canary"]["state"] == "held" and ledger(HOST)["canary"]["share"] == share
        if step == 0:
            # The status's summary says where the canary stands in a few words.
            status = must(run_playbook("status.yml", inventory, {})).output
            row = status[status.index("nextgen.rollout status summary"):].splitlines()[3]
            colour = ledger(HOST)["canary"]["colour"]
            assert "1.1.0 at 10 %% on %s, step 1 of 4, held" % colour in row and "hash_key" not in row, row
        answers = versions_by_key(URL, keys)
        assert len(answers) == len(keys)
        candidate = set(k for k, v in answers.items() if v == "1.1.0")
        realised = 100.0 * len(candidate) / len(keys)
        assert abs(realised - share) <= 1.5, (share, realised)
        assert set(answers.values()) == {"1.0.0", "1.1.0"}
        if on_candidate:
            assert on_candidate[-1] <= candidate  # raising the share never moves a client back
        on_candidate.append(candidate)
    must(run_playbook("blue-green-deploy.yml", inventory, {"rollout_strategy": "canary", "canary_action": "resume"}))
    assert live_version() == "1.1.0" and ledger(HOST)["canary"] is None
    assert set(versions_by_key(URL, keys[:200]).values()) == {"1.1.0"}


def test_a_candidate_with_5_percent_errors_is_aborted_at_the_first_step(inventory):
    stable = live_version()
    target = "1.2.0" if stable != "1.2.0" else "1.0.0"
    prometheus = start_prometheus(HOST)
    policy = fast_profile()["canary_policy"]
    policy["rules"]["prom_errors"] = {"metric": "prom_error_rate", "op": ">", "threshold": 0.01, "for": "4s"}
    # The reference service's example file names its Prometheus metrics and its own version header.
    # Its every-20th-request errors are one or two per 2 s interval at 10 %: each sample covers 4 s.
    result, load = canary_under_load(inventory, fast_profile(
        target_version=target, blue_green_env={"FAULT_ERROR_RATE": "0.05"}, canary_policy=policy, canary_rate_window=4,
        canary_report_every=4,
        canary_prometheus_url=prometheus, canary_prometheus_window="10s"), var_files=["examples/reference/rollout.yml"])
    assert result.rc != 0 and "the analysis at 10 % says rollback" in result.output, result.output[-3000:]
    # The step's figures are shown as it goes (every canary_report_every, 4 s), and as it ends, before the run stops.
    flat = " ".join(result.output.split())
    assert "10 % - step 1 of 3, 4 s of 10 s: candidate " in flat and "-> continue" in flat
    assert "10 % - step 1 of 3: candidate" in flat and "-> rollback: " in result.output
    # The step was watched in parts; the progress kept between them went with the verdict.
    kept = host_exec(HOST, "ls", "/var/lib/nextgen-rollout/agent-loop").stdout.split()
    assert "ledger.json" in kept and "analysis-progress.json" not in kept, kept
    step, end = history("canary-step")[-1], history("canary")[-1]
    assert step["share"] == 10 and step["result"] == "rollback" and step["version"] == target
    assert any(r.startswith("error_rate") for r in step["reasons"]) and step["details"]["rate_window_s"] == 4
    assert end["result"] == "aborted" and ledger(HOST)["canary"] is None and live_version() == stable
    started, zero = float(step["details"]["started_at"]), float(end["details"]["share_zero_at"])
    abort_s = zero - started
    assert abort_s <= 10 + 5, abort_s  # the step's analysis window (10 s) plus 5 s
    # Prometheus keeps a connection to the candidate between its scrapes; only nginx's count, and
    # nginx closes its idle ones after 2 s: the candidate drained well before the 30 s timeout.
    drain = end["details"]["drain"]
    assert drain["drained"] and drain["waited_s"] < 10, drain
    # What users saw: failures only from the candidate, within 1.5x share x error rate x requests.
    window = [r for r in load.snapshot() if started <= r[0] <= zero + 1]
    failed = sum(1 for r in load.snapshot() if r[1] is None or r[1] >= 500)
    expected = 0.10 * 0.05 * len(window)
    assert 0 < failed <= 1.5 * expected + 1, (failed, expected, len(window))
    candidate = step["details"]["figures"]["candidate"]
    assert 0.02 <= candidate["error_rate"] <= 0.1 and step["details"]["figures"]["stable"]["errors_5xx"] == 0
    assert step["details"]["last_sample"]["prom_error_rate"] is not None  # Prometheus was asked and answered
    assert 0.01 < step["details"]["rules"]["prom_errors"]["value"] < 0.2
    assert host_exec(HOST, "docker", "ps", "-q", "--filter", "label=nextgen.rollout.version=" + target).stdout == ""


def test_a_candidate_with_300_ms_more_latency_is_aborted_by_the_latency_rule(inventory):
    stable = live_version()
    target = "1.2.0" if stable != "1.2.0" else "1.0.0"
    result, load = canary_under_load(inventory, fast_profile(
        target_version=target, blue_green_env={"FAULT_LATENCY_MS": "300"}))
    assert result.rc != 0, result.output[-3000:]
    step = history("canary-step")[-1]
    assert step["result"] == "rollback" and step["share"] == 10
    assert [r.split(":")[0] for r in step["reasons"]] == ["p95_vs_baseline"], step["reasons"]
    assert step["details"]["figures"]["candidate"]["latency_ms"]["p95"] >= 300
    assert step["details"]["judge"]["latency"] < 0.01  # the Mann-Whitney judge confirmed it
    assert load.summary()["failed"] == 0 and live_version() == stable


def test_a_candidate_that_never_becomes_ready_is_aborted_before_any_client_reaches_it(inventory):
    stable = live_version()
    target = "1.2.0" if stable != "1.2.0" else "1.0.0"
    before = len(history())
    result, load = canary_under_load(inventory, fast_profile(
        target_version=target, blue_green_env={"FAULT_NEVER_READY": "1"}, rollout_ready_timeout=4))
    # The run says why the candidate stopped (its readiness), not a ledger error of the abort.
    assert result.rc != 0 and "canary of agent-loop %s aborted" % target in " ".join(result.output.split()), result.output[-3000:]
    assert "not ready" in result.output or "not healthy" in result.output, result.output[-3000:]
    assert "no canary is in progress" not in result.output, result.output[-3000:]
    end = history()[before:][-1]
    assert (end["action"], end["result"], end["version"], end["from_version"]) == ("canary", "aborted", target, stable), end
    assert end["details"]["failed_task"] and end["details"]["image"] and end["details"]["backup_id"], end["details"]
    assert not [e for e in history()[before:] if e["action"] == "canary-step"]  # no step began: no client was sent
    state = ledger(HOST)
    assert state["pending"] is None and state["canary"] is None and live_version() == stable
    assert load.summary()["failed"] == 0
    assert host_exec(HOST, "docker", "ps", "-q", "--filter", "label=nextgen.rollout.version=" + target).stdout == ""


def test_a_gate_on_prometheus_does_not_pass_while_prometheus_is_down(inventory):
    stable = live_version()
    target = "1.2.0" if stable != "1.2.0" else "1.0.0"
    policy = fast_profile()["canary_policy"]
    policy["rules"]["prom_errors"] = {"metric": "prom_error_rate", "op": ">", "threshold": 0.01, "for": "4s"}
    # Nothing listens on port 9 of the host: every query is refused. The candidate itself is healthy.
    result, load = canary_under_load(inventory, fast_profile(
        target_version=target, canary_policy=policy, canary_prometheus_url="http://127.0.0.1:9",
        canary_prometheus_queries={"prom_error_rate": "sum(rate(errors[$window]))"}))
    said = " ".join(result.output.split())
    assert result.rc != 0 and "the analysis at 10 % says hold (inconclusive after 1 extensions)" in said, said[-3000:]
    assert "prom_errors: prom_error_rate could not be read from Prometheus" in said and "Connection refused" in said
    assert history("canary")[-1]["result"] == "aborted" and live_version() == stable
    assert load.summary()["failed"] == 0


def connecting_address():
    """The address nginx sees requests of this test from (docker's port forwarding connects from its
    bridge's gateway): what a load balancer in front of nginx is."""
    versions_by_key(URL, ["probe"])
    line = host_exec(HOST, "tail", "-n", "1", "/var/log/nginx/agent-loop.access.json").stdout
    return json.loads(line)["remote_addr"]


def hash_slot(key):
    """Where nginx's canary split puts a key, in 1/100 of a percent (FNV-1a, as nextgen_rollout.js)."""
    value = 0x811c9dc5
    for byte in key.encode():
        value = ((value ^ byte) * 0x01000193) & 0xffffffff
    return value % 10000


def test_clients_behind_one_address_never_reach_the_candidate_and_the_hold_says_why(inventory):
    """Every request of the load comes from one address, as every request comes from a load
    balancer's: hashed by $remote_addr (the seeds' key), all of them land on one side."""
    stable = live_version()
    target = "1.2.0" if stable != "1.2.0" else "1.0.0"
    slot = hash_slot(connecting_address())
    assert slot >= 2, slot
    share = slot // 2 / 100.0  # below the address's slot: the address is on the stable side
    extra = fast_profile(target_version=target, canary_hash_key="$remote_addr", canary_max_extensions=0,
                         canary_steps=[{"share": share, "pause": 4}, {"share": 100, "pause": 0}])
    load = Load(URL, rate_per_s=RATE, max_requests=30000, max_seconds=180).start()
    try:
        result = run_playbook("blue-green-deploy.yml", inventory, extra)
    finally:
        summary = load.stop()
    said = " ".join(result.output.split())
    assert result.rc != 0 and "the analysis at %s %% says hold" % share in said, said[-3000:]
    assert "the candidate got none of the" in said and "set rollout_real_ip_from to the addresses it connects from" in said
    assert history("canary")[-1]["result"] == "aborted" and live_version() == stable
    assert summary["failed"] == 0 and summary["versions"] == [stable], summary


def test_behind_a_load_balancer_each_client_is_hashed_by_its_own_address(inventory):
    """rollout_real_ip_from names the load balancer (here docker's forwarding of the test's requests):
    nginx takes each client's address from X-Forwarded-For, for the canary's split and in the access log."""
    stable = live_version()
    target = "1.2.0" if stable != "1.2.0" else "1.0.0"
    balancer = connecting_address()
    extra = fast_profile(target_version=target, canary_hash_key="$remote_addr", rollout_real_ip_from=[balancer],
                         canary_steps=[{"share": 50, "pause": 0, "hold": True}, {"share": 100, "pause": 0}])
    must(run_playbook("blue-green-deploy.yml", inventory, extra))
    try:
        site = host_exec(HOST, "cat", "/etc/nginx/conf.d/agent-loop.conf").stdout
        assert "set_real_ip_from %s;" % balancer in site and "real_ip_header X-Forwarded-For;" in site
        clients = ["203.0.113.%d" % i for i in range(1, 255)] + ["198.51.100.%d" % i for i in range(1, 255)]
        answers = versions_by_key(URL, clients, header="X-Forwarded-For")
        assert set(answers.values()) == {stable, target} and len(answers) == len(clients)
        expected = [client for client in clients if hash_slot(client) < 5000]
        assert sorted(client for client, version in answers.items() if version == target) == sorted(expected)
        logged = [json.loads(line) for line in host_exec(
            HOST, "tail", "-n", "50", "/var/log/nginx/agent-loop.access.json").stdout.splitlines()]
        assert logged and all(entry["remote_addr"] in clients for entry in logged), logged[:3]
    finally:
        aborted = {"rollout_strategy": "canary", "canary_action": "abort", "rollout_real_ip_from": [balancer]}
        must(run_playbook("blue-green-deploy.yml", inventory, aborted))
    assert live_version() == stable and ledger(HOST)["canary"] is None
