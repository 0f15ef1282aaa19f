# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""promote / hold / rollback from measurements and a policy, evaluated like Prometheus alerts.

Samples are dicts ``{"t": seconds, "<metric>": value, ..., "requests": n}`` in time order, one per
evaluation. A rule ``metric op threshold for D`` is *pending* from the first sample where it
holds, and *firing* once it has held at every sample since for at least D seconds, as the rule
``expr: metric op threshold`` with ``for: D`` does in Prometheus when the samples sit on its
evaluation steps. A missing value is bridged as Prometheus bridges it: the last value within the
policy's ``lookback_s`` (Prometheus's 5-minute lookback delta by default) stands for it, so a gap in
bursty traffic does not reset a window; past that, or before any value, the rule does not hold
(an absent series raises no alert). ``lookback_s: 0`` makes every gap reset the window.

Decision: rollback when a rule fires; hold when a rule is pending or there were fewer requests
than the policy's ``min_requests`` (inconclusive, never a pass); promote otherwise.

A rule may name a statistical judge (``judge: latency`` or ``judge: errors``). When a judgement is
given (one-sided p-values of the candidate being worse, and alpha), such a rule fires only if the
difference is also significant; otherwise it stays pending, and the reason says why.
"""

from __future__ import annotations

import copy
import operator
import re

# The seeds' automatic rollback triggers (seed 002), as defaults every part of which can change.
DEFAULT_RULES = {
    "error_rate": {"metric": "error_rate", "op": ">", "threshold": 0.01, "for": 120,
                   "description": "error rate above 1 % for 2 minutes"},
    "latency_p95": {"metric": "p95_s", "op": ">", "threshold": 5.0, "for": 60,
                    "description": "p95 latency above 5 s for 1 minute"},
    "health_failures": {"metric": "health_failures", "op": ">", "threshold": 3, "for": 0,
                        "description": "more than 3 consecutive health-check failures"},
    "memory": {"metric": "memory_pct", "op": ">", "threshold": 95, "for": 60,
               "description": "memory above 95 % for 1 minute"},
}
# Prometheus's default --query.lookback-delta: how long the last sample of a series stands.
PROMETHEUS_LOOKBACK_S = 300.0
DEFAULT_POLICY = {"rules": DEFAULT_RULES, "min_requests": 0, "lookback_s": PROMETHEUS_LOOKBACK_S}

OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
             "==": operator.eq, "!=": operator.ne}
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class PolicyError(ValueError):
    pass


def seconds(value):
    """A duration as seconds: a number, or Prometheus text such as 2m, 1m30s, 500ms."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise PolicyError("%r is not a duration (use seconds, or e.g. 30s, 2m, 1m30s)" % (value,))
    return sum(float(n) * UNIT_SECONDS[u] for n, u in parts)


def effective_policy(policy=None):
    """The default policy with the given one merged over it, checked. A rule set to None is dropped."""
    merged = copy.deepcopy(DEFAULT_POLICY)
    policy = policy or {}
    unknown = set(policy) - {"rules", "min_requests", "lookback_s"}
    if unknown:
        raise PolicyError("unknown policy keys: %s (expected rules, min_requests, lookback_s)" % ", ".join(sorted(unknown)))
    for name, rule in (policy.get("rules") or {}).items():
        if rule is None or rule is False:
            merged["rules"].pop(name, None)
            continue
        if not isinstance(rule, dict):
            raise PolicyError("rule %s must be a mapping with metric, op, threshold and for" % name)
        merged["rules"][name] = dict(merged["rules"].get(name, {}), **rule)
    if "min_requests" in policy:
        merged["min_requests"] = int(policy["min_requests"])
    if "lookback_s" in policy:
        merged["lookback_s"] = seconds(policy["lookback_s"])
        if merged["lookback_s"] < 0:
            raise PolicyError("lookback_s must be 0 or more seconds, got %r" % (policy["lookback_s"],))
    for name, rule in merged["rules"].items():
        missing = [k for k in ("metric", "op", "threshold") if k not in rule]
        if missing:
            raise PolicyError("rule %s lacks %s" % (name, ", ".join(missing)))
        if rule["op"] not in OPERATORS:
            raise PolicyError("rule %s: operator %r is not one of %s" % (name, rule["op"], " ".join(OPERATORS)))
        try:
            rule["threshold"] = float(rule["threshold"])
        except (TypeError, ValueError):
            raise PolicyError("rule %s: threshold %r is not a number" % (name, rule["threshold"]))
        rule["for_s"] = seconds(rule.get("for", 0))
        if rule.get("judge") not in (None, "latency", "errors"):
            raise PolicyError("rule %s: judge %r is not latency or errors" % (name, rule["judge"]))
    return merged


def rounded(value):
    return round(value, 5) if isinstance(value, float) else value


def evaluate_rule(rule, samples, lookback_s=PROMETHEUS_LOOKBACK_S):
    """(state, value, seconds it has held) of one rule at the last sample; a missing value is the
    last one seen within ``lookback_s``."""
    holds = OPERATORS[rule["op"]]
    active_since, value, seen_at = None, None, None
    for sample in samples:
        at = float(sample["t"])
        current = sample.get(rule["metric"])
        if current is not None:
            value, seen_at = current, at
        elif seen_at is None or at - seen_at > lookback_s:
            value = None
        if value is not None and holds(float(value), rule["threshold"]):
            if active_since is None:
                active_since = at
        else:
            active_since = None
    if active_since is None:
        return "inactive", value, 0.0
    held = float(samples[-1]["t"]) - active_since
    return ("firing" if held >= rule["for_s"] else "pending"), value, held


def decide(samples, policy=None, judgement=None):
    """The decision, its reasons and every figure it used."""
    policy = effective_policy(policy)
    samples = sorted(samples or [], key=lambda s: float(s["t"]))
    requests = sum(int(s.get("requests") or 0) for s in samples)
    rules, firing, pending = {}, [], []
    for name in sorted(policy["rules"]):
        rule = policy["rules"][name]
        state, value, held = evaluate_rule(rule, samples, policy["lookback_s"]) if samples else ("inactive", None, 0.0)
        note = ""
        judged_by = rule.get("judge")
        if state == "firing" and judgement and judged_by:
            p_value = judgement.get(judged_by)
            if p_value is not None and p_value >= judgement["alpha"]:
                state, note = "pending", " but the %s judge finds it not significant (p=%.4g >= %s)" % (
                    judged_by, p_value, judgement["alpha"])
        rules[name] = {"state": state, "metric": rule["metric"], "op": rule["op"], "threshold": rule["threshold"],
                       "for_s": rule["for_s"], "value": value, "held_s": round(held, 3)}
        text = "%s: %s = %s %s %s for %.0f s (needs %.0f s)%s" % (
            name, rule["metric"], rounded(value), rule["op"], rule["threshold"], held, rule["for_s"], note)
        if state == "firing":
            firing.append(text)
        elif state == "pending":
            pending.append(text)
    inconclusive = requests < policy["min_requests"]
    if firing:
        decision, reasons = "rollback", firing
    elif pending or inconclusive:
        decision = "hold"
        reasons = pending + (["inconclusive: %d requests, the policy needs %d" % (requests, policy["min_requests"])]
                             if inconclusive else [])
    else:
        decision, reasons = "promote", ["no rule fired over %d samples and %d requests" % (len(samples), requests)]
    return {"decision": decision, "reasons": reasons, "rules": rules, "requests": requests,
            "inconclusive": inconclusive, "samples": len(samples),
            "evaluated_at": float(samples[-1]["t"]) if samples else None}
