# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The summary table a run ends with: what the playbooks reported with set_stats (per host, the
result, versions, whether traffic moved, the wave, the reason), one readable line per host."""

from __future__ import annotations

import re

# The stats the playbooks report per host, and the columns each one shows (key, heading).
REPORTS = (
    ("rollout", "release", (("action", "action"), ("wave", "wave"), ("result", "result"), ("version", "version"),
                            ("from_version", "from"), ("traffic_switched", "traffic moved"), ("message", "what happened"))),
    ("status", "status", (("live_version", "live"), ("warm_version", "warm"), ("canary", "canary"), ("drift", "drift"),
                          ("message", "state"))),
    ("backup", "backup", (("result", "result"), ("backup_id", "backup"), ("message", "what happened"))),
    ("restore", "restore", (("result", "result"), ("backup_id", "backup"), ("version", "version"),
                            ("message", "what happened"))),
    ("maintenance", "maintenance", (("result", "result"), ("message", "what happened"))),
    ("logging", "logging", (("wave", "wave"), ("result", "result"), ("agent_type", "agent type"),
                            ("backup_id", "backup"))),
)
MESSAGE_WIDTH = 100
# How Ansible and Mitogen say that a host could not be reached or logged into (Mitogen reports a step of
# its connection chain that failed, sudo on the host say, as "error occurred on host ...").
CONNECTION_FAILURE = re.compile(r"error occurred on host|Connection timed out|EOF on stream|Failed to connect to the host|"
                                r"waiting for privilege escalation prompt|Incorrect sudo password|Missing sudo password", re.I)
CONNECTION_HINT = ("what to do: check that Ansible reaches %s as the playbook does (ansible -i INVENTORY HOST -m ansible.builtin.ping "
                   "--become), with the inventory's user, key and sudo password; a connection has the seconds of timeout in "
                   "ansible.cfg (30 in the collection's) to open: raise it for a slow host")


def cell(value):
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join("%s=%s" % (key, cell(item)) for key, item in sorted(value.items())) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(item) for item in value) or "-"
    text = " ".join(str(value).split())
    return text if len(text) <= MESSAGE_WIDTH else text[:MESSAGE_WIDTH - 3] + "..."


def canary_cell(canary):
    """A canary in a few words: ``2.0.0 at 20 % on green, step 1 of 2, held``."""
    if not isinstance(canary, dict):
        return cell(canary)
    share = canary.get("share")
    text = "%s at %s %% on %s" % (canary.get("version") or "?", "?" if share is None else "%g" % float(share),
                                  canary.get("colour") or "?")
    steps = canary.get("steps")
    if isinstance(steps, list) and isinstance(canary.get("step"), int):
        text += ", step %d of %d" % (canary["step"] + 1, len(steps))
    return text + (", %s" % canary["state"] if canary.get("state") else "")


# Columns whose value is a structure shown in a few words rather than key by key.
CELL_FORMATS = {"canary": canary_cell}


def table(rows, headings):
    widths = [max([len(heading)] + [len(row[index]) for row in rows]) for index, heading in enumerate(headings)]

    def line(cells):
        return "  ".join(text.ljust(width) for text, width in zip(cells, widths)).rstrip()
    return [line(headings), line(["-" * width for width in widths])] + [line(row) for row in rows]


def unreachable_reason(message):
    """The line of an unreachable host's message that says why (the last one: "Task failed: EOF on
    stream; last 100 lines received:" comes before the reason)."""
    lines = [line.strip() for line in str(message or "").splitlines() if line.strip()]
    return lines[-1] if lines else "unreachable"


def summary_lines(custom_stats, check_mode=False, unreachable=None):
    """The lines of the summary of a run's custom stats ({"_run": {...}} as set_stats leaves them,
    or the per-host dict straight away); empty when there is nothing to say. In check mode the
    titles say that the results are what the run would do. ``unreachable`` ({host: message}): the
    hosts Ansible could not reach, which report nothing themselves: a row in each report, and a line."""
    stats = (custom_stats or {}).get("_run", custom_stats or {})
    unreachable = dict((host, unreachable_reason(message)) for host, message in (unreachable or {}).items())
    lines = []
    for key, title, columns in REPORTS:
        report = stats.get(key)
        if not isinstance(report, dict) or not report:
            continue
        report = dict(report)
        for host, reason in unreachable.items():
            report.setdefault(host, {"result": "unreachable", "message": "unreachable: %s" % reason})
        used = [(field, heading) for field, heading in columns
                if any(isinstance(entry, dict) and field in entry for entry in report.values())]
        rows = [[host] + [CELL_FORMATS.get(field, cell)((entry or {}).get(field)) if isinstance(entry, dict) else cell(entry)
                          for field, unused_heading in used]
                for host, entry in sorted(report.items())]
        title_line = "nextgen.rollout %s summary%s" % (title, " (check mode: what the run would do; nothing was changed)"
                                                       if check_mode else "")
        lines += ["", title_line] + table(rows, ["host"] + [heading for unused_field, heading in used])
    if unreachable:
        lines += ["", "not reached (nothing was done there): %s" % "; ".join(
            "%s (%s)" % (host, reason) for host, reason in sorted(unreachable.items()))]
    not_connected = sorted(set(unreachable) | set(
        host for key, unused_title, unused_columns in REPORTS if isinstance(stats.get(key), dict)
        for host, entry in stats[key].items() if isinstance(entry, dict) and CONNECTION_FAILURE.search(str(entry.get("message") or ""))))
    if not_connected:
        lines.append(CONNECTION_HINT % ", ".join(not_connected))
    notices = stats.get("notifications")
    if isinstance(notices, dict) and (notices.get("sent") or notices.get("unsent")):
        unsent = ", ".join("%s (%s)" % (hook.get("name"), hook.get("reason")) for hook in notices.get("unsent") or [])
        lines += ["", "webhooks told: %s; not told: %s" % (", ".join(notices.get("sent") or []) or "none", unsent or "none")]
    return lines
