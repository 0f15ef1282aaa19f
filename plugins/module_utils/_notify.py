# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Deployment notifications to webhooks: a Slack-compatible one and a generic JSON one.

A notification never fails or holds up the release it reports: each webhook gets one POST with a
deadline, and what could not be delivered is returned (and said in the outcome), never raised.
The URLs are credentials (a Slack webhook URL is its own secret): they never appear in what is
returned, only the webhook's name.
"""

from __future__ import annotations

import json
import time

from ansible.module_utils.urls import open_url

EVENTS = ("started", "step_passed", "completed", "failed", "aborted", "rolled_back", "nothing_to_do", "frozen", "unfrozen")
KINDS = ("slack", "json")
ICONS = {"started": ":rocket:", "step_passed": ":white_check_mark:", "completed": ":tada:", "failed": ":x:",
         "aborted": ":no_entry:", "rolled_back": ":leftwards_arrow_with_hook:",
         "nothing_to_do": ":zzz:", "frozen": ":snowflake:", "unfrozen": ":sunny:"}


class NotifyError(ValueError):
    pass


def check_webhooks(webhooks):
    """Raise NotifyError, naming the webhook (never its URL), for a malformed list."""
    if not isinstance(webhooks, list):
        raise NotifyError("the webhooks must be a list of {name, url, kind}")
    for index, hook in enumerate(webhooks):
        name = hook.get("name") if isinstance(hook, dict) else None
        label = name or "webhook %d" % (index + 1)
        if not isinstance(hook, dict) or not hook.get("url"):
            raise NotifyError("%s has no url" % label)
        if not str(hook["url"]).startswith(("http://", "https://")):
            raise NotifyError("%s: the url must start with http:// or https://" % label)
        if (hook.get("kind") or "json") not in KINDS:
            raise NotifyError("%s: kind %r is not one of %s" % (label, hook.get("kind"), ", ".join(KINDS)))


def event_document(event, service, version, hosts, details=None, now=None):
    """The generic JSON body: the event, what it is about, and the figures and reasons given."""
    if event not in EVENTS:
        raise NotifyError("event %r is not one of %s" % (event, ", ".join(EVENTS)))
    document = {"event": event, "service": service, "version": version, "hosts": sorted(hosts or []),
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now if now is not None else time.time()))}
    document.update(details or {})
    return document


def slack_body(document):
    """A Slack incoming-webhook body (text, and the fields as one attachment)."""
    text = "%s %s %s %s on %s" % (ICONS[document["event"]], document["service"], document.get("version") or "",
                                  document["event"].replace("_", " "), ", ".join(document["hosts"]) or "no host")
    fields = [{"title": key, "value": value if isinstance(value, str) else json.dumps(value, sort_keys=True),
               "short": len(str(value)) < 40}
              for key, value in sorted(document.items()) if key not in ("event", "service", "hosts", "time")]
    colour = "good" if document["event"] in ("completed", "step_passed") else \
        "danger" if document["event"] in ("failed", "aborted", "rolled_back") else "#439FE0"
    return {"text": text, "attachments": [{"color": colour, "fields": fields, "ts": int(time.time())}]}


def send(webhooks, document, timeout=5.0, opener=open_url):
    """POST ``document`` to each webhook; returns {"sent": [names], "unsent": [{name, reason}]}.
    Each webhook has ``timeout`` seconds at most; nothing raises."""
    sent, unsent = [], []
    for index, hook in enumerate(webhooks or []):
        name = hook.get("name") or "webhook %d" % (index + 1)
        body = slack_body(document) if hook.get("kind") == "slack" else document
        started = time.monotonic()
        try:
            response = opener(hook["url"], method="POST", data=json.dumps(body, sort_keys=True),
                              headers={"Content-Type": "application/json"}, timeout=float(hook.get("timeout") or timeout),
                              validate_certs=hook.get("validate_certs") is not False)
            status = response.getcode()
            if not 200 <= status < 300:
                raise IOError("it answered %d" % status)
            sent.append(name)
        except Exception as exc:  # pylint: disable=broad-except
            # urllib's errors can quote the URL: keep only the kind of failure.
            unsent.append({"name": name, "reason": "%s after %.1f s" % (failure_kind(exc), time.monotonic() - started)})
    return {"sent": sent, "unsent": unsent}


def failure_kind(exc):
    text = str(getattr(exc, "reason", "") or exc)
    code = getattr(exc, "code", None)
    if code:
        return "it answered %s" % code
    for word, kind in (("timed out", "no answer within the timeout"), ("refused", "connection refused"),
                       ("Name or service", "the name does not resolve"), ("answered", text)):
        if word in text:
            return kind
    return type(exc).__name__


def release_event(outcomes, success="completed"):
    """The event of a run from each host's outcome (``{host: {"result": ...}}``): nothing_to_do when
    every host skipped or was unchanged, else failed when a host failed or was refused, else aborted when a canary was
    aborted, else step_passed when every host holds at a canary step, else ``success`` (completed, or
    rolled_back for a rollback)."""
    if success not in EVENTS:
        raise NotifyError("event %r is not one of %s" % (success, ", ".join(EVENTS)))
    results = [(outcome or {}).get("result") for outcome in (outcomes or {}).values()]
    # A host skipped (the version a rollback named is not live there) or unchanged (the version
    # asked for was already live) changed nothing, and is not a failure.
    quiet = ("skipped", "unchanged")
    if results and all(result in quiet for result in results):
        return "nothing_to_do"
    results = [result for result in results if result not in quiet]
    if not results or any(result not in ("succeeded", "held", "aborted") for result in results):
        return "failed"
    if "aborted" in results:
        return "aborted"
    if all(result == "held" for result in results):
        return "step_passed"
    return success
