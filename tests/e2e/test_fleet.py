"""A fleet of three simulated hosts deploys in waves (the pilot, then the rest): the plan is shown
before anything changes, a failed wave stops the rollout and takes back what it is told to, a failed
pilot starts nothing else, an emergency rollback takes every host back at once, and a deploy freeze
refuses new versions on every host while rollbacks still run."""
import json
import os

import pytest
import yaml

from support.browser import rendered_dom, screenshot
from support.load import Load
from support.playbook import ROOT, ledger, run_playbook, simulated_hosts
from support.receiver import Receiver

PREFIX = "nr-e2e-fleet"
HOSTS = ["%s-%d" % (PREFIX, i) for i in range(1, 4)]
BASE_PORT = 19100
# The pilot (the first host), then one wave of the two others.
WAVES = {"rollout_pilot_count": 1, "rollout_wave_percents": [100], "blue_green_backup_before_change": False,
         "blue_green_smoke_samples": 3}


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    with simulated_hosts(PREFIX, len(HOSTS), BASE_PORT, tmp_path_factory.mktemp("inv"), first_version="1.0.0") as path:
        yield path


def edited_inventory(inventory, path, edit):
    """A copy of the inventory at ``path``, changed by ``edit(document)``."""
    with open(inventory) as handle:
        doc = json.load(handle)
    edit(doc)
    with open(path, "w") as handle:
        json.dump(doc, handle)
    return path


def with_faulty_host(inventory, directory, host):
    """The inventory where ``host``'s next version never gets ready (its gates fail before the switch)."""
    return edited_inventory(inventory, os.path.join(str(directory), "faulty.json"), lambda doc: doc["all"]["hosts"][host].update(
        rollout_env={"FAULT_NEVER_READY": "1"}, blue_green_ready_timeout=8))


def with_webhook(inventory, directory, url):
    """The inventory where the group rollout_targets tells the webhook at ``url``."""
    return edited_inventory(inventory, os.path.join(str(directory), "hooked.json"), lambda doc: doc["all"]["children"][
        "rollout_targets"].setdefault("vars", {}).update(rollout_webhooks=[{"url": url}]))


def live():
    return [ledger(host)["live"]["version"] for host in HOSTS]


def loads():
    return [Load("http://127.0.0.1:%d/" % (BASE_PORT + i + 1), rate_per_s=30, max_requests=10000, max_seconds=300,
                 workers=2).start() for i in range(len(HOSTS))]


def test_the_plan_is_shown_before_anything_changes_and_check_mode_changes_nothing(inventory):
    before = [ledger(host)["history"] for host in HOSTS]
    result = run_playbook("blue-green-deploy.yml", inventory, dict(WAVES, target_version="1.1.0"), check=True)
    assert result.rc == 0, result.output[-3000:]
    assert "2 wave(s): wave 0 (pilot): %s; wave 1: %s, %s." % tuple(HOSTS) in " ".join(result.output.split())
    assert "nextgen.rollout release summary (check mode: what the run would do; nothing was changed)" in result.output
    assert [ledger(host)["history"] for host in HOSTS] == before


def test_a_list_of_hosts_deploys_to_those_hosts_pilot_group_first(inventory, tmp_path):
    path = edited_inventory(inventory, str(tmp_path / "pilot-group.json"),
                            lambda doc: doc["all"]["children"]["rollout_pilot"].update(hosts={HOSTS[2]: {}}))
    result = run_playbook("blue-green-deploy.yml", path,
                          dict(WAVES, target_version="1.1.0", rollout_hosts="%s,%s" % (HOSTS[0], HOSTS[2])), check=True)
    assert result.rc == 0, result.output[-3000:]
    said = " ".join(result.output.split())
    assert "2 wave(s): wave 0 (pilot): %s; wave 1: %s." % (HOSTS[2], HOSTS[0]) in said, said[-3000:]
    assert said.index("Starting wave 0 of 1 (pilot): %s" % HOSTS[2]) < said.index("Starting wave 1 of 1: %s" % HOSTS[0])
    assert HOSTS[1] not in result.output


def test_a_failed_wave_goes_back_and_the_pilot_keeps_the_new_version(inventory, tmp_path):
    assert live() == ["1.0.0"] * 3
    running = loads()
    try:
        result = run_playbook("blue-green-deploy.yml", with_faulty_host(inventory, tmp_path, HOSTS[2]),
                              dict(WAVES, target_version="1.1.0"))
    finally:
        summaries = [load.stop() for load in running]
    assert result.rc != 0
    said = " ".join(result.output.split())
    assert ("wave 1 failed on %s (50.0 %% of its hosts, above the 0 %% allowed): the rollout stops; the hosts of this "
            "wave whose traffic moved (%s) go back to the version live before, %s kept the version it ran, the hosts of "
            "earlier waves (%s) keep the new version" % (HOSTS[2], HOSTS[1], HOSTS[2], HOSTS[0])) in said
    assert live() == ["1.1.0", "1.0.0", "1.0.0"]
    # The summary says which host runs what.
    summary = result.output[result.output.index("nextgen.rollout release summary"):].splitlines()
    rows = dict((line.split()[0], line.split()[:5]) for line in summary[3:6])
    assert rows[HOSTS[0]] == [HOSTS[0], "deploy", "0", "succeeded", "1.1.0"]
    assert rows[HOSTS[1]] == [HOSTS[1], "deploy", "1", "rolled_back", "1.1.0"]
    assert rows[HOSTS[2]] == [HOSTS[2], "deploy", "1", "failed", "1.1.0"]
    assert sum(s["failed"] for s in summaries) == 0, summaries


def test_a_rollback_without_a_version_after_a_failed_wave_undoes_that_release_on_every_host(inventory):
    # Left by the failed wave: the pilot on 1.1.0; HOSTS[1] taken back to 1.0.0 (its previous version is 1.1.0);
    # HOSTS[2] stopped before its switch, on its first release (it has no version before 1.0.0).
    assert live() == ["1.1.0", "1.0.0", "1.0.0"]
    result = run_playbook("rollback.yml", inventory, {})
    assert result.rc == 0, result.output[-3000:]
    said = " ".join(result.output.split())
    assert ("the same release undone on every host: 1.1.0 -> 1.0.0 on %s; %s stays on 1.0.0: 1.0.0 went live by a "
            "rollback from 1.1.0; nothing to undo without a version (-e target_version=1.1.0 goes back to it); %s stays "
            "on 1.0.0: runs 1.0.0, where the other hosts go back to" % tuple(HOSTS)) in said, said[-3000:]
    assert live() == ["1.0.0"] * 3
    table = result.output[result.output.index("nextgen.rollout release summary"):]
    assert table.count("succeeded") == 1 and table.count("unchanged") == 2, table
    # Pressed again (a second operator, a retried AWX job): nothing moves back to 1.1.0 anywhere.
    again = run_playbook("rollback.yml", inventory, {})
    assert again.rc == 0, again.output[-3000:]
    assert live() == ["1.0.0"] * 3
    assert again.output[again.output.index("nextgen.rollout release summary"):].count("unchanged") == 3


def test_an_emergency_rollback_takes_every_host_back_at_once(inventory):
    run_playbook("blue-green-deploy.yml", inventory, dict(WAVES, target_version="1.1.0"))
    assert live() == ["1.1.0"] * 3
    running = loads()
    try:
        result = run_playbook("rollback.yml", inventory, {"target_version": "1.0.0"})
    finally:
        summaries = [load.stop() for load in running]
    assert result.rc == 0, result.output[-3000:]
    assert live() == ["1.0.0"] * 3
    assert sum(s["failed"] for s in summaries) == 0, summaries
    table = result.output[result.output.index("nextgen.rollout release summary"):]
    assert all(host in table for host in HOSTS) and table.count("succeeded") == 3
    # Run again (an operator who is not sure it went through): the same one call on each host says
    # there is nothing to do, without the full release process's lock, reconciliation and claims.
    histories = [ledger(host)["history"] for host in HOSTS]
    again = run_playbook("rollback.yml", inventory, {"target_version": "1.0.0"})
    assert again.rc == 0, again.output[-3000:]
    table = again.output[again.output.index("nextgen.rollout release summary"):]
    assert table.count("agent-loop 1.0.0 is already live on") == 3 and table.count("unchanged") == 3, table
    assert "TASK [nextgen.rollout.lock : Take the lock" not in again.output
    assert [ledger(host)["history"] for host in HOSTS] == histories


def test_a_run_limited_to_one_host_still_tells_the_webhooks_of_the_targets_group(inventory, tmp_path):
    """--limit (an AWX job's limit) leaves localhost out: the end of the run is still reported, with
    the webhooks set in the variables of the group rollout_targets."""
    assert live() == ["1.0.0"] * 3
    receiver = Receiver()
    try:
        hooked = with_webhook(inventory, tmp_path, receiver.url)
        there = run_playbook("rollback.yml", hooked, {"target_version": "1.1.0"}, limit=HOSTS[1])
        back = run_playbook("rollback.yml", hooked, {"target_version": "1.0.0"}, limit=HOSTS[1])
    finally:
        receiver.close()
    assert there.rc == 0, there.output[-3000:]
    assert back.rc == 0, back.output[-3000:]
    told = [(doc["event"], doc["version"], doc["hosts"]) for doc in receiver.received]
    assert told == [("rolled_back", "1.1.0", [HOSTS[1]]), ("rolled_back", "1.0.0", [HOSTS[1]])], receiver.received
    assert all(isinstance(doc["duration_s"], float) for doc in receiver.received), receiver.received
    assert live() == ["1.0.0"] * 3


def test_a_failed_wave_can_take_back_every_host_changed_so_far(inventory, tmp_path):
    assert live() == ["1.0.0"] * 3
    result = run_playbook("blue-green-deploy.yml", with_faulty_host(inventory, tmp_path, HOSTS[2]),
                          dict(WAVES, target_version="1.2.0", rollout_wave_failure="rollback_all"))
    assert result.rc != 0
    assert ("every host whose traffic moved so far (%s, %s) goes back to the version live before, %s kept the version it ran"
            % (HOSTS[0], HOSTS[1], HOSTS[2])) in " ".join(result.output.split())
    assert live() == ["1.0.0"] * 3


def test_a_failed_pilot_starts_nothing_else(inventory, tmp_path):
    before = [len(ledger(host)["history"]) for host in HOSTS]
    result = run_playbook("blue-green-deploy.yml", with_faulty_host(inventory, tmp_path, HOSTS[0]),
                          dict(WAVES, target_version="1.2.0", rollout_wave_failure="stop"))
    assert result.rc != 0
    said = " ".join(result.output.split())
    assert "the pilot (wave 0) failed on %s" % HOSTS[0] in said and "Not starting wave 1 of 1" in said
    assert live() == ["1.0.0"] * 3
    # The other hosts' ledgers did not move: nothing started there.
    assert [len(ledger(host)["history"]) for host in HOSTS[1:]] == before[1:]


def test_a_pattern_that_matches_no_host_fails_the_run_and_changes_nothing(inventory):
    before = [ledger(host)["history"] for host in HOSTS]
    for playbook, extra_vars, limit, said in (
            ("blue-green-deploy.yml", {"target_version": "1.2.0", "rollout_hosts": PREFIX + "-typo"}, None,
             "matches %s-typo:" % PREFIX),
            ("rollback.yml", {"rollout_hosts": "rollout_pilot"}, None, "matches rollout_pilot:"),  # an empty group
            ("status.yml", {"rollout_hosts": HOSTS[1]}, HOSTS[0], "matches %s within --limit %s:" % (HOSTS[1], HOSTS[0])),
            # An inventory without logging agents, or without Prometheus servers.
            ("logging-rollout.yml", {}, None, "matches logging_pilot:agents_ia:agents_outils:agents_coordination: check the "
             "inventory (-i), the agent groups"),
            ("alert-rules.yml", {}, None, "matches rollout_prometheus: check the inventory (-i), the group rollout_prometheus")):
        result = run_playbook(playbook, inventory, extra_vars, limit=limit)
        text = " ".join(result.output.split())
        assert result.rc != 0 and "no host of the inventory (%s) %s" % (inventory, said) in text, (playbook, text[-1500:])
        assert "Nothing was done." in text
    assert [ledger(host)["history"] for host in HOSTS] == before


def test_a_host_that_cannot_be_reached_stops_every_host_before_any_change_and_is_in_the_status_report(inventory, tmp_path):
    gone = PREFIX + "-gone"  # no such container: the docker connection cannot reach it

    def add_gone_host(doc):
        doc["all"]["hosts"][gone] = {"ansible_connection": "docker", "ansible_python_interpreter": "/usr/bin/python3"}
        doc["all"]["children"]["rollout_targets"]["hosts"][gone] = {}
    before = ([ledger(host)["history"] for host in HOSTS], live())
    result = run_playbook("blue-green-deploy.yml", edited_inventory(inventory, str(tmp_path / "gone.json"), add_gone_host),
                          dict(WAVES, target_version="1.2.0"))
    assert result.rc != 0
    summary = result.output[result.output.index("nextgen.rollout release summary"):].splitlines()
    rows = dict((line.split()[0], " ".join(line.split()[1:])) for line in summary[3:] if line.split())
    assert rows[gone].startswith("- unreachable") and "No such container: %s" % gone in rows[gone], summary
    for host in HOSTS:
        assert rows[host].startswith("blue-green refused 1.2.0 no stopped before any change: another host"), summary
    assert "not reached (nothing was done there): %s (Error response from daemon: No such container: %s)" % (
        gone, gone) in summary
    assert any(line.startswith("what to do: check that Ansible reaches %s as the playbook does" % gone) for line in summary), summary
    assert ([ledger(host)["history"] for host in HOSTS], live()) == before

    # A status run where no host answers still writes its report, with the host and why.
    def only_gone_host(doc):
        add_gone_host(doc)
        doc["all"]["children"]["rollout_targets"]["hosts"] = {gone: {}}
    status_dir = str(tmp_path / "status")
    result = run_playbook("status.yml", edited_inventory(inventory, str(tmp_path / "only-gone.json"), only_gone_host),
                          {"rollout_status_dir": status_dir})
    assert result.rc != 0
    with open(os.path.join(status_dir, "fleet-status.json")) as handle:
        report = json.load(handle)
    assert [(row["host"], row["error"]) for row in report["hosts"]] == [(gone, "did not report: unreachable or failed")], report
    assert (report["done"], report["total"]) == (0, 1)


def test_the_fleet_status_shows_every_host_in_a_table_and_a_dashboard(inventory, tmp_path):
    status_dir = str(tmp_path / "status")
    result = run_playbook("status.yml", inventory, dict(WAVES, rollout_status_dir=status_dir))
    assert result.rc == 0, result.output[-3000:]
    said = " ".join(result.output.split())
    for host in HOSTS:
        assert "%s agent-loop 1.0.0" % host in said, said[-3000:]
    with open(os.path.join(status_dir, "fleet-status.json")) as handle:
        report = json.load(handle)
    # The newest version released (1.2.0, taken back everywhere by rollback_all) is where the fleet was going.
    assert (report["newest_version"], report["done"], report["total"]) == ("1.2.0", 0, 3)
    assert "0 of 3 hosts serve 1.2.0; wave 0: 0/1, wave 1: 0/2" in said
    assert sorted(row["host"] for row in report["hosts"]) == HOSTS
    assert report["dora"]["releases"] >= 4 and report["dora"]["failed_changes"] >= 1
    # Every host is back on 1.0.0 by a rollback: a rollback without a version would move none of them.
    assert [(row["rollback"]["version"], row["rollback"]["moves"]) for row in report["hosts"]] == [("1.0.0", False)] * 3
    # Opened in a real browser: it renders, and its host table lists every host with its version.
    dom = rendered_dom(os.path.join(status_dir, "fleet-status.html"))
    table = dom[dom.index('id="hosts"'):dom.index("</table>", dom.index('id="hosts"'))]
    for host in HOSTS:
        row = table[table.index(host):table.index("</tr>", table.index(host))]
        assert "<td>1.0.0</td>" in row, row
    size = screenshot(os.path.join(status_dir, "fleet-status.html"),
                      os.path.join(ROOT, "build", "test-artifacts", "fleet-status.png"))
    assert size > 10000


def test_the_fleet_status_within_a_limit_from_a_file_reports_those_hosts(inventory, tmp_path):
    limit_file = tmp_path / "hosts.txt"
    limit_file.write_text("%s\n%s\n" % (HOSTS[0], HOSTS[2]))
    status_dir = str(tmp_path / "status")
    result = run_playbook("status.yml", inventory, dict(WAVES, rollout_status_dir=status_dir), limit="@%s" % limit_file)
    assert result.rc == 0, result.output[-3000:]
    with open(os.path.join(status_dir, "fleet-status.json")) as handle:
        report = json.load(handle)
    assert [row["host"] for row in report["hosts"]] == [HOSTS[0], HOSTS[2]]
    assert HOSTS[1] not in result.output


def test_a_deploy_freeze_refuses_new_versions_on_every_host_and_lets_rollbacks_through_until_lifted(inventory, tmp_path):
    assert run_playbook("blue-green-deploy.yml", inventory, dict(WAVES, target_version="1.1.0")).rc == 0
    assert live() == ["1.1.0"] * 3
    wrong = run_playbook("freeze.yml", inventory, {"freeze_action": "unfreeze"})
    assert wrong.rc != 0 and "freeze_action is 'unfreeze': use freeze (the default) or lift. Nothing was changed." in wrong.output
    receiver = Receiver()
    hooked = with_webhook(inventory, tmp_path, receiver.url)
    try:
        frozen = run_playbook("freeze.yml", hooked, {"freeze_reason": "incident 42", "freeze_hours": 2})
    finally:
        receiver.close()
    assert frozen.rc == 0, frozen.output[-3000:]
    # The on-call channel hears it, with the reason.
    (told,) = receiver.received
    assert (told["event"], told["hosts"], told["action"]) == ("frozen", HOSTS, "freeze"), told
    assert all("are frozen: incident 42 (until " in result["message"] for result in told["results"].values()), told
    assert [ledger(host)["freeze"]["reason"] for host in HOSTS] == ["incident 42"] * 3
    histories = [ledger(host)["history"] for host in HOSTS]
    refused = run_playbook("blue-green-deploy.yml", inventory, dict(WAVES, target_version="1.2.0"))
    assert refused.rc != 0
    said = " ".join(refused.output.split())
    assert "deploys of agent-loop are frozen on %s since " % HOSTS[0] in said, said[-3000:]
    assert (", until %s" % ledger(HOSTS[0])["freeze"]["until"][:10]) in said
    assert (": incident 42. A deploy or a canary waits until the freeze is lifted (ansible-playbook playbooks/freeze.yml -e "
            "freeze_action=lift, with the same hosts), or goes ahead with -e freeze_override='<why it cannot wait>' (kept in the "
            "ledger); rollbacks, restores and canary aborts still run. Nothing was changed.") in said
    assert [ledger(host)["history"] for host in HOSTS] == histories and live() == ["1.1.0"] * 3
    status_dir = str(tmp_path / "status")
    status = run_playbook("status.yml", inventory, dict(WAVES, rollout_status_dir=status_dir))
    assert status.rc == 0, status.output[-3000:]
    with open(os.path.join(status_dir, "fleet-status.json")) as handle:
        assert json.load(handle)["frozen"] == HOSTS
    table = status.output[status.output.index("nextgen.rollout status summary"):]
    assert table.count("consistent; deploys frozen: incident 42") == 3, table
    # A fix that cannot wait goes through on one host, saying why; the freeze stays for every other run.
    hotfix = run_playbook("blue-green-deploy.yml", inventory, dict(WAVES, target_version="1.0.0", rollout_hosts=HOSTS[0],
                                                                   freeze_override="hotfix INC-43"))
    assert hotfix.rc == 0, hotfix.output[-3000:]
    assert "This run goes ahead: hotfix INC-43 (freeze_override)" in " ".join(hotfix.output.split())
    release = ledger(HOSTS[0])["history"][-1]
    assert (release["action"], release["version"], release["details"]["freeze_override"]["reason"],
            release["details"]["freeze_override"]["freeze"]["reason"]) == ("deploy", "1.0.0", "hotfix INC-43", "incident 42")
    assert [ledger(host)["freeze"]["reason"] for host in HOSTS] == ["incident 42"] * 3
    # An emergency path never waits for a freeze.
    back = run_playbook("rollback.yml", inventory, {"target_version": "1.0.0"})
    assert back.rc == 0 and live() == ["1.0.0"] * 3, back.output[-3000:]
    receiver = Receiver()
    hooked = with_webhook(inventory, tmp_path, receiver.url)
    try:
        lifted = run_playbook("freeze.yml", hooked, {"freeze_action": "lift"})
        again = run_playbook("freeze.yml", hooked, {"freeze_action": "lift"})
    finally:
        receiver.close()
    assert lifted.rc == 0 and [ledger(host).get("freeze") for host in HOSTS] == [None] * 3, lifted.output[-3000:]
    assert [ledger(host)["history"][-1]["action"] for host in HOSTS] == ["unfreeze"] * 3
    assert again.rc == 0 and again.output.count("were not frozen: nothing to lift") >= 3, again.output[-3000:]
    assert [(doc["event"], doc["hosts"]) for doc in receiver.received] == [("unfrozen", HOSTS), ("nothing_to_do", HOSTS)]


def fleet_canary_under_load(inventory, rate_per_s, **overrides):
    """A canary of 1.1.0 across the three hosts (canary_scope fleet, the fast canary profile), under a load
    with varied client keys on each host. Returns the run's result and the loads, stopped."""
    with open(os.path.join(os.path.dirname(__file__), "files", "canary-fast.yml")) as handle:
        profile = yaml.safe_load(handle)
    profile.update(WAVES, rollout_pilot_count=0, rollout_strategy="canary", rollout_canary_scope="fleet",
                   target_version="1.1.0", **overrides)
    running = [Load("http://127.0.0.1:%d/" % (BASE_PORT + i + 1), rate_per_s=rate_per_s, max_requests=20000, max_seconds=240,
                    key_header="X-Client-Id").start() for i in range(len(HOSTS))]
    try:
        return run_playbook("blue-green-deploy.yml", inventory, profile), running
    finally:
        for load in running:
            load.stop()


def test_one_canary_across_the_wave_aborts_a_bad_candidate_on_every_host_within_its_step(inventory):
    """canary_scope fleet: the three hosts move together, the candidate (20 % errors everywhere) is judged
    on the wave's counts together, and every host is back at share 0 together, in the step where the rule fired."""
    assert live() == ["1.0.0"] * 3
    result, unused_loads = fleet_canary_under_load(inventory, 60, rollout_env={"FAULT_ERROR_RATE": "0.2"}, canary_rate_window=4)
    os.makedirs(os.path.join(ROOT, "build", "test-artifacts"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "test-artifacts", "fleet-canary.log"), "w") as handle:
        handle.write(result.output)
    assert result.rc != 0
    said = " ".join(result.output.split())
    assert "10 % - interval 1, 3 host(s): candidate" in said and "; rates over the last 4.0 s -> " in said, said[-3000:]
    assert said.count("the analysis at 10 % says rollback") >= 3, said[-3000:]
    steps = [[e for e in ledger(host)["history"] if e["action"] == "canary-step"][-1] for host in HOSTS]
    ends = [[e for e in ledger(host)["history"] if e["action"] == "canary"][-1] for host in HOSTS]
    assert [(s["share"], s["result"], s["version"]) for s in steps] == [(10, "rollback", "1.1.0")] * 3
    # Each sample's rates covered two 2 s intervals (canary_rate_window), as the ledger says.
    assert [s["details"]["rate_window_s"] for s in steps] == [4.0] * 3
    assert [e["result"] for e in ends] == ["aborted"] * 3 and live() == ["1.0.0"] * 3
    # One verdict for the wave, with every host's own figures beside the wave's.
    figures = steps[0]["details"]["figures"]
    assert sorted(steps[0]["details"]["per_host"]) == HOSTS and figures["candidate"]["errors_5xx"] > 0
    assert figures["candidate"]["requests"] == sum(
        steps[0]["details"]["per_host"][host]["candidate"]["requests"] for host in HOSTS)
    started = min(float(s["details"]["started_at"]) for s in steps)
    zeros = [float(e["details"]["share_zero_at"]) for e in ends]
    fleet_abort_s = max(zeros) - started
    print("fleet canary: verdict after %.0f s of analysis; first step start -> share 0 on all %d hosts %.1f s (hosts %.1f s apart);"
          " candidate requests %d in total" % (steps[0]["details"]["elapsed_s"], len(HOSTS), fleet_abort_s,
                                               max(zeros) - min(zeros), figures["candidate"]["requests"]))
    # The verdict came once the rule's 4 s window was full (within one 2 s interval of it), every host
    # reached share 0 within one interval + 5 s of the others, and no host moved on to the next step
    # (50 %) while the wave was judged. How long it takes is measured by make bench-fleet, not here.
    assert steps[0]["details"]["elapsed_s"] <= 4 + 2 * 2
    assert max(zeros) - min(zeros) <= 2 + 5, zeros
    assert "+ 50 % to green" not in said and "+ 10 % to green/1.1.0" in said, said[-3000:]
    assert all(zero >= float(s["details"]["started_at"]) for zero, s in zip(zeros, steps))


def test_a_host_whose_candidate_never_gets_ready_takes_the_wave_canary_back_within_one_interval(inventory, tmp_path):
    """canary_scope fleet: the third host's candidate never gets ready, so it leaves the canary before
    its first step; the wave would fail (0 % of it may), so the two others go back to share 0 at the end
    of the first interval instead of walking every step and being taken back after the wave."""
    assert live() == ["1.0.0"] * 3
    result, running = fleet_canary_under_load(with_faulty_host(inventory, tmp_path, HOSTS[2]), 30)
    said = " ".join(result.output.split())
    assert result.rc != 0
    left = "%s left the canary (1 of 3 hosts, 33.3 %%, above the 0 %% of a wave that may fail)" % HOSTS[2]
    assert "10 % - interval 1, 2 host(s): candidate" in said and "-> rollback: " + left in said, said[-3000:]
    steps = [[e for e in ledger(host)["history"] if e["action"] == "canary-step"][-1] for host in HOSTS[:2]]
    assert [(s["share"], s["result"], s["version"]) for s in steps] == [(10, "rollback", "1.1.0")] * 2
    assert all(s["reasons"][0].startswith(left) for s in steps) and steps[0]["details"]["elapsed_s"] == 2.0
    ends = [[e for e in ledger(host)["history"] if e["action"] == "canary"][-1] for host in HOSTS]
    assert [e["result"] for e in ends] == ["aborted"] * 3 and live() == ["1.0.0"] * 3
    assert "not healthy within 8 s" in ends[2]["message"] or "not ready" in ends[2]["message"], ends[2]
    assert "+ 50 % to green" not in said, said[-3000:]
    assert sum(load.summary()["failed"] for load in running) == 0
