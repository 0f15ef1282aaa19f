"""Notifications reach a real HTTP receiver on 127.0.0.1, and one that is down or silent costs at most its timeout."""
import json
import socket
import time

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._notify import (
    NotifyError, check_webhooks, event_document, release_event, send)

from support.receiver import Receiver


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_both_kinds_arrive_with_the_figures_and_reasons(receiver):
    document = event_document("failed", "agent-loop", "1.2.0", ["app-02", "app-01"],
                              {"duration_s": 41.5, "reasons": ["error_rate: 0.05 > 0.01 for 120 s"],
                               "traffic_switched": False}, now=0)
    result = send([{"name": "team", "url": receiver.url, "kind": "slack"},
                   {"name": "audit", "url": receiver.url}], document)
    assert result == {"sent": ["team", "audit"], "unsent": []}
    slack, plain = receiver.received
    assert slack["text"].startswith(":x: agent-loop 1.2.0 failed on app-01, app-02")
    assert {"title": "duration_s", "value": "41.5", "short": True} in slack["attachments"][0]["fields"]
    assert plain == {"event": "failed", "service": "agent-loop", "version": "1.2.0", "hosts": ["app-01", "app-02"],
                     "time": "1970-01-01T00:00:00Z", "duration_s": 41.5,
                     "reasons": ["error_rate: 0.05 > 0.01 for 120 s"], "traffic_switched": False}


def test_a_receiver_that_is_down_or_silent_costs_at_most_its_timeout_and_is_named_not_quoted():
    silent = Receiver(delay_s=5)
    try:
        started = time.monotonic()
        result = send([{"name": "down", "url": "http://127.0.0.1:%d/hook/secret-token" % closed_port()},
                       {"name": "silent", "url": silent.url, "timeout": 0.5},
                       {"name": "angry", "url": silent.url.replace("secret", "other"), "timeout": 0.5}],
                      event_document("started", "agent-loop", "1.2.0", ["app-01"]), timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert result["sent"] == []
    assert [f["name"] for f in result["unsent"]] == ["down", "silent", "angry"]
    assert result["unsent"][0]["reason"].startswith("connection refused")
    assert result["unsent"][1]["reason"].startswith("no answer within the timeout")
    assert elapsed < 2.5, elapsed
    assert "secret" not in json.dumps(result)


def test_an_error_status_is_a_failure():
    angry = Receiver(status=500)
    try:
        result = send([{"name": "angry", "url": angry.url}], event_document("completed", "svc", "1.0.0", ["h"]))
    finally:
        angry.close()
    assert result["unsent"][0]["reason"].startswith("it answered 500")


@pytest.mark.parametrize("webhooks, message", [
    ({"url": "http://x"}, "must be a list"),
    ([{"name": "team"}], "team has no url"),
    ([{"name": "team", "url": "ftp://x"}], "must start with http"),
    ([{"url": "http://x", "kind": "teams"}], "webhook 1: kind 'teams'"),
])
def test_bad_webhooks_are_refused_naming_them_not_their_url(webhooks, message):
    with pytest.raises(NotifyError, match=message):
        check_webhooks(webhooks)


def test_an_unknown_event_is_refused():
    with pytest.raises(NotifyError, match="event 'done' is not one of"):
        event_document("done", "svc", "1.0.0", [])


@pytest.mark.parametrize("results, success, event", [
    (["succeeded", "succeeded"], "completed", "completed"),
    (["succeeded"], "rolled_back", "rolled_back"),
    (["succeeded", "failed"], "completed", "failed"),
    (["refused"], "completed", "failed"),
    (["aborted", "succeeded"], "completed", "aborted"),
    (["held", "held"], "completed", "step_passed"),
    ([], "completed", "failed"),
    (["skipped", "succeeded"], "rolled_back", "rolled_back"),
    (["skipped", "skipped"], "rolled_back", "nothing_to_do"),
    (["skipped", "failed"], "rolled_back", "failed"),
    (["unchanged", "succeeded"], "completed", "completed"),
    (["unchanged"], "completed", "nothing_to_do"),
    (["succeeded", "succeeded"], "frozen", "frozen"),
    (["succeeded", "unchanged"], "unfrozen", "unfrozen"),
    (["succeeded", "failed"], "frozen", "failed"),
])
def test_the_event_of_a_run_follows_its_worst_host(results, success, event):
    outcomes = dict(("host-%d" % index, {"result": result}) for index, result in enumerate(results))
    assert release_event(outcomes, success) == event
