import datetime

from ansible_collections.nextgen.rollout.plugins.module_utils._host_check import missing_files
from ansible_collections.nextgen.rollout.plugins.module_utils._prechecks import freeze_problem, release_problems, settings_problems

READY_HOST = {"memory_available_mb": 2000, "disk": {"path": "/var/lib/docker", "free_mb": 20000}, "nginx_state": "active",
              "nginx_config": {"tested": True, "ok": True, "error": ""}, "port_holders": {"blue": "", "green": ""},
              "volume_changes": [], "missing_files": []}
LEDGER = {"live_version": "1.0.0", "live_colour": "green", "idle_colour": "blue"}
ADDRESS = {"problems": [], "tls_files": {}}


def problems(host=None, version="1.1.0", action="deploy", ledger=None, address=None, memory=128, disk=1024):
    return release_problems(dict(READY_HOST, **(host or {})), version, "web-1", "shop", action, dict(LEDGER, **(ledger or {})),
                            {"blue": 8001, "green": 8002}, dict(ADDRESS, **(address or {})), memory, disk)


def test_a_ready_host_has_no_problem():
    assert problems() == []


def test_every_problem_is_named_at_once_each_a_sentence():
    found = problems(host={"memory_available_mb": 50, "nginx_state": "inactive",
                           "nginx_config": {"tested": True, "ok": False, "error": 'unknown directive "x" in /etc/nginx/conf.d/o.conf:1'},
                           "port_holders": {"blue": "python3 (pid 77)", "green": ""}},
                     version="-bad", address={"problems": ["rollout_server_name (nginx_server_name) 'a;b' is not a host name"]})
    assert len(found) == 6 and all(problem.endswith(".") and not problem.endswith("..") for problem in found), found
    assert [problem[:4] for problem in found] == ["(1) ", "(2) ", "(3) ", "(4) ", "(5) ", "(6) "]
    assert found[0].startswith("(1) version '-bad' is not a valid image tag")
    assert found[1] == "(2) rollout_server_name (nginx_server_name) 'a;b' is not a host name."
    assert found[2].startswith("(3) not enough room on web-1: 50 MB memory available (need 128), 20000 MB free on the filesystem of "
                               "/var/lib/docker (need 1024)")
    assert found[3].startswith("(4) nginx is inactive on web-1 although shop 1.0.0 is live behind it")
    assert found[4].startswith('(5) nginx rejects its config on web-1 as it is now, before any change (unknown directive "x" in ')
    assert found[5].startswith("(6) port 8001 of the blue colour of shop, where -bad would start, is held on web-1 by python3 (pid 77)")


def test_a_stopped_nginx_matters_only_when_a_version_is_live_and_a_broken_config_only_to_a_deploy():
    stopped_and_broken = {"nginx_state": "failed", "nginx_config": {"tested": True, "ok": False, "error": "e"}}
    assert [p[:20] for p in problems(host=stopped_and_broken, ledger={"live_colour": None, "live_version": None})] == ["nginx rejects its co"]
    assert [p[:20] for p in problems(host=stopped_and_broken, action="rollback")] == ["nginx is failed on w"]


def test_a_changed_volume_is_named_with_what_to_do():
    found = problems(host={"volume_changes": ["volume shop_data was made with driver local and no options, and ..."]})
    assert len(found) == 1 and found[0].startswith("volume shop_data was made with driver local and no options, and ..., on web-1: "
                                                   "docker never changes a volume once made")


def test_tls_files_go_together_and_must_be_on_the_host():
    half = problems(address={"tls_files": {"rollout_tls_certificate": "/etc/tls/a.crt", "rollout_tls_key": ""}})
    assert half == ["rollout_tls_certificate (/etc/tls/a.crt) and rollout_tls_key (empty) go together: give both paths, or neither."]
    both = {"rollout_tls_certificate": "/etc/tls/a.crt", "rollout_tls_key": "/etc/tls/a.key"}
    assert problems(address={"tls_files": both}) == []
    missing = problems(address={"tls_files": both}, host={"missing_files": ["/etc/tls/a.key"]})
    assert missing == ["rollout_tls_key = /etc/tls/a.key does not exist on web-1; put the certificate and the key there first "
                       "(for example with community.crypto), or leave both unset."]


def test_missing_files_are_those_that_do_not_exist(tmp_path):
    (tmp_path / "a.crt").write_text("x")
    assert missing_files([str(tmp_path / "a.crt"), str(tmp_path / "a.key")]) == [str(tmp_path / "a.key")]


def test_settings_that_can_be_right_have_no_problem():
    assert settings_problems("canary", "resume", {}, 180, 10, {"rules": {"error_rate": {"for": "4s"}}}) == []
    assert settings_problems("blue-green", "start", {"rate_per_min": 600, "duration": 5}, 0, 10, {}, "checks.yml",
                             {"found": True, "tried": ["/p/checks.yml"]}) == []


def test_every_bad_setting_is_named_at_once():
    found = settings_problems("blue-grean", "start", {"rate": 500}, 60, 0, {"rules": {"mine": {"op": "?"}}}, "checks.yml",
                              {"found": False, "tried": ["/p/checks.yml", "/cwd/checks.yml"]})
    assert found == [
        "(1) rollout_strategy blue-grean / canary_action start is unknown: use blue-green (the default) or canary, and canary_action "
        "start (the default), resume or abort.",
        "(2) unknown staging gate keys rate (expected duration, endpoints, max_error_rate, max_p95_ms, rate_per_min, timeout, workers).",
        "(3) rollout_guard_interval is 0: use more than 0 s.",
        "(4) rollout_guard_policy: rule mine lacks metric, threshold.",
        "(5) rollout_after_switch_tasks checks.yml is not a file on the controller (looked for /p/checks.yml and /cwd/checks.yml): give "
        "an absolute path, or one relative to the playbook's directory or to the directory ansible-playbook runs from."]


def test_the_guard_policy_is_judged_only_when_there_is_a_guard():
    assert settings_problems("blue-green", "start", {}, 0, 10, {"unknown": 1}) == []
    assert settings_problems("blue-green", "start", {}, -1, 10, {"unknown": 1}) == [
        "rollout_guard_window is -1: use 0 (no guard) or more seconds."]
    assert settings_problems("blue-green", "start", {}, "soon", 10, {}) == ["rollout_guard_window is soon: use 0 (no guard) or more seconds."]


def test_the_guard_reports_every_zero_or_more_seconds():
    assert settings_problems("blue-green", "start", {}, 180, 10, {}, guard_report_every=0) == []
    assert settings_problems("blue-green", "start", {}, 180, 10, {}, guard_report_every="30") == []
    assert settings_problems("blue-green", "start", {}, 180, 10, {}, guard_report_every=-5) == [
        "rollout_guard_report_every is -5: use 0 (figures when the guard ends) or the seconds between them."]


def test_a_release_command_of_the_wrong_shape_and_its_timeout_are_named_with_the_other_settings():
    assert settings_problems("blue-green", "start", {}, 0, 10, {}, release_command=["python3", "manage.py", "migrate"]) == []
    assert settings_problems("blue-grean", "start", {}, 0, 10, {}, release_command=["migrate", 2], release_command_timeout=0) == [
        "(1) rollout_strategy blue-grean / canary_action start is unknown: use blue-green (the default) or canary, and canary_action "
        "start (the default), resume or abort.",
        "(2) rollout_release_command is ['migrate', 2]: give a command line (a string) or its arguments (a list of non-empty strings), "
        "such as [python3, manage.py, migrate]; '' for none.",
        "(3) rollout_release_command_timeout is 0: use more than 0 s."]


def test_a_freeze_that_holds_says_who_why_until_when_and_how_to_go_on():
    now = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.timezone.utc)
    freeze = {"reason": "incident 42", "by": "alice-7", "since": "2026-12-07T10:02:00.000000Z", "until": "2026-12-07T22:00:00.000000Z"}
    assert freeze_problem(freeze, "shop", "web-1", now) == (
        "deploys of shop are frozen on web-1 since 2026-12-07 10:02:00 UTC by alice-7, until 2026-12-07 22:00:00 UTC: incident 42. A deploy "
        "or a canary waits until the freeze is lifted (ansible-playbook playbooks/freeze.yml -e freeze_action=lift, with the same "
        "hosts), or goes ahead with -e freeze_override='<why it cannot wait>' (kept in the ledger); rollbacks, restores and canary "
        "aborts still run")
    assert ", until" not in freeze_problem(dict(freeze, until=None), "shop", "web-1", now)
    assert freeze_problem(dict(freeze, until="2026-12-07T11:59:59.000000Z"), "shop", "web-1", now) == ""
    assert freeze_problem(None, "shop", "web-1", now) == ""
