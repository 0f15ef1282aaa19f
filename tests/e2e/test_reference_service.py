"""The reference service and each of its fault switches, against a real container."""
import json
import subprocess
import threading
import time

import pytest

from support.service import ServiceContainer, request, wait_for


@pytest.fixture
def service(request_ctx=None):
    started = []

    def run(version="1.0.0", **env):
        container = ServiceContainer(version, env).start()
        started.append(container)
        return container
    yield run
    for container in started:
        container.remove()


def test_endpoints_and_version_everywhere(service):
    svc = service("1.1.0")
    wait_for(svc.url("/ready"))
    status, headers, body, _elapsed = request(svc.url("/health"))
    assert status == 200 and headers["X-App-Version"] == "1.1.0" and json.loads(body)["version"] == "1.1.0"
    status, headers, body, _elapsed = request(svc.url("/run-agent"), "POST", {"task": "summarise"})
    assert status == 200 and json.loads(body) == dict(json.loads(body), result="done", task={"task": "summarise"})
    assert request(svc.url("/run-agent"), "POST", None)[0] == 200
    assert request(svc.url("/nope"))[0] == 404
    metrics = request(svc.url("/metrics"))[2].decode()
    assert 'agent_info{version="1.1.0"} 1' in metrics
    assert 'agent_requests_total{path="/run-agent",status="200",version="1.1.0"} 2' in metrics
    assert 'agent_request_duration_seconds_bucket{path="/run-agent",version="1.1.0",le="+Inf"} 2' in metrics
    assert "process_resident_memory_bytes" in metrics


def test_two_versions_are_distinct_images(service):
    old, new = service("1.0.0"), service("1.1.0")
    wait_for(old.url("/ready")), wait_for(new.url("/ready"))
    assert request(old.url("/"))[1]["X-App-Version"] == "1.0.0"
    assert request(new.url("/"))[1]["X-App-Version"] == "1.1.0"


def test_error_rate_switch_fails_that_fraction(service):
    svc = service(FAULT_ERROR_RATE="0.05")
    wait_for(svc.url("/ready"))
    statuses = [request(svc.url("/"))[0] for _attempt in range(400)]
    assert statuses.count(500) == 20 and statuses.count(200) == 380
    assert request(svc.url("/health"))[0] == 200  # health is not a business endpoint


def test_faults_can_start_some_time_after_the_start(service):
    svc = service(FAULT_ERROR_RATE="1", FAULT_START_AFTER_S="8")
    wait_for(svc.url("/ready"))
    started = time.monotonic()
    before = [request(svc.url("/"))[0] for _attempt in range(5)]
    assert time.monotonic() - started < 4, "the requests before the fault took too long to tell"
    # The fault starts by itself, without a restart: the first 500 comes within its 8 s (and a margin).
    wait_for(svc.url("/"), status=500, deadline_s=15)
    after = [request(svc.url("/"))[0] for _attempt in range(5)]
    assert before == [200] * 5 and after == [500] * 5


def test_latency_switch_adds_latency(service):
    slow, fast = service(FAULT_LATENCY_MS="300"), service()
    wait_for(slow.url("/ready")), wait_for(fast.url("/ready"))
    slow_s = min(request(slow.url("/"))[3] for _attempt in range(5))
    fast_s = max(request(fast.url("/"))[3] for _attempt in range(5))
    assert slow_s >= 0.3 and fast_s < 0.2


def test_never_ready_switch(service):
    svc = service(FAULT_NEVER_READY="1")
    wait_for(svc.url("/health"))
    time.sleep(1)
    assert request(svc.url("/ready"))[0] == 503
    assert request(svc.url("/"))[0] == 200


def test_ready_delay(service):
    svc = service(READY_DELAY_S="2")
    wait_for(svc.url("/health"))
    assert request(svc.url("/ready"))[0] == 503
    wait_for(svc.url("/ready"), deadline_s=5)


def test_crash_at_start_switch(service):
    svc = service(FAULT_CRASH_AT_START="1")
    deadline = time.monotonic() + 10
    while svc.state()["Running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    state = svc.state()
    assert state["Running"] is False and state["ExitCode"] == 3
    assert "FAULT_CRASH_AT_START" in svc.logs("stderr")


def resident_bytes(svc):
    for line in request(svc.url("/metrics"))[2].decode().splitlines():
        if line.startswith("process_resident_memory_bytes"):
            return int(line.split()[1])
    raise AssertionError("no process_resident_memory_bytes in /metrics")


def test_memory_growth_switch(service):
    svc = service(FAULT_MEMORY_GROWTH_KB="512")
    wait_for(svc.url("/ready"))
    before = resident_bytes(svc)
    for _request_number in range(100):
        request(svc.url("/"))
    assert resident_bytes(svc) - before >= 40 * 1024 * 1024  # 100 x 512 KiB retained, allowing for paging


def test_sigterm_finishes_in_flight_requests(service):
    svc = service(FAULT_LATENCY_MS="1500")
    wait_for(svc.url("/ready"))
    results = []
    worker = threading.Thread(target=lambda: results.append(request(svc.url("/run-agent"), "POST", {"n": 1})))
    worker.start()
    time.sleep(0.4)  # the request is now in flight, sleeping in the handler
    stop = subprocess.run(["docker", "stop", "-t", "10", svc.name], capture_output=True, check=False)
    worker.join(10)
    assert stop.returncode == 0
    assert results and results[0][0] == 200, results
    state = svc.state()
    assert state["ExitCode"] == 0, state  # drained and exited by itself, not killed
    assert "drained" in svc.logs()
