# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""HTTP health probing: one check, N samples with latency percentiles, wait-until-healthy.

The network call is injected (``fetch(url, timeout) -> Response``) so that everything here is
plain logic, unit-tested without a server; the modules pass ``fetch`` below, built on open_url.
"""

from __future__ import annotations

import re
import time

import http.client
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from ansible_collections.nextgen.rollout.plugins.module_utils._stats import latency_summary


class Response(object):
    def __init__(self, status, body=b"", headers=None, error=None):
        self.status = status
        self.body = body
        self.headers = dict((k.lower(), v) for k, v in (headers or {}).items())
        self.error = error


def fetch(url, timeout, user_agent="nextgen.rollout-probe", headers=None, validate_certs=True):
    """GET url; an HTTP error status is an answer, not an exception.

    Plain http with no proxy for it goes straight through http.client: Ansible's open_url builds
    an SSL context at every call, about 30 ms, which a switch's verification pays per answer.
    Anything else (https, a proxy from the environment, credentials in the URL) takes open_url."""
    sent = dict(headers or {}, **{"User-Agent": user_agent})
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname and not parts.username and not _proxied(parts.hostname):
        return _plain_get(parts, timeout, sent)
    from ansible.module_utils.urls import open_url  # only here: importing it costs every module call
    try:
        handle = open_url(url, method="GET", timeout=timeout, follow_redirects="none",
                          headers=sent, validate_certs=validate_certs)
        return Response(handle.getcode(), handle.read(), dict(handle.headers.items()))
    except HTTPError as exc:
        return Response(exc.code, exc.read() if exc.fp else b"", dict(exc.headers.items()) if exc.headers else {})


def answering(fetch):
    """``fetch`` that answers a transport failure (connection refused, timeout, unknown host) with a
    Response that carries the error, instead of raising it: a candidate that went down, or a
    Prometheus that does not answer, is a figure to judge, not a crash of the module."""
    def call(url, timeout):
        try:
            return fetch(url, timeout)
        except Exception as exc:  # the reason is reported, whatever the transport raised
            return Response(None, error=str(exc) or exc.__class__.__name__)
    return call


def _proxied(host):
    return "http" in getproxies() and not proxy_bypass(host)


def _plain_get(parts, timeout, headers):
    """One GET on a new connection (a Host header in ``headers`` replaces the URL's)."""
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", (parts.path or "/") + ("?" + parts.query if parts.query else ""), headers=headers)
        answer = connection.getresponse()
        return Response(answer.status, answer.read(), dict(answer.getheaders()))
    finally:
        connection.close()


def status_expected(status, expected=None):
    """Whether ``status`` is one of ``expected``; with none given, any 2xx or 3xx answer is (as
    Kubernetes' HTTP probes and ``curl -f`` judge): a ``/`` that redirects to a login page is up."""
    if status is None:
        return False
    return status in expected if expected else 200 <= status < 400


def expected_text(expected=None):
    return "/".join(str(s) for s in expected) if expected else "2xx or 3xx"


def healthy_answer(response):
    """A health check's answer (``fetch``'s Response) that counts as healthy."""
    return response.error is None and status_expected(response.status)


class ProbeSpec(object):
    """What a healthy answer looks like (``expect_status`` None: any 2xx or 3xx)."""

    def __init__(self, url, expect_status=None, body_regex=None, expect_header=None, timeout=5.0,
                 version_header="X-Served-By"):
        self.url = url
        # Header whose distinct values a sample reports as the versions that answered.
        self.version_header = version_header.lower()
        self.expect_status = tuple(int(s) for s in expect_status) if expect_status else None
        self.body_regex = re.compile(body_regex) if body_regex else None
        self.expect_header = dict((k.lower(), v) for k, v in (expect_header or {}).items())
        self.timeout = float(timeout)

    def judge(self, response):
        """Return None when ``response`` is healthy, else the reason it is not."""
        if response.error is not None:
            return "request failed: %s" % response.error
        if not status_expected(response.status, self.expect_status):
            return "status %s, expected %s" % (response.status, expected_text(self.expect_status))
        for name, wanted in self.expect_header.items():
            got = response.headers.get(name)
            if got != wanted:
                return "header %s is %r, expected %r" % (name, got, wanted)
        if self.body_regex is not None:
            text = response.body.decode("utf-8", "replace") if isinstance(response.body, bytes) else response.body
            if not self.body_regex.search(text or ""):
                return "body does not match %r" % self.body_regex.pattern
        return None


def check_once(spec, fetch, clock=time.monotonic):
    started = clock()
    response = answering(fetch)(spec.url, spec.timeout)
    elapsed_ms = (clock() - started) * 1000.0
    return {
        "status": response.status,
        "latency_ms": round(elapsed_ms, 3),
        "problem": spec.judge(response),
        "version": response.headers.get(spec.version_header),
    }


def sample(spec, fetch, count, interval_s=0.0, clock=time.monotonic, sleep=time.sleep):
    """Probe ``count`` times; healthy only if every answer is. Returns figures for each check."""
    checks = []
    for index in range(count):
        if index and interval_s:
            sleep(interval_s)
        checks.append(check_once(spec, fetch, clock))
    failures = [c for c in checks if c["problem"]]
    latencies = [c["latency_ms"] for c in checks if not c["problem"]]
    versions = sorted(set(c["version"] for c in checks if c["version"]))
    return {
        "healthy": not failures,
        "samples": len(checks),
        "failures": len(failures),
        "problems": sorted(set(c["problem"] for c in failures)),
        "latency_ms": latency_summary(latencies),
        "versions": versions,
        "last_status": checks[-1]["status"] if checks else None,
    }


NOT_FOUND = 404


def wait_until_healthy(spec, fetch, deadline_s, interval_s=1.0, healthy_threshold=1,
                       clock=time.monotonic, sleep=time.sleep, not_found_s=0.0):
    """Poll until ``healthy_threshold`` consecutive checks pass, or the deadline passes. With
    ``not_found_s`` above 0, a URL that has answered every check with 404 for that long stops the
    wait early (``not_found``): the server is up, and the path is not one of its own."""
    started = clock()
    attempts = 0
    consecutive_ok = 0
    consecutive_failures = 0
    max_consecutive_failures = 0
    last = None
    not_found_since = None
    not_found = False
    while True:
        attempts += 1
        last = check_once(spec, fetch, clock)
        if last["problem"]:
            consecutive_ok = 0
            consecutive_failures += 1
            max_consecutive_failures = max(max_consecutive_failures, consecutive_failures)
        else:
            consecutive_ok += 1
            consecutive_failures = 0
        elapsed = clock() - started
        if last["status"] == NOT_FOUND and last["problem"]:
            not_found_since = elapsed if not_found_since is None else not_found_since
        else:
            not_found_since = None
        if consecutive_ok >= healthy_threshold:
            healthy = True
            break
        if not_found_s > 0 and not_found_since is not None and elapsed - not_found_since >= not_found_s:
            healthy, not_found = False, True
            break
        if elapsed + interval_s > deadline_s:
            healthy = False
            break
        sleep(interval_s)
    return {
        "healthy": healthy,
        "not_found": not_found,
        "attempts": attempts,
        "elapsed_s": round(clock() - started, 3),
        "consecutive_failures": consecutive_failures,
        "max_consecutive_failures": max_consecutive_failures,
        "last_status": last["status"],
        "last_problem": last["problem"],
        "version": last["version"],
    }
