#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: notify
short_description: Tell webhooks about a deployment event, without ever holding the deployment up
version_added: 1.0.0
description:
  - POSTs one event of a release (V(started), V(step_passed), V(completed), V(failed), V(aborted),
    V(rolled_back), V(nothing_to_do), V(frozen), V(unfrozen) for a deploy freeze and its lift) to each webhook - a
    Slack-compatible one (text and the figures as an attachment) or a generic JSON one (the event, service, version, hosts, time, and every key of O(details)).
  - Each webhook gets one attempt with a deadline of O(timeout) seconds (or its own C(timeout)). A
    webhook that is down, slow or answers an error is reported in RV(unsent) with the reason; the
    module itself never fails for it, so a notification can neither fail nor delay a deploy beyond
    its timeout.
  - The URLs are secrets (a Slack webhook URL is its own credential); they are never returned, and
    O(webhooks[].url) is C(no_log) (the names are not, so that reports can say which webhook failed).
  - A malformed O(webhooks) list or an unknown O(event) fails, naming the webhook (never its URL).
  - "Meant to run on the controller (C(delegate_to: localhost), C(run_once))."
options:
  webhooks:
    description: The webhooks to tell.
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description: Where to POST (C(http://) or C(https://)); a secret, never shown or returned.
        type: str
        required: true
      name:
        description: What reports call it (default V(webhook N), its place in the list).
        type: str
      kind:
        description: V(slack) (text and the figures as an attachment) or V(json) (the event document as it is).
        type: str
        choices: [json, slack]
        default: json
      timeout:
        description: Seconds this webhook has to answer (default O(timeout)).
        type: float
      validate_certs:
        description: Check the certificate of an https URL.
        type: bool
        default: true
  event:
    description: What happened.
    type: str
    required: true
    choices: [started, step_passed, completed, failed, aborted, rolled_back, nothing_to_do, frozen, unfrozen]
  service:
    description: The service released.
    type: str
    required: true
  version:
    description: The version released (or rolled back to).
    type: str
  hosts:
    description: The hosts it concerns.
    type: list
    elements: str
    default: []
  details:
    description: Figures, durations and reasons, sent as they are (JSON) or as attachment fields (Slack).
    type: dict
    default: {}
  timeout:
    description: Seconds each webhook has to answer.
    type: float
    default: 5.0
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Say the deploy failed, and why
  nextgen.rollout.notify:
    webhooks: "{{ rollout_webhooks }}"
    event: failed
    service: agent-loop
    version: 1.2.0
    hosts: "{{ ansible_play_hosts_all }}"
    details:
      traffic_switched: false
      reasons: ["readiness of green not healthy within 30 s"]
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
sent:
  description: Names of the webhooks that took the event (a 2xx answer).
  returned: always
  type: list
  elements: str
unsent:
  description: The webhooks that did not, each with C(name) and C(reason) (never the URL).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._notify import (
    EVENTS, NotifyError, check_webhooks, event_document, send)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            # Only the URL is secret: the names must stay readable in what the module reports.
            webhooks=dict(type="list", elements="dict", required=True, options=dict(
                url=dict(type="str", required=True, no_log=True), name=dict(type="str"),
                kind=dict(type="str", choices=["json", "slack"], default="json"),
                timeout=dict(type="float"), validate_certs=dict(type="bool", default=True))),
            event=dict(type="str", required=True, choices=list(EVENTS)),
            service=dict(type="str", required=True),
            version=dict(type="str"),
            hosts=dict(type="list", elements="str", default=[]),
            details=dict(type="dict", default={}),
            timeout=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        check_webhooks(p["webhooks"])
        document = event_document(p["event"], p["service"], p["version"], p["hosts"], p["details"])
    except NotifyError as exc:
        module.fail_json(msg="notify: %s" % exc)
    if module.check_mode:
        module.exit_json(changed=False, sent=[], unsent=[])
    result = send(p["webhooks"], document, p["timeout"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
