# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""The staging gate: a load test of the idle colour before any traffic moves (seed 002, phase 2:
every endpoint's p95 under 2 s, at 500 requests a minute for 5 minutes).

Requests leave on a fixed schedule (the rate spread evenly, the endpoints in turn), taken by a few
worker threads so that a slow answer delays neither the schedule nor the others: the gate measures
the service at the rate asked, as an open-loop load does, not at the rate the service can bear.
Each endpoint gets its own figures; the gate passes when, for every endpoint, the p95 is within
``max_p95_ms`` and the share of failed answers (no answer, or a status the endpoint does not
expect) within ``max_error_rate``.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time

from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.nextgen.rollout.plugins.module_utils._probe import status_expected
from ansible_collections.nextgen.rollout.plugins.module_utils._stats import latency_summary


class GateProblem(ValueError):
    """The gate's settings are wrong."""


def endpoint_list(endpoints, default_path):
    """The endpoints as dicts {path, method, body, expect_status}; ``default_path`` alone when none."""
    found = []
    for item in endpoints or [{"path": default_path}]:
        entry = {"path": item} if isinstance(item, str) else dict(item)
        unknown = set(entry) - {"path", "method", "body", "expect_status"}
        if unknown:
            raise GateProblem("unknown endpoint keys %s (expected path, method, body, expect_status)"
                              % ", ".join(sorted(unknown)))
        path = str(entry.get("path") or "")
        if not path.startswith("/"):
            raise GateProblem("an endpoint path starts with /, got %r" % path)
        method = str(entry.get("method") or "GET").upper()
        if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            raise GateProblem("endpoint %s: %r is not an HTTP method" % (path, method))
        found.append({"path": path, "method": method, "body": entry.get("body"),
                      "expect_status": [int(s) for s in entry.get("expect_status") or []]})
    return found


class Requester(object):
    """Sends an endpoint's request to ``base_url`` on a keep-alive connection per thread, as a load
    client does (a new TLS context per request, as open_url makes, would cost more than the answer).
    A connection the server closed is opened again once. Returns (status, None) or (None, error)."""

    def __init__(self, base_url, timeout, headers=None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GateProblem("base_url must be http(s)://host[:port], got %r" % base_url)
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.timeout, self.headers = float(timeout), dict(headers or {})
        # The gate loads a colour on the host itself: its certificate, if any, is not what is tested.
        self.context = ssl._create_unverified_context() if self.scheme == "https" else None
        self.local = threading.local()

    def connect(self):
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def __call__(self, endpoint):
        headers = dict(self.headers, **{"User-Agent": "nextgen.rollout-staging-gate"})
        body = endpoint["body"]
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
            body = body.encode("utf-8") if isinstance(body, str) else body
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            reused = conn is not None
            try:
                if conn is None:
                    conn = self.local.conn = self.connect()
                conn.request(endpoint["method"], self.prefix + endpoint["path"], body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    conn.close()
                    self.local.conn = None
                return response.status, None
            except (OSError, http.client.HTTPException) as exc:
                if conn is not None:
                    conn.close()
                self.local.conn = None
                stale = isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))
                if not (reused and stale and attempt == 1):
                    return None, "%s: %s" % (exc.__class__.__name__, exc)
        return None, "no answer"


def check_settings(rate_per_min, duration_s, max_p95_ms, max_error_rate, workers):
    problems = []
    if not rate_per_min > 0:
        problems.append("rate_per_min must be above 0 (got %s)" % rate_per_min)
    if not duration_s > 0:
        problems.append("duration must be above 0 s (got %s)" % duration_s)
    if max_p95_ms is not None and not max_p95_ms > 0:
        problems.append("max_p95_ms must be above 0 (got %s)" % max_p95_ms)
    if not 0 <= max_error_rate <= 1:
        problems.append("max_error_rate is a fraction from 0 to 1 (got %s)" % max_error_rate)
    if workers < 1:
        problems.append("workers must be at least 1 (got %s)" % workers)
    if problems:
        raise GateProblem("; ".join(problems))


def run_gate(request, endpoints, rate_per_min, duration_s, max_p95_ms, max_error_rate, workers=8,
             clock=time.monotonic, sleep=time.sleep):
    """Load the endpoints; ``request(endpoint) -> (status or None, error or None)``. Returns the verdict
    with per-endpoint figures and the problems that fail it."""
    check_settings(rate_per_min, duration_s, max_p95_ms, max_error_rate, workers)
    total = max(1, int(round(rate_per_min * duration_s / 60.0)))
    spacing = 60.0 / rate_per_min
    started = clock()
    results = [None] * total
    lock = threading.Lock()
    state = {"next": 0}

    def worker():
        while True:
            with lock:
                index = state["next"]
                if index >= total:
                    return
                state["next"] += 1
            due = started + index * spacing
            wait = due - clock()
            if wait > 0:
                sleep(wait)
            endpoint = endpoints[index % len(endpoints)]
            sent = clock()
            try:
                status, error = request(endpoint)
            except Exception as exc:  # whatever the transport raised is a failed answer, named
                status, error = None, str(exc) or exc.__class__.__name__
            elapsed_ms = (clock() - sent) * 1000.0
            failed = error is not None or not status_expected(status, endpoint["expect_status"])
            results[index] = (endpoint["method"] + " " + endpoint["path"], status, failed, elapsed_ms,
                              error or (None if not failed else "status %s" % status))

    threads = [threading.Thread(target=worker, daemon=True) for _thread in range(min(workers, total))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = clock() - started
    by_endpoint, problems = {}, []
    for endpoint in endpoints:
        name = endpoint["method"] + " " + endpoint["path"]
        rows = [r for r in results if r is not None and r[0] == name]
        failures = [r for r in rows if r[2]]
        error_rate = len(failures) / float(len(rows)) if rows else 0.0
        latency = latency_summary([r[3] for r in rows if not r[2]])
        by_endpoint[name] = {"requests": len(rows), "failed": len(failures), "error_rate": round(error_rate, 4),
                             "latency_ms": latency,
                             "failures": sorted(set(r[4] for r in failures))[:5]}
        if error_rate > max_error_rate:
            problems.append("%s: %d of %d answers failed (%.1f %%, at most %.1f %%): %s" % (
                name, len(failures), len(rows), error_rate * 100, max_error_rate * 100,
                "; ".join(by_endpoint[name]["failures"])))
        if max_p95_ms is not None and latency["p95"] is not None and latency["p95"] > max_p95_ms:
            problems.append("%s: p95 %.0f ms above %.0f ms" % (name, latency["p95"], max_p95_ms))
    sent = sum(1 for r in results if r is not None)
    return {"passed": not problems, "problems": problems, "endpoints": by_endpoint, "requests": sent,
            "elapsed_s": round(elapsed, 3), "rate_per_min": round(sent / elapsed * 60.0, 1) if elapsed else None,
            "max_p95_ms": max_p95_ms, "max_error_rate": max_error_rate}


# What a gate's settings may say, and their defaults (those of the staging_gate module).
GATE_DEFAULTS = {"endpoints": [], "rate_per_min": 500.0, "duration": 300.0, "max_p95_ms": 2000.0,
                 "max_error_rate": 0.01, "workers": 8, "timeout": 10.0}


def gate_problem(settings):
    """What is wrong with a gate's settings (a dict over GATE_DEFAULTS), in one sentence, or ''."""
    if not isinstance(settings, dict):
        return "the staging gate is a mapping of %s, not %r" % (", ".join(sorted(GATE_DEFAULTS)), settings)
    unknown = sorted(set(settings) - set(GATE_DEFAULTS))
    if unknown:
        return "unknown staging gate keys %s (expected %s)" % (", ".join(unknown), ", ".join(sorted(GATE_DEFAULTS)))
    merged = dict(GATE_DEFAULTS, **settings)
    try:
        endpoint_list(merged["endpoints"], "/")
        max_p95 = None if merged["max_p95_ms"] is None else float(merged["max_p95_ms"])
        check_settings(float(merged["rate_per_min"]), float(merged["duration"]), max_p95,
                       float(merged["max_error_rate"]), int(merged["workers"]))
    except GateProblem as exc:
        return "staging gate: %s" % exc
    except (TypeError, ValueError) as exc:
        return "staging gate: a setting is not a number (%s)" % exc
    return ""
