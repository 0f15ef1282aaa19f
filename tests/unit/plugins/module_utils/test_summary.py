"""The summary a run ends with: one table per report, one readable line per host."""
from ansible_collections.nextgen.rollout.plugins.module_utils._summary import summary_lines


def test_a_release_reads_as_one_line_per_host():
    lines = summary_lines({"_run": {
        "rollout": {"web-2": {"action": "deploy", "wave": 1, "result": "rolled_back", "version": "1.1.0", "from_version": "1.0.0",
                              "traffic_switched": False, "message": "taken back to 1.0.0 after the failed wave"},
                    "web-1": {"action": "deploy", "wave": 0, "result": "succeeded", "version": "1.1.0", "from_version": "1.0.0",
                              "traffic_switched": True, "message": "agent-loop 1.1.0 is live on green"}},
        "notifications": {"sent": ["team"], "unsent": [{"name": "audit", "reason": "connection refused after 0.0 s"}]}}})
    assert lines[1] == "nextgen.rollout release summary"
    assert lines[2].split() == ["host", "action", "wave", "result", "version", "from", "traffic", "moved", "what", "happened"]
    assert lines[4].split()[:7] == ["web-1", "deploy", "0", "succeeded", "1.1.0", "1.0.0", "yes"]
    assert lines[5].split()[:7] == ["web-2", "deploy", "1", "rolled_back", "1.1.0", "1.0.0", "no"]
    assert lines[-1] == "webhooks told: team; not told: audit (connection refused after 0.0 s)"


def test_columns_follow_what_was_reported_and_long_messages_are_cut():
    lines = summary_lines({"backup": {"h": {"result": "failed", "message": "disk full " * 30}}})
    assert lines[2].split() == ["host", "result", "what", "happened"]
    assert lines[4].endswith("...") and len(lines[4]) < 130
    assert summary_lines({}) == [] and summary_lines({"_run": {"decision": {"answer": True}}}) == []


def test_in_check_mode_the_title_says_nothing_was_changed():
    lines = summary_lines({"rollout": {"h": {"result": "succeeded", "traffic_switched": True}}}, check_mode=True)
    assert lines[1] == "nextgen.rollout release summary (check mode: what the run would do; nothing was changed)"


def test_a_host_that_could_not_be_reached_has_its_row_and_its_line():
    lines = summary_lines({"rollout": {"web-1": {"result": "refused", "message": "stopped"}}}, unreachable={
        "web-2": "Task failed: EOF on stream; last 100 lines received:\nError response from daemon: No such container: web-2\n"})
    assert lines[5].split()[:2] == ["web-2", "unreachable"] and lines[5].endswith("No such container: web-2")
    assert lines[-2] == "not reached (nothing was done there): web-2 (Error response from daemon: No such container: web-2)"
    assert lines[-1].startswith("what to do: check that Ansible reaches web-2 as the playbook does (ansible -i INVENTORY HOST -m")
    # Nothing reported at all: the lines still say it.
    assert summary_lines({}, unreachable={"web-3": ""})[:2] == ["", "not reached (nothing was done there): web-3 (unreachable)"]


def test_a_connection_that_failed_during_a_task_says_what_to_do():
    # Mitogen reports a failed step of its connection chain (sudo on the host) as a failed task, not unreachable.
    lines = summary_lines({"rollout": {
        "web-1": {"result": "refused", "message": "Task failed: error occurred on host web-1: Connection timed out."},
        "web-2": {"result": "refused", "message": "the registry answered: connection refused"},
        "web-3": {"result": "succeeded", "message": "agent-loop 1.1.0 is live on green"}}})
    assert lines[-1].startswith("what to do: check that Ansible reaches web-1 as the playbook does") and "timeout" in lines[-1]
    assert not any(line.startswith("what to do") for line in summary_lines({"rollout": {"web-2": {"result": "refused",
                                                                                                  "message": "disk full"}}}))


def test_a_canary_in_the_status_reads_in_a_few_words():
    canary = {"colour": "green", "hash_key": "$http_x_client_id", "share": 20.0, "stable_colour": "blue",
              "stable_version": "2.3.0", "state": "held", "step": 0, "updated": "2026-12-07T23:47:12.891494Z", "version": "2.0.0",
              "steps": [{"hold": True, "pause": 8, "share": 20}, {"pause": 0, "share": 100}]}
    lines = summary_lines({"status": {"web-1": {"live_version": "2.3.0", "warm_version": None, "canary": canary, "drift": [],
                                                "message": "consistent"},
                                      "web-2": {"live_version": "2.3.0", "canary": None, "message": "consistent"}}})
    assert lines[2].split() == ["host", "live", "warm", "canary", "drift", "state"]
    assert lines[4].split("  ")[0] == "web-1" and "2.0.0 at 20 % on green, step 1 of 2, held" in lines[4], lines[4]
    assert "hash_key" not in lines[4] and lines[5].split() == ["web-2", "2.3.0", "-", "-", "-", "consistent"]
