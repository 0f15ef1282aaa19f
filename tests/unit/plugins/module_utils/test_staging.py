import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._staging import GateProblem, Requester, endpoint_list, run_gate


class Handler(BaseHTTPRequestHandler):
    """/ answers at once, /moved redirects, /slow after 600 ms, /flaky fails every other request, POST /echo needs a body."""
    counter = {"flaky": 0}

    def log_message(self, fmt, *args):
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # noqa: N802
        if self.path == "/slow":
            time.sleep(0.6)
        if self.path == "/flaky":
            self.counter["flaky"] += 1
            return self.answer(500 if self.counter["flaky"] % 2 else 200)
        self.answer(302 if self.path == "/moved" else 200)

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.answer(201 if body == b'{"task": "gate"}' else 400)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


def gate(base, endpoints, **limits):
    settings = dict(rate_per_min=1200, duration_s=1.5, max_p95_ms=400, max_error_rate=0.01, workers=8)
    settings.update(limits)
    return run_gate(Requester(base, 2.0), endpoint_list(endpoints, "/"), **settings)


def test_a_healthy_service_passes_at_the_rate_asked(server):
    started = time.monotonic()
    outcome = gate(server, ["/", {"path": "/echo", "method": "post", "body": '{"task": "gate"}', "expect_status": [201]}])
    assert outcome["passed"] and outcome["problems"] == [] and outcome["requests"] == 30
    assert outcome["endpoints"]["GET /"]["requests"] == 15 and outcome["endpoints"]["POST /echo"]["failed"] == 0
    # Open loop: 30 requests at 20/s take about 1.5 s, not less.
    assert 1.4 <= time.monotonic() - started < 4


def test_a_redirect_passes_unless_the_endpoint_expects_other_statuses(server):
    assert gate(server, ["/moved"], duration_s=0.5)["passed"]
    strict = gate(server, [{"path": "/moved", "expect_status": [200]}], duration_s=0.5)
    assert not strict["passed"] and strict["problems"][0].endswith("answers failed (100.0 %, at most 1.0 %): status 302")


def test_a_slow_endpoint_fails_the_gate_by_its_p95(server):
    outcome = gate(server, ["/", "/slow"])
    assert not outcome["passed"]
    assert len(outcome["problems"]) == 1 and outcome["problems"][0].startswith("GET /slow: p95 ")
    assert outcome["endpoints"]["GET /slow"]["latency_ms"]["p95"] >= 600
    assert outcome["endpoints"]["GET /"]["latency_ms"]["p95"] < 400


def test_failed_answers_fail_the_gate_with_their_reason(server):
    outcome = gate(server, ["/flaky"], max_p95_ms=None)
    assert not outcome["passed"]
    assert outcome["problems"] == ["GET /flaky: 15 of 30 answers failed (50.0 %, at most 1.0 %): status 500"]
    down = gate("http://127.0.0.1:9", ["/"], duration_s=0.2)
    assert not down["passed"] and down["endpoints"]["GET /"]["failed"] == 4
    assert "Connection refused" in down["problems"][0]


def test_bad_settings_are_refused_before_any_request():
    with pytest.raises(GateProblem, match="rate_per_min must be above 0.*max_error_rate is a fraction"):
        run_gate(None, [{"path": "/"}], 0, 10, 2000, 2, 1)
    with pytest.raises(GateProblem, match="an endpoint path starts with /"):
        endpoint_list(["health"], "/")
    with pytest.raises(GateProblem, match="unknown endpoint keys headers"):
        endpoint_list([{"path": "/", "headers": {}}], "/")
    with pytest.raises(GateProblem, match="base_url must be http"):
        Requester("127.0.0.1:8002", 2)
    with pytest.raises(GateProblem, match="'FETCH' is not an HTTP method"):
        endpoint_list([{"path": "/", "method": "fetch"}], "/")
    assert endpoint_list([], "/ready") == [{"path": "/ready", "method": "GET", "body": None, "expect_status": []}]


def test_gate_settings_are_checked_as_a_whole():
    from ansible_collections.nextgen.rollout.plugins.module_utils._staging import gate_problem
    assert gate_problem({}) == "" and gate_problem({"rate_per_min": 500, "duration": 300, "endpoints": ["/"]}) == ""
    assert gate_problem({"rate": 5}).startswith("unknown staging gate keys rate (expected duration, endpoints")
    assert gate_problem({"max_error_rate": 1.5}) == "staging gate: max_error_rate is a fraction from 0 to 1 (got 1.5)"
    assert gate_problem({"duration": "five"}).startswith("staging gate: a setting is not a number")
    assert gate_problem(["/"]).startswith("the staging gate is a mapping of")
