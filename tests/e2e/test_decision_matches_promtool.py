"""rollback_decision agrees with Prometheus's own alert evaluation (promtool test rules).

Many random series are generated for the four metrics of the default policy, with values on both
sides of each threshold and exactly on it, and gaps (no sample, promtool's ``_``) both shorter and
longer than Prometheus's 5-minute lookback. For each series our filter says which rules fire at a
random evaluation time; a promtool test expecting exactly those alerts must pass.
"""
import random
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.nextgen.rollout.plugins.filter.canary import rollback_decision
from ansible_collections.nextgen.rollout.plugins.module_utils._decision import effective_policy

STEP_S = 15
SERIES = 120
VALUES = {
    "error_rate": [0.0, 0.004, 0.01, 0.02, 0.3],
    "p95_s": [0.1, 2.0, 5.0, 5.5, 9.0],
    "health_failures": [0, 1, 3, 4, 7],
    "memory_pct": [20.0, 80.0, 95.0, 95.5, 99.0],
}
POLICIES = [None, {"rules": {"error_rate": {"for": "45s", "op": ">=", "threshold": 0.02},
                             "health_failures": {"for": "30s"}, "memory": {"for": "0s", "op": ">="}}}]


def prom_duration(seconds):
    return "%ds" % int(seconds)


def rules_file(policy):
    rules = effective_policy(policy)["rules"]
    return {"groups": [{"name": "rollout", "rules": [
        {"alert": name, "expr": "%s %s %s" % (rule["metric"], rule["op"], rule["threshold"]),
         "for": prom_duration(rule["for_s"])} for name, rule in sorted(rules.items())]}]}


GAP_STEPS = [1, 2, 4, 19, 21, 26]  # 15 s steps: gaps within and past the 300 s lookback


def random_values(rng, metric, length):
    values, current, gap = [], rng.choice(VALUES[metric]), 0
    for _step in range(length):
        if rng.random() < 0.3:  # runs, so that for-windows get reached and broken
            current = rng.choice(VALUES[metric])
        if not gap and rng.random() < 0.08:
            gap = rng.choice(GAP_STEPS)
        values.append(None if gap else current)
        gap = max(gap - 1, 0)
    return values


def promtool_values(values):
    return " ".join("_" if value is None else str(value) for value in values)


@pytest.mark.parametrize("policy_index", range(len(POLICIES)))
def test_rollback_decision_agrees_with_promtool(tmp_path, policy_index):
    assert shutil.which("promtool"), "promtool is missing (Debian package prometheus): run make setup"
    policy = POLICIES[policy_index]
    rng = random.Random(20261121 + policy_index)
    rule_names = sorted(effective_policy(policy)["rules"])
    tests, firing_total = [], 0
    for index in range(SERIES):
        length = rng.randint(2, 48)
        values = dict((metric, random_values(rng, metric, length)) for metric in VALUES)
        at = rng.randint(0, length - 1)
        samples = [dict({"t": i * STEP_S}, **dict((m, values[m][i]) for m in VALUES if values[m][i] is not None))
                   for i in range(at + 1)]
        verdict = rollback_decision(samples, policy)
        firing = [name for name in rule_names if verdict["rules"][name]["state"] == "firing"]
        firing_total += len(firing)
        assert verdict["decision"] == ("rollback" if firing else verdict["decision"])
        tests.append({
            "interval": prom_duration(STEP_S),
            "input_series": [{"series": '%s{series="%d"}' % (metric, index),
                              "values": promtool_values(values[metric])} for metric in VALUES],
            "alert_rule_test": [{"eval_time": prom_duration(at * STEP_S), "alertname": name,
                                 "exp_alerts": [{"exp_labels": {"series": str(index)}}] if name in firing else []}
                                for name in rule_names],
        })
    assert firing_total > SERIES // 4, "the generated series must make rules fire often enough to compare"
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules_file(policy)))
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": ["rules.yml"],
                                                        "evaluation_interval": prom_duration(STEP_S),
                                                        "tests": tests}))
    result = subprocess.run(["promtool", "test", "rules", "tests.yml"], cwd=str(tmp_path), capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "SUCCESS" in result.stdout + result.stderr
