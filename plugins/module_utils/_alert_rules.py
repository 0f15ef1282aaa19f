# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Prometheus alert rules that keep watching a service on a host once a release is live.

The rules are the release policy's own (``rollback_decision``: the seeds' automatic rollback
triggers by default, with their thresholds and ``for`` windows), each written on the service's own
metrics, plus seed 002's ``DeploymentFailed`` on ``deployment_failures_total`` (the counter the
ledger keeps). Each trigger carries the host and the service as labels, and the live version from
``nextgen_release_live_info`` (the ledger's textfile, read by node_exporter on the host), so an
alert names what was live when it fired, and the rules need no change when a release or a
rollback moves traffic. A rule on a rate stays quiet until the live version has had the traffic
for the whole rate window (``nextgen_release_live_since_seconds``), so that the requests of the
version before a switch are not charged to the one after it (which would roll back a rollback).
Should that metric be missing, the triggers still fire, without a version, and
``NextgenReleaseInfoMissing`` says why.

A policy metric that has no expression here (the canary's comparisons of candidate and stable)
is left out and listed in ``skipped``.
"""

from __future__ import annotations

import re

from ansible_collections.nextgen.rollout.plugins.module_utils._decision import effective_policy, seconds

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

# The metrics measured over the rate window.
WINDOWED = ("error_rate", "p95_s")

ALERT_NAMES = {"error_rate": "NextgenErrorRateAfterRelease", "latency_p95": "NextgenLatencyP95AfterRelease",
               "health_failures": "NextgenHealthFailuresAfterRelease", "memory": "NextgenMemoryAfterRelease"}


class AlertRulesError(ValueError):
    pass


def duration(seconds):
    return "%ds" % int(round(seconds))


def alert_name(rule_name):
    return ALERT_NAMES.get(rule_name) or "Nextgen" + "".join(part.capitalize() for part in rule_name.split("_"))


def with_live_version(condition, settings):
    """``condition`` with the live version as a label: joined with the host's live info, or as it
    is when that info is missing (never both)."""
    return ("(%(condition)s) * on() group_left(version) topk(1, max by (version) (%(info)s))"
            " or ((%(condition)s) unless on() %(info)s)") % dict(settings, condition=condition)


def trigger(name, rule, settings):
    """The alert of one policy rule, or None when its metric has no expression."""
    if rule["metric"] == "health_failures":
        if rule["op"] not in (">", ">="):
            return None
        # N failed health checks in a row: the scrape failed (up == 0) at N evaluations in a row,
        # one scrape interval apart, so for (N - 1) intervals.
        failures = int(rule["threshold"]) + (1 if rule["op"] == ">" else 0)
        condition = "%(up)s{%(selector)s} == 0" % settings
        for_s = (failures - 1) * settings["scrape_interval_s"]
    elif rule["metric"] in EXPRESSIONS:
        condition = "(%s) %s %s" % (EXPRESSIONS[rule["metric"]] % settings, rule["op"], rule["threshold"])
        if rule["metric"] in WINDOWED:
            # A rate over the window measures the version live throughout it only: just after a switch
            # it still holds the previous version's requests, which must not be charged to the new one.
            condition = "(%s) unless on() (time() - max(%s) < %d)" % (
                condition, settings["since"], settings["window_s"])
        for_s = rule["for_s"]
    else:
        return None
    summary = rule.get("description") or "%s %s %s" % (rule["metric"], rule["op"], rule["threshold"])
    return {"alert": alert_name(name), "expr": with_live_version(condition, settings),
            "for": duration(max(for_s, 0)), "labels": {"severity": "critical", "rule": name},
            "annotations": {"summary": summary}}


def host_selector(host):
    """The series of ``host``: its instance label is the host name, with or without a port."""
    # Each regex metacharacter escaped for the regex, and that backslash for the PromQL string.
    return 'instance=~"%s(:[0-9]+)?"' % re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\\\1", host)


def release_alert_rules(service, host, policy=None, selector=None, info_selector=None, metrics=None,
                        memory_limit_bytes=None):
    """{"rules": the rules file as a dict, "skipped": rule names without an expression}."""
    if not service or not host:
        raise AlertRulesError("the alert rules need the service and the host")
    unknown = sorted(set(metrics or {}) - set(DEFAULT_METRICS))
    if unknown:
        raise AlertRulesError("unknown metrics setting(s) %s; the settings are %s"
                              % (", ".join(unknown), ", ".join(sorted(DEFAULT_METRICS))))
    settings = dict(DEFAULT_METRICS, **(metrics or {}))
    settings["selector"] = selector or 'service="%s",%s' % (service, host_selector(host))
    host_series = 'service="%s",%s' % (service, info_selector or host_selector(host))
    settings["info"] = "nextgen_release_live_info{%s}" % host_series
    settings["since"] = "nextgen_release_live_since_seconds{%s}" % host_series
    settings["window_s"] = int(round(seconds(settings["rate_window"])))
    settings["memory_limit_bytes"] = int(memory_limit_bytes or 1 << 30)
    if settings["memory_limit_bytes"] <= 0:
        raise AlertRulesError("the memory limit must be a positive number of bytes")
    labels = {"host": host, "service": service}
    rules, skipped = [], []
    for name, rule in sorted(effective_policy(policy)["rules"].items()):
        alert = trigger(name, rule, settings)
        if alert is None:
            skipped.append(name)
            continue
        alert["labels"].update(labels)
        rules.append(alert)
    rules.append({"alert": "DeploymentFailed",
                  "expr": "increase(deployment_failures_total{%s}[5m]) > 0" % host_series,
                  "for": "0s",
                  "labels": dict(labels, severity="critical"),
                  "annotations": {"summary": "Deployment failed",
                                  "description": "Deployment {{ $labels.version }} failed"}})
    rules.append({"alert": "NextgenReleaseInfoMissing",
                  "expr": "absent(%s)" % settings["info"],
                  "for": "10m",
                  "labels": dict(labels, severity="warning"),
                  "annotations": {"summary": "The alerts of %s on %s carry no version: Prometheus does not get the "
                                             "ledger's nextgen_release_live_info (node_exporter's textfile "
                                             "collector on the host)" % (service, host)}})
    return {"rules": {"groups": [{"name": "nextgen-release-%s-%s" % (service, host), "rules": rules}]},
            "skipped": skipped}
