#!/usr/bin/env python3
"""Agent Loop reference service: the HTTP service nextgen.rollout deploys in its tests and demo.

Standard library only, so it runs on the project's bare local base image.

Endpoints: GET /health, GET /ready, GET /metrics (Prometheus text), POST /run-agent (JSON),
GET / (a small JSON document, handy for load tests). Every response carries the version in the
``X-App-Version`` header and, for JSON bodies, in a ``version`` field.

Fault switches (environment variables), so that every rollback path can be exercised for real:

FAULT_ERROR_RATE      fraction (0..1) of business requests (/ and /run-agent) answered with 500;
                      spread evenly (every 1/rate-th request), not at random.
FAULT_LATENCY_MS      milliseconds added to every business request.
FAULT_NEVER_READY     "1": /ready answers 503 forever (health stays 200).
FAULT_CRASH_AT_START  "1": the process exits with status 3 before listening.
FAULT_MEMORY_GROWTH_KB  kilobytes retained per business request (a leak on purpose).
FAULT_START_AFTER_S   seconds after start before the error, latency and memory faults begin
                      (default 0): a version that goes bad some time after it went live.
READY_DELAY_S         seconds after start before /ready answers 200 (default 0).

SIGTERM drains: /ready turns 503, the listener closes, in-flight requests finish, exit 0.
"""

import json
import math
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "0.0.0-dev")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def env_float(name, default=0.0):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        sys.stderr.write("agent-loop: %s=%r is not a number\n" % (name, raw))
        sys.exit(2)


class Faults:
    def __init__(self):
        self.error_rate = min(max(env_float("FAULT_ERROR_RATE"), 0.0), 1.0)
        self.latency_s = env_float("FAULT_LATENCY_MS") / 1000.0
        self.never_ready = os.environ.get("FAULT_NEVER_READY") == "1"
        self.crash_at_start = os.environ.get("FAULT_CRASH_AT_START") == "1"
        self.memory_growth_bytes = int(env_float("FAULT_MEMORY_GROWTH_KB") * 1024)
        self.ready_delay_s = env_float("READY_DELAY_S")
        self.start_after_s = env_float("FAULT_START_AFTER_S")


class Metrics:
    """Request counters and a latency histogram, rendered in Prometheus text format."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}
        self.bucket_counts = {}
        self.duration_sum = {}
        self.duration_count = {}
        self.business_requests = 0

    def observe(self, path, status, seconds):
        with self.lock:
            key = (path, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            counts = self.bucket_counts.setdefault(path, [0] * len(LATENCY_BUCKETS))
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[index] += 1
            self.duration_sum[path] = self.duration_sum.get(path, 0.0) + seconds
            self.duration_count[path] = self.duration_count.get(path, 0) + 1

    def next_business_request(self):
        with self.lock:
            self.business_requests += 1
            return self.business_requests

    def render(self, memory_bytes):
        lines = [
            "# HELP agent_info Version of the running service.",
            "# TYPE agent_info gauge",
            'agent_info{version="%s"} 1' % VERSION,
            "# HELP agent_requests_total HTTP requests served, by path and status.",
            "# TYPE agent_requests_total counter",
        ]
        with self.lock:
            for (path, status), value in sorted(self.requests.items()):
                lines.append('agent_requests_total{path="%s",status="%s",version="%s"} %d'
                             % (path, status, VERSION, value))
            lines += [
                "# HELP agent_request_duration_seconds Time to serve a request.",
                "# TYPE agent_request_duration_seconds histogram",
            ]
            for path in sorted(self.bucket_counts):
                labels = 'path="%s",version="%s"' % (path, VERSION)
                for bound, count in zip(LATENCY_BUCKETS, self.bucket_counts[path]):
                    lines.append('agent_request_duration_seconds_bucket{%s,le="%s"} %d' % (labels, bound, count))
                lines.append('agent_request_duration_seconds_bucket{%s,le="+Inf"} %d'
                             % (labels, self.duration_count[path]))
                lines.append("agent_request_duration_seconds_sum{%s} %.6f" % (labels, self.duration_sum[path]))
                lines.append("agent_request_duration_seconds_count{%s} %d" % (labels, self.duration_count[path]))
        lines += [
            "# HELP process_resident_memory_bytes Resident memory size in bytes.",
            "# TYPE process_resident_memory_bytes gauge",
            "process_resident_memory_bytes %d" % memory_bytes,
        ]
        return "\n".join(lines) + "\n"


def resident_memory_bytes():
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Service:
    def __init__(self, faults):
        self.faults = faults
        self.metrics = Metrics()
        self.started = time.monotonic()
        self.draining = threading.Event()
        self.leak = []

    def is_ready(self):
        if self.faults.never_ready or self.draining.is_set():
            return False
        return time.monotonic() - self.started >= self.faults.ready_delay_s

    def faulty(self):
        return time.monotonic() - self.started >= self.faults.start_after_s

    def should_fail(self, request_number):
        # Deterministic spread: the n-th request fails when floor(n*rate) steps up.
        rate = self.faults.error_rate
        return math.floor(request_number * rate) > math.floor((request_number - 1) * rate)


class Handler(BaseHTTPRequestHandler):
    server_version = "agent-loop"
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, on a keep-alive connection (nginx's
    # upstream keepalive) the body waits for the ACK of the headers, which Linux delays by 40 ms.
    disable_nagle_algorithm = True
    service = None  # set by main()
    timeout = 5  # idle keep-alive connections close, so a drain never waits on them

    def log_message(self, fmt, *args):  # quiet: nginx keeps the access log
        pass

    def send_body(self, status, body, content_type="application/json"):
        payload = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-App-Version", VERSION)
        if self.service.draining.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def send_json(self, status, document):
        document = dict(document, version=VERSION)
        self.send_body(status, json.dumps(document) + "\n")

    def business(self, path, extra):
        service = self.service
        number = service.metrics.next_business_request()
        faulty = service.faulty()
        if faulty and service.faults.latency_s:
            time.sleep(service.faults.latency_s)
        if faulty and service.faults.memory_growth_bytes:
            service.leak.append(bytearray(service.faults.memory_growth_bytes))
        if faulty and service.should_fail(number):
            return 500, {"error": "injected failure", "request": number}
        return 200, dict(extra, request=number)

    def handle_request(self, method):
        started = time.monotonic()
        path = self.path.split("?", 1)[0]
        service = self.service
        if method == "GET" and path == "/health":
            status, doc = 200, {"status": "ok"}
        elif method == "GET" and path == "/ready":
            ready = service.is_ready()
            status, doc = (200 if ready else 503), {"ready": ready}
        elif method == "GET" and path == "/metrics":
            self.send_body(200, service.metrics.render(resident_memory_bytes()),
                           "text/plain; version=0.0.4")
            service.metrics.observe(path, 200, time.monotonic() - started)
            return
        elif method == "GET" and path == "/":
            status, doc = self.business(path, {"service": "agent-loop"})
        elif method == "POST" and path == "/run-agent":
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                task = json.loads(raw or b"{}")
            except ValueError:
                status, doc = 400, {"error": "body is not JSON"}
            else:
                status, doc = self.business(path, {"result": "done", "task": task})
        else:
            status, doc = 404, {"error": "no such endpoint", "path": path}
        self.send_json(status, doc)
        service.metrics.observe(path, status, time.monotonic() - started)

    def do_GET(self):  # noqa: N802 (http.server naming)
        self.handle_request("GET")

    def do_POST(self):  # noqa: N802
        self.handle_request("POST")


class DrainingServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins in-flight request threads
    block_on_close = True
    allow_reuse_address = True


def main():
    faults = Faults()
    if faults.crash_at_start:
        sys.stderr.write("agent-loop %s: FAULT_CRASH_AT_START=1, exiting\n" % VERSION)
        sys.exit(3)
    Handler.service = Service(faults)
    port = int(os.environ.get("PORT", "8000"))
    server = DrainingServer(("0.0.0.0", port), Handler)

    def drain(signum, _frame):
        Handler.service.draining.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, drain)
    signal.signal(signal.SIGINT, drain)
    sys.stdout.write("agent-loop %s listening on :%d\n" % (VERSION, port))
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    sys.stdout.write("agent-loop %s drained, bye\n" % VERSION)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
