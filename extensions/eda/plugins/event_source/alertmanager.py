# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An ansible-rulebook event source: Alertmanager's webhook, one event per alert.

nextgen.rollout.alertmanager listens for Alertmanager's webhook notifications (POST, JSON,
version 4) and puts one event per alert on the rulebook's queue:

    {"alert": {"status", "labels", "annotations", "startsAt", "endsAt", "fingerprint", ...},
     "alertmanager": {"group_key", "status", "receiver", "group_labels", "common_labels",
                      "external_url", "truncated_alerts"}}

Arguments (all optional):
    host            address to listen on (default 127.0.0.1)
    port            port to listen on (default 5001)
    path            path Alertmanager posts to (default /alerts)
    token           a bearer token Alertmanager must send (http_config.authorization); keep it in a vault
    skip_resolved   drop alerts whose status is "resolved" (default true)

Anything that is not a webhook notification is answered with 400 (or 401 without the token) and
puts nothing on the queue. The ansible.eda collection has an Alertmanager source too; this one is
the collection's own, so that a controller without Galaxy access can run the rulebook.
"""

from __future__ import annotations

import asyncio
import hmac
import json

from aiohttp import web


def alert_events(document, skip_resolved=True):
    """The events of one webhook notification (a dict), or ValueError when it is not one."""
    if not isinstance(document, dict) or not isinstance(document.get("alerts"), list):
        raise ValueError("not an Alertmanager webhook notification: no list of alerts")
    group = {"group_key": document.get("groupKey"), "status": document.get("status"),
             "receiver": document.get("receiver"), "group_labels": document.get("groupLabels") or {},
             "common_labels": document.get("commonLabels") or {}, "external_url": document.get("externalURL"),
             "truncated_alerts": document.get("truncatedAlerts", 0)}
    events = []
    for alert in document["alerts"]:
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise ValueError("an alert without labels")
        if skip_resolved and alert.get("status") == "resolved":
            continue
        events.append({"alert": alert, "alertmanager": group})
    return events


def make_app(queue, path="/alerts", token=None, skip_resolved=True):
    async def receive(request):
        if token:
            sent = request.headers.get("Authorization", "")
            if not hmac.compare_digest(sent.encode("utf-8"), ("Bearer " + token).encode("utf-8")):
                return web.json_response({"error": "a bearer token is required"}, status=401)
        try:
            events = alert_events(json.loads(await request.text()), skip_resolved)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        for event in events:
            await queue.put(event)
        return web.json_response({"events": len(events)})

    app = web.Application()
    app.router.add_post(path, receive)
    return app


async def main(queue, args):
    app = make_app(queue, args.get("path", "/alerts"), args.get("token"), bool(args.get("skip_resolved", True)))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, args.get("host", "127.0.0.1"), int(args.get("port", 5001)))
    await site.start()
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    # A quick look without ansible-rulebook: print the events of what is posted.
    class PrintQueue(object):
        async def put(self, event):
            print(json.dumps(event), flush=True)

    asyncio.run(main(PrintQueue(), {}))
