import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._decision import (
    PolicyError, decide, effective_policy, seconds)


def series(metric, values, step=60, **extra):
    return [dict({"t": i * step, metric: v}, **extra) for i, v in enumerate(values)]


def test_default_policy_is_the_seeds():
    rules = effective_policy()["rules"]
    assert (rules["error_rate"]["threshold"], rules["error_rate"]["for_s"]) == (0.01, 120)
    assert (rules["latency_p95"]["threshold"], rules["latency_p95"]["for_s"]) == (5.0, 60)
    assert (rules["health_failures"]["threshold"], rules["health_failures"]["for_s"]) == (3, 0)
    assert (rules["memory"]["threshold"], rules["memory"]["for_s"]) == (95, 60)


def test_error_rate_fires_only_after_its_for_window():
    assert decide(series("error_rate", [0.05, 0.05]))["decision"] == "hold"  # held 60 s of 120
    verdict = decide(series("error_rate", [0.05, 0.05, 0.05]))
    assert verdict["decision"] == "rollback"
    assert verdict["rules"]["error_rate"]["state"] == "firing" and verdict["rules"]["error_rate"]["held_s"] == 120
    assert verdict["reasons"][0].startswith("error_rate: error_rate = 0.05 > 0.01 for 120 s")


def test_a_dip_resets_the_window():
    verdict = decide(series("error_rate", [0.05, 0.05, 0.0, 0.05, 0.05]))
    assert verdict["decision"] == "hold" and verdict["rules"]["error_rate"]["held_s"] == 60


def test_a_gap_is_bridged_by_the_last_value_within_the_lookback_as_prometheus_does():
    verdict = decide(series("error_rate", [0.05, None, 0.05]))
    assert verdict["decision"] == "rollback" and verdict["rules"]["error_rate"]["held_s"] == 120
    # Six minutes without a value: past Prometheus's 5-minute lookback, the window starts again.
    verdict = decide(series("error_rate", [0.05] + [None] * 6 + [0.05, 0.05]))
    assert verdict["decision"] == "hold" and verdict["rules"]["error_rate"]["held_s"] == 60


def test_with_no_lookback_a_gap_resets_the_window():
    assert decide(series("error_rate", [0.05, None, 0.05, 0.05]), {"lookback_s": 0})["decision"] == "hold"
    assert decide(series("error_rate", [None, None]))["decision"] == "promote"  # never seen: no alert


def test_health_failures_fire_at_once_above_three():
    assert decide(series("health_failures", [0, 1, 2, 3]))["decision"] == "promote"
    assert decide(series("health_failures", [0, 1, 2, 3, 4]))["decision"] == "rollback"


def test_memory_and_latency_rules():
    assert decide(series("memory_pct", [96, 97]))["decision"] == "rollback"
    assert decide(series("p95_s", [6, 6], step=30))["decision"] == "hold"
    assert decide(series("p95_s", [6, 6, 6], step=30))["decision"] == "rollback"


def test_every_rule_and_duration_can_change():
    policy = {"rules": {"error_rate": {"threshold": 0.1, "for": "30s"}, "memory": None,
                        "custom": {"metric": "queue", "op": ">=", "threshold": 100, "for": "1m30s"}}}
    assert decide(series("error_rate", [0.05] * 5, step=10), policy)["decision"] == "promote"
    assert decide(series("error_rate", [0.2] * 4, step=10), policy)["decision"] == "rollback"
    assert decide(series("memory_pct", [99] * 5), policy)["decision"] == "promote"
    assert decide(series("queue", [100] * 4, step=30), policy)["decision"] == "rollback"
    assert "memory" not in decide([], policy)["rules"]


def test_too_few_requests_is_inconclusive_never_a_pass():
    verdict = decide(series("error_rate", [0.0, 0.0], requests=10), {"min_requests": 50})
    assert verdict["decision"] == "hold" and verdict["inconclusive"]
    assert "inconclusive: 20 requests, the policy needs 50" in verdict["reasons"]
    assert decide(series("error_rate", [0.0] * 5, requests=10), {"min_requests": 50})["decision"] == "promote"
    assert decide([], {"min_requests": 1})["decision"] == "hold"


def test_a_judge_keeps_an_insignificant_breach_pending():
    policy = {"rules": {"lat": {"metric": "p95_excess_s", "op": ">", "threshold": 0.1, "judge": "latency"}}}
    samples = series("p95_excess_s", [0.3])
    assert decide(samples, policy, {"alpha": 0.01, "latency": 1e-9, "errors": None})["decision"] == "rollback"
    verdict = decide(samples, policy, {"alpha": 0.01, "latency": 0.2, "errors": None})
    assert verdict["decision"] == "hold" and "not significant (p=0.2" in verdict["reasons"][0]


@pytest.mark.parametrize("policy,message", [
    ({"rules": {"x": {"metric": "m", "op": ">"}}}, "rule x lacks threshold"),
    ({"rules": {"x": {"metric": "m", "op": "=>", "threshold": 1}}}, "operator '=>'"),
    ({"rules": {"x": {"metric": "m", "op": ">", "threshold": "high"}}}, "threshold 'high' is not a number"),
    ({"rules": {"error_rate": {"for": "2 minutes"}}}, "'2 minutes' is not a duration"),
    ({"rules": {"error_rate": {"judge": "vibes"}}}, "judge 'vibes'"),
    ({"thresholds": {}}, "unknown policy keys: thresholds"),
])
def test_bad_policies_are_refused_with_the_reason(policy, message):
    with pytest.raises(PolicyError, match=message):
        effective_policy(policy)


def test_durations():
    assert seconds("2m") == 120 and seconds("1m30s") == 90 and seconds("500ms") == 0.5 and seconds(15) == 15
