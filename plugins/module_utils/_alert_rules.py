# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Prometheus alert rules that keep watching a service once a release is live.

The rules are the release policy's own (``rollback_decision``: the seeds' automatic rollback
triggers by default, with their thresholds and ``for`` windows), each written on the service's own
metrics, plus seed 002's ``DeploymentFailed`` on ``deployment_failures_total`` (the counter the
ledger keeps). Each trigger carries the host, the service and the live version as labels, so an
alert names what to roll back; ``DeploymentFailed`` keeps the version of its series, the one that
failed.

A policy metric that has no expression here (the canary's comparisons of candidate and stable)
is left out and listed in ``skipped``.
"""

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils._decision import effective_policy

# Prometheus client conventions; every name can change (``metrics``).
DEFAULT_METRICS = {
    "requests": "http_requests_total",
    "status_label": "status",
    "duration_buckets": "http_request_duration_seconds_bucket",
    "memory_bytes": "process_resident_memory_bytes",
    "up": "up",
    "rate_window": "1m",
    "scrape_interval_s": 15,
}

# The expression of each policy metric, from the metric names above and the service's selector.
EXPRESSIONS = {
    "error_rate": ('sum(rate(%(requests)s{%(selector)s,%(status_label)s=~"5.."}[%(rate_window)s]))'
                   ' / sum(rate(%(requests)s{%(selector)s}[%(rate_window)s]))'),
    "p95_s": "histogram_quantile(0.95, sum by (le) (rate(%(duration_buckets)s{%(selector)s}[%(rate_window)s])))",
    "memory_pct": "100 * max(%(memory_bytes)s{%(selector)s}) / %(memory_limit_bytes)d",
}

ALERT_NAMES = {"error_rate": "NextgenErrorRateAfterRelease", "latency_p95": "NextgenLatencyP95AfterRelease",
               "health_failures": "NextgenHealthFailuresAfterRelease", "memory": "NextgenMemoryAfterRelease"}


class AlertRulesError(ValueError):
    pass


def duration(seconds):
    return "%ds" % int(round(seconds))


def alert_name(rule_name):
    return ALERT_NAMES.get(rule_name) or "Nextgen" + "".join(part.capitalize() for part in rule_name.split("_"))


def trigger(name, rule, settings):
    """The alert of one policy rule, or None when its metric has no expression."""
    if rule["metric"] == "health_failures":
        if rule["op"] not in (">", ">="):
            return None
        # N failed health checks in a row: the scrape failed (up == 0) at N evaluations in a row,
        # one scrape interval apart, so for (N - 1) intervals.
        failures = int(rule["threshold"]) + (1 if rule["op"] == ">" else 0)
        expr = "%(up)s{%(selector)s} == 0" % settings
        for_s = (failures - 1) * settings["scrape_interval_s"]
    elif rule["metric"] in EXPRESSIONS:
        expr = "(%s) %s %s" % (EXPRESSIONS[rule["metric"]] % settings, rule["op"], rule["threshold"])
        for_s = rule["for_s"]
    else:
        return None
    summary = rule.get("description") or "%s %s %s" % (rule["metric"], rule["op"], rule["threshold"])
    return {"alert": alert_name(name), "expr": expr, "for": duration(max(for_s, 0)),
            "labels": {"severity": "critical", "rule": name}, "annotations": {"summary": summary}}


def release_alert_rules(service, host, version, policy=None, selector=None, metrics=None, memory_limit_bytes=None):
    """{"rules": the rules file as a dict, "skipped": rule names without an expression}."""
    if not service or not host:
        raise AlertRulesError("the alert rules need the service and the host")
    unknown = sorted(set(metrics or {}) - set(DEFAULT_METRICS))
    if unknown:
        raise AlertRulesError("unknown metrics setting(s) %s; the settings are %s"
                              % (", ".join(unknown), ", ".join(sorted(DEFAULT_METRICS))))
    settings = dict(DEFAULT_METRICS, **(metrics or {}))
    settings["selector"] = selector or 'service="%s"' % service
    settings["memory_limit_bytes"] = int(memory_limit_bytes or 1 << 30)
    if settings["memory_limit_bytes"] <= 0:
        raise AlertRulesError("the memory limit must be a positive number of bytes")
    labels = {"host": host, "service": service, "version": version or "none"}
    rules, skipped = [], []
    for name, rule in sorted(effective_policy(policy)["rules"].items()):
        alert = trigger(name, rule, settings)
        if alert is None:
            skipped.append(name)
            continue
        alert["labels"].update(labels)
        rules.append(alert)
    # The version comes from the failing series: a static version label would replace it.
    rules.append({"alert": "DeploymentFailed",
                  "expr": 'increase(deployment_failures_total{service="%s"}[5m]) > 0' % service,
                  "for": "0s",
                  "labels": {"severity": "critical", "host": host, "service": service},
                  "annotations": {"summary": "Deployment failed",
                                  "description": "Deployment {{ $labels.version }} failed"}})
    return {"rules": {"groups": [{"name": "nextgen-release-%s" % service, "rules": rules}]}, "skipped": skipped}
