import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ansible_collections.nextgen.rollout.extensions.eda.plugins.event_source.alertmanager import alert_events, make_app


def notification(*alerts, status="firing"):
    return {"version": "4", "groupKey": '{}:{host="h1"}', "status": status, "receiver": "rollback",
            "groupLabels": {"host": "h1"}, "commonLabels": {"host": "h1"}, "externalURL": "http://am",
            "truncatedAlerts": 0, "alerts": list(alerts)}


def alert(name, status="firing", version="1.2.0"):
    return {"status": status, "labels": {"alertname": name, "host": "h1", "service": "agent-loop", "version": version},
            "annotations": {"summary": name}, "startsAt": "2026-12-02T05:00:00Z", "fingerprint": name}


def test_one_event_per_firing_alert_with_its_group():
    events = alert_events(notification(alert("A"), alert("B", "resolved"), alert("C")))
    assert [e["alert"]["labels"]["alertname"] for e in events] == ["A", "C"]
    assert events[0]["alertmanager"] == {"group_key": '{}:{host="h1"}', "status": "firing", "receiver": "rollback",
                                         "group_labels": {"host": "h1"}, "common_labels": {"host": "h1"},
                                         "external_url": "http://am", "truncated_alerts": 0}
    assert len(alert_events(notification(alert("B", "resolved")), skip_resolved=False)) == 1


@pytest.mark.parametrize("document, reason", [
    ({"alerts": "A"}, "no list of alerts"), ([], "no list of alerts"), ({"alerts": [{"status": "firing"}]}, "without labels"),
])
def test_what_is_not_a_notification_is_refused(document, reason):
    with pytest.raises(ValueError, match=reason):
        alert_events(document)


def post_all(token, requests):
    """Answers of the source's web app to each (body, headers), and what it queued."""
    async def run():
        queue = asyncio.Queue()
        client = TestClient(TestServer(make_app(queue, "/alerts", token)))
        await client.start_server()
        answers = []
        try:
            for body, headers in requests:
                response = await client.post("/alerts", data=body, headers=headers)
                answers.append((response.status, await response.json()))
        finally:
            await client.close()
        queued = []
        while not queue.empty():
            queued.append(queue.get_nowait())
        return answers, queued
    return asyncio.run(run())


def test_the_web_app_queues_the_alerts_and_checks_the_token():
    good = json.dumps(notification(alert("A"))).encode()
    answers, queued = post_all("s3cret", [
        (good, {"Authorization": "Bearer s3cret"}),
        (good, {}),
        (good, {"Authorization": "Bearer wrong"}),
        (b"not json", {"Authorization": "Bearer s3cret"}),
    ])
    assert [status for status, _body in answers] == [200, 401, 401, 400]
    assert answers[0][1] == {"events": 1} and answers[1][1] == {"error": "a bearer token is required"}
    assert answers[3][1]["error"].startswith("Expecting value")
    assert [e["alert"]["labels"]["alertname"] for e in queued] == ["A"]
