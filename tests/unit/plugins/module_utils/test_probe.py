import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._probe import (
    ProbeSpec, Response, answering, check_once, fetch, sample, wait_until_healthy)
from support.fake_clock import FakeClock


def unused_port():
    """A loopback port nothing listens on (the kernel gives a free one; it is closed at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scripted_fetch(responses):
    queue = list(responses)

    def fetch(url, timeout):
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item
    return fetch


@pytest.mark.parametrize("response,spec_kwargs,problem", [
    (Response(200, b"ok"), {}, None),
    (Response(503, b"no"), {}, "status 503, expected 2xx or 3xx"),
    (Response(302, headers={"Location": "/login"}), {}, None),
    (Response(404), {}, "status 404, expected 2xx or 3xx"),
    (Response(302), {"expect_status": [200]}, "status 302, expected 200"),
    (Response(204), {"expect_status": [200, 204]}, None),
    (Response(200, b'{"version": "1.1.0"}'), {"body_regex": '"version": "1\\.1\\.0"'}, None),
    (Response(200, b'{"version": "1.0.0"}'), {"body_regex": "1\\.1\\.0"}, "body does not match '1\\\\.1\\\\.0'"),
    (Response(200, headers={"X-App-Version": "1.1.0"}), {"expect_header": {"x-app-version": "1.1.0"}}, None),
    (Response(200, headers={"X-App-Version": "1.0.0"}), {"expect_header": {"X-App-Version": "1.1.0"}},
     "header x-app-version is '1.0.0', expected '1.1.0'"),
    (Response(None, error="connection refused"), {}, "request failed: connection refused"),
], ids=["ok", "bad-status", "redirect", "not-found", "only-200", "alt-status", "body-match", "body-mismatch", "header-match", "header-mismatch", "error"])
def test_judge(response, spec_kwargs, problem):
    assert ProbeSpec("http://x/", **spec_kwargs).judge(response) == problem


def test_sample_reports_failures_and_versions():
    fetch = scripted_fetch([Response(200, headers={"X-Served-By": "blue/1.0.0", "X-App-Version": "9"}), Response(500),
                            Response(200, headers={"X-Served-By": "green/1.1.0"})])
    result = sample(ProbeSpec("http://x/"), fetch, 3, clock=FakeClock(0.001).clock)
    assert result["healthy"] is False
    assert result["failures"] == 1
    assert result["problems"] == ["status 500, expected 2xx or 3xx"]
    assert result["versions"] == ["blue/1.0.0", "green/1.1.0"]
    assert result["latency_ms"]["count"] == 2
    fetch = scripted_fetch([Response(200, headers={"X-App-Version": "1.0.0"})])
    assert sample(ProbeSpec("http://x/", version_header="x-app-version"), fetch, 1)["versions"] == ["1.0.0"]


def test_sample_transport_error_is_a_failure_not_a_crash():
    result = sample(ProbeSpec("http://x/"), scripted_fetch([OSError("refused")]), 2, clock=FakeClock().clock)
    assert result == dict(result, healthy=False, failures=2, problems=["request failed: refused"])


def test_a_transport_failure_is_an_answer_with_its_error():
    def real_fetch_nothing_listens(url, timeout):
        with socket.create_connection(("127.0.0.1", unused_port()), timeout=timeout):
            return Response(200)
    answer = answering(real_fetch_nothing_listens)("http://x/", 1)
    assert answer.status is None and "refused" in answer.error.lower()
    assert answering(lambda url, timeout: Response(204))("http://x/", 1).status == 204


def test_wait_until_healthy_needs_consecutive_successes():
    fake = FakeClock()
    fetch = scripted_fetch([Response(503), Response(200), Response(503), Response(200), Response(200)])
    result = wait_until_healthy(ProbeSpec("http://x/"), fetch, deadline_s=60, interval_s=1, healthy_threshold=2,
                                clock=fake.clock, sleep=fake.sleep)
    assert result["healthy"] is True
    assert result["attempts"] == 5
    assert result["max_consecutive_failures"] == 1


def test_wait_until_healthy_gives_up_at_the_deadline():
    fake = FakeClock()
    result = wait_until_healthy(ProbeSpec("http://x/ready"), scripted_fetch([Response(503)]), deadline_s=10,
                                interval_s=1, clock=fake.clock, sleep=fake.sleep)
    assert result["healthy"] is False
    assert result["last_problem"] == "status 503, expected 2xx or 3xx"
    assert 9 <= result["attempts"] <= 11
    assert result["elapsed_s"] <= 10


def test_a_path_that_answers_404_for_the_not_found_time_ends_the_wait_early():
    fake = FakeClock()
    # Refused while the server starts, then 404 at every check.
    fetch = scripted_fetch([OSError("refused"), OSError("refused"), Response(404)])
    result = wait_until_healthy(ProbeSpec("http://x/ready"), fetch, deadline_s=60, interval_s=1, clock=fake.clock,
                                sleep=fake.sleep, not_found_s=5)
    assert (result["healthy"], result["not_found"], result["attempts"]) == (False, True, 8)
    assert result["elapsed_s"] == 7  # 2 s refused, then 5 s of 404


def test_a_404_that_turns_into_an_answer_or_a_wait_without_the_option_waits_on():
    fake = FakeClock()
    fetch = scripted_fetch([Response(404)] * 4 + [Response(503), Response(404), Response(404), Response(200)])
    result = wait_until_healthy(ProbeSpec("http://x/ready"), fetch, deadline_s=60, interval_s=1, clock=fake.clock,
                                sleep=fake.sleep, not_found_s=4)
    assert (result["healthy"], result["not_found"]) == (True, False)
    fake = FakeClock()
    result = wait_until_healthy(ProbeSpec("http://x/ready"), scripted_fetch([Response(404)]), deadline_s=10,
                                interval_s=1, clock=fake.clock, sleep=fake.sleep)
    assert (result["healthy"], result["not_found"], result["elapsed_s"]) == (False, False, 10)


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):  # noqa: N802 (http.server naming)
        Recorder.seen.append((self.path, self.headers.get_all("Host"), self.headers.get("User-Agent")))
        status = 503 if self.path.startswith("/down") else 200
        body = b"busy" if status == 503 else b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "blue/1.0.0")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY"):  # a proxy of the machine's environment would take the request
        monkeypatch.delenv(name, raising=False)
    httpd = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Recorder.seen = []
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_fetch_over_plain_http_answers_with_status_headers_and_body(server):
    answer = fetch(server + "/ready?full=1", 2, headers={"Host": "agent-loop.example"})
    assert (answer.status, answer.body, answer.headers["x-served-by"]) == (200, b"ok", "blue/1.0.0")
    # The Host header asked for replaces the URL's, once; the query string is kept.
    assert Recorder.seen == [("/ready?full=1", ["agent-loop.example"], "nextgen.rollout-probe")]


def test_fetch_an_error_status_is_an_answer(server):
    answer = fetch(server + "/down", 2)
    assert (answer.status, answer.body) == (503, b"busy")


def test_fetch_a_refused_connection_is_a_failed_check():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        check = check_once(ProbeSpec("http://127.0.0.1:%d/" % port, timeout=1), fetch)
    assert check["status"] is None and check["problem"].startswith("request failed: ")


def test_fetch_through_a_proxy_of_the_environment_takes_open_url(server, monkeypatch):
    calls = []

    def open_url(url, **options):
        calls.append((url, options["headers"]["User-Agent"]))
        raise OSError("proxy unreachable")
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setattr("ansible.module_utils.urls.open_url", open_url)
    check = check_once(ProbeSpec(server + "/"), fetch)
    assert calls == [(server + "/", "nextgen.rollout-probe")] and check["problem"] == "request failed: proxy unreachable"
    assert Recorder.seen == []
