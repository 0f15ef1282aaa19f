"""The release alert rules pass promtool's checks, and each fires when it should and not before."""
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.nextgen.rollout.plugins.module_utils._alert_rules import (
    AlertRulesError, release_alert_rules)

LABELS = {"severity": "critical", "host": "app-01", "service": "svc", "version": "1.4.2"}
INSTANCE = 'instance="app-01:8080"'
NODE = 'instance="app-01:9100"'


def promtool(tmp_path, *args):
    assert shutil.which("promtool"), "promtool is missing (Debian package prometheus): run make setup"
    return subprocess.run(["promtool"] + list(args), cwd=str(tmp_path), capture_output=True, text=True, check=False)


def write_rules(tmp_path, **kwargs):
    made = release_alert_rules("svc", "app-01", memory_limit_bytes=1000000000, **kwargs)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(made["rules"]))
    return made


def expect(alert, at, labels=None, summary=None, description=None):
    annotations = dict((key, value) for key, value in (("summary", summary), ("description", description)) if value)
    return {"eval_time": at, "alertname": alert,
            "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}] if labels is not None else []}


def test_the_rules_pass_promtool_check(tmp_path):
    made = write_rules(tmp_path)
    result = promtool(tmp_path, "check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout
    assert made["skipped"] == []


def test_each_rule_fires_when_it_should_and_not_before(tmp_path):
    write_rules(tmp_path)
    # Samples every 15 s; the service's own series, and node_exporter's (the ledger's textfile).
    series = [
        # 2 % of requests fail from the start: the error rule (for 2m) fires after two minutes.
        {"series": 'http_requests_total{service="svc",%s,status="200"}' % INSTANCE, "values": "0+245x80"},
        {"series": 'http_requests_total{service="svc",%s,status="500"}' % INSTANCE, "values": "0+5x80"},
        # Every request takes more than 5 s (the buckets up to 5 s stay empty): p95 > 5 s for 1m.
        {"series": 'http_request_duration_seconds_bucket{service="svc",%s,le="5"}' % INSTANCE, "values": "0x80"},
        {"series": 'http_request_duration_seconds_bucket{service="svc",%s,le="10"}' % INSTANCE, "values": "0+25x80"},
        {"series": 'http_request_duration_seconds_bucket{service="svc",%s,le="+Inf"}' % INSTANCE,
         "values": "0+25x80"},
        # 96 % of the 1 GB limit from 2m15s on: memory > 95 % for 1m.
        {"series": 'process_resident_memory_bytes{service="svc",%s}' % INSTANCE, "values": "500000000x8 960000000x72"},
        # Down from 2m: more than 3 failed checks in a row once it has been down 45 s.
        {"series": 'up{service="svc",%s}' % INSTANCE, "values": "1x7 0x72"},
        {"series": 'deployment_failures_total{service="svc",%s,version="1.5.0"}' % NODE, "values": "0x4 1x75"},
        # Another host's failures are not this host's.
        {"series": 'deployment_failures_total{service="svc",instance="app-02:9100",version="1.6.0"}',
         "values": "0x4 1x75"},
        {"series": 'nextgen_release_live_info{service="svc",%s,version="1.4.2",colour="blue"}' % NODE,
         "values": "1x80"},
    ]
    tests = [{"interval": "15s", "input_series": series, "alert_rule_test": [
        expect("NextgenErrorRateAfterRelease", "1m45s"),
        expect("NextgenErrorRateAfterRelease", "3m", dict(LABELS, rule="error_rate"),
               "error rate above 1 % for 2 minutes"),
        expect("NextgenLatencyP95AfterRelease", "45s"),
        expect("NextgenLatencyP95AfterRelease", "2m", dict(LABELS, rule="latency_p95"),
               "p95 latency above 5 s for 1 minute"),
        expect("NextgenMemoryAfterRelease", "3m"),
        expect("NextgenMemoryAfterRelease", "3m15s", dict(LABELS, rule="memory"), "memory above 95 % for 1 minute"),
        expect("NextgenHealthFailuresAfterRelease", "2m30s"),
        expect("NextgenHealthFailuresAfterRelease", "2m45s", dict(LABELS, rule="health_failures", instance="app-01:8080"),
               "more than 3 consecutive health-check failures"),
        expect("DeploymentFailed", "45s"),
        expect("DeploymentFailed", "1m15s", {"severity": "critical", "host": "app-01", "service": "svc",
                                             "instance": "app-01:9100", "version": "1.5.0"},
               "Deployment failed", "Deployment 1.5.0 failed"),
        expect("NextgenReleaseInfoMissing", "15m"),
    ]}]
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "15s",
                                                        "tests": tests}))
    result = promtool(tmp_path, "test", "rules", "tests.yml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_the_version_label_follows_the_live_release_and_is_left_out_without_its_info(tmp_path):
    write_rules(tmp_path, policy={"rules": {"health_failures": None, "latency_p95": None, "memory": None}})
    failing = [{"series": 'http_requests_total{service="svc",%s,status="200"}' % INSTANCE, "values": "0+245x80"},
               {"series": 'http_requests_total{service="svc",%s,status="500"}' % INSTANCE, "values": "0+5x80"}]
    # 1.4.2 is live until a rollback to 1.3.0 at 3m15s (node_exporter's series of 1.4.2 goes stale).
    rolled_back = failing + [
        {"series": 'nextgen_release_live_info{service="svc",%s,version="1.4.2"}' % NODE, "values": "1x12 stale"},
        {"series": 'nextgen_release_live_info{service="svc",%s,version="1.3.0"}' % NODE, "values": "_x12 1x67"}]
    error = dict(LABELS, rule="error_rate")
    tests = [
        {"interval": "15s", "input_series": rolled_back, "alert_rule_test": [
            expect("NextgenErrorRateAfterRelease", "3m", error, "error rate above 1 % for 2 minutes"),
            # A new version is a new alert, pending for its own 2 minutes.
            expect("NextgenErrorRateAfterRelease", "4m"),
            expect("NextgenErrorRateAfterRelease", "5m30s", dict(error, version="1.3.0"),
                   "error rate above 1 % for 2 minutes")]},
        {"interval": "15s", "input_series": failing, "alert_rule_test": [
            expect("NextgenErrorRateAfterRelease", "3m", dict((k, v) for k, v in error.items() if k != "version"),
                   "error rate above 1 % for 2 minutes"),
            expect("NextgenReleaseInfoMissing", "11m", {"severity": "warning", "host": "app-01", "service": "svc"},
                   "The alerts of svc on app-01 carry no version: Prometheus does not get the ledger's "
                   "nextgen_release_live_info (node_exporter's textfile collector on the host)")]},
    ]
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "15s",
                                                        "tests": tests}))
    result = promtool(tmp_path, "test", "rules", "tests.yml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_a_new_live_version_is_not_charged_with_the_errors_of_the_one_before_it(tmp_path):
    """A rollback to 1.3.0 at 3m: the 1m rate still holds 1.4.2's errors for a minute; with a 30 s
    rule the alert would fire again, for 1.3.0, and roll back the rollback. It waits the window."""
    write_rules(tmp_path, policy={"rules": {"health_failures": None, "latency_p95": None, "memory": None,
                                            "error_rate": {"for": "30s"}}})
    series = [
        # 10 % errors until 3m, none after (1.3.0 is healthy).
        {"series": 'http_requests_total{service="svc",%s,status="200"}' % INSTANCE, "values": "0+225x12 2700+250x20"},
        {"series": 'http_requests_total{service="svc",%s,status="500"}' % INSTANCE, "values": "0+25x12 300x20"},
        {"series": 'nextgen_release_live_info{service="svc",%s,version="1.4.2"}' % NODE, "values": "1x12 stale"},
        {"series": 'nextgen_release_live_info{service="svc",%s,version="1.3.0"}' % NODE, "values": "_x12 1x20"},
        # 1.4.2 live since 0 s, 1.3.0 since 180 s (the ledger's since, in seconds since the epoch).
        {"series": 'nextgen_release_live_since_seconds{service="svc",%s,version="1.4.2"}' % NODE, "values": "0x12 stale"},
        {"series": 'nextgen_release_live_since_seconds{service="svc",%s,version="1.3.0"}' % NODE,
         "values": "_x12 180x20"},
    ]
    error = dict(LABELS, rule="error_rate")
    tests = [{"interval": "15s", "input_series": series, "alert_rule_test": [
        # 1.4.2 was live for longer than the window: its errors fire the rule.
        expect("NextgenErrorRateAfterRelease", "2m", error, "error rate above 1 % for 2 minutes"),
        # After the switch, the window still holds 1.4.2's errors (5 % at 3m30s): no alert, for either version.
        expect("NextgenErrorRateAfterRelease", "3m30s"),
        expect("NextgenErrorRateAfterRelease", "3m45s"),
        expect("NextgenErrorRateAfterRelease", "4m15s"),
    ]}]
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "15s",
                                                        "tests": tests}))
    result = promtool(tmp_path, "test", "rules", "tests.yml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_a_policy_changes_the_rules_and_canary_only_metrics_are_skipped(tmp_path):
    policy = {"rules": {"error_rate": {"threshold": 0.05, "for": "30s"}, "memory": None,
                        "excess": {"metric": "error_rate_excess", "op": ">", "threshold": 0.01}}}
    made = release_alert_rules("svc", "app-01", policy, selector='job="svc",env="prod"',
                               metrics={"requests": "svc_requests_total", "status_label": "code"})
    rules = dict((rule["alert"], rule) for rule in made["rules"]["groups"][0]["rules"])
    assert made["skipped"] == ["excess"] and "NextgenMemoryAfterRelease" not in rules
    error = rules["NextgenErrorRateAfterRelease"]
    assert error["for"] == "30s" and ") > 0.05) unless on() (time() - max(nextgen_release_live_since_seconds{" in error["expr"]
    assert "< 60)) * on() group_left(version)" in error["expr"]
    assert 'svc_requests_total{job="svc",env="prod",code=~"5.."}' in error["expr"]


def test_host_names_are_matched_literally():
    rules = release_alert_rules("svc", "app-01.example.com")["rules"]["groups"][0]["rules"]
    assert 'instance=~"app-01\\\\.example\\\\.com(:[0-9]+)?"' in rules[-1]["expr"]


@pytest.mark.parametrize("kwargs, message", [
    ({"metrics": {"request": "x"}}, "unknown metrics setting"),
    ({"memory_limit_bytes": -1}, "positive number of bytes"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(AlertRulesError, match=message):
        release_alert_rules("svc", "app-01", **kwargs)
