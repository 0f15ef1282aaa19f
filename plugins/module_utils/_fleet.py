# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet at a glance, from each host's reconciled status and ledger: one row per host, the
versions across the fleet, how far the newest version got (per wave, as seed 003 tracks a
migration), the recent releases with their figures, and the DORA figures the ledgers allow
(deployment frequency, lead time, change failure rate, time to restore)."""

from __future__ import annotations

import datetime
import html
import json
import os
import re

from ansible_collections.nextgen.rollout.plugins.module_utils._files import atomic_write_text
from ansible_collections.nextgen.rollout.plugins.module_utils._ledger import active_freeze, rollback_choice
from ansible_collections.nextgen.rollout.plugins.module_utils._waves import fleet_rollback_plan

RELEASES = ("deploy", "canary")
RECENT = 20


def parse_time(text):
    if not text:
        return None
    # Docker writes nanoseconds; Python reads at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(text).replace("Z", "+00:00"))
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _live_image(ledger):
    live = (ledger.get("live") or {}).get("version")
    images = [((entry.get("details") or {}).get("image")) for entry in ledger.get("history") or []
              if entry.get("version") == live and entry.get("result") == "succeeded"]
    images = [image for image in images if image]
    return images[-1] if images else None


def host_row(host, status, now=None):
    """One host: its service, what it serves, what is warm, its canary, its last release, drift, and
    its deploy freeze while it holds at ``now`` (seconds since the epoch)."""
    ledger = status.get("ledger") or {}
    freeze = ledger.get("freeze") or None
    if now is not None:
        freeze = active_freeze(freeze, datetime.datetime.fromtimestamp(now, datetime.timezone.utc))
    colours = ledger.get("colours") or {}
    live = ledger.get("live") or {}
    warm = [(colour, facts.get("version")) for colour, facts in sorted(colours.items())
            if (facts or {}).get("state") == "warm"]
    releases = [entry for entry in ledger.get("history") or [] if entry.get("action") in RELEASES + ("rollback", "restore")]
    last = releases[-1] if releases else None
    canary = ledger.get("canary") or status.get("canary")
    drift = list(status.get("repairs_next_run") or []) + ([status["error"]] if status.get("error") else [])
    if status.get("nginx_loaded") is False:
        drift.append("nginx has not loaded the site as written")
    return {"host": host, "service": ledger.get("service"), "live_version": live.get("version"),
            "live_colour": live.get("colour"), "image": _live_image(ledger),
            "warm_version": warm[0][1] if warm else None,
            "canary_share": (canary or {}).get("share") if canary else None,
            "last_release": ({"action": last.get("action"), "version": last.get("version"), "result": last.get("result"),
                              "time": last.get("time")} if last else None),
            "drift": drift, "lock": status.get("lock"), "error": status.get("error"), "frozen": freeze}


def _releases(ledgers):
    for host, ledger in sorted(ledgers.items()):
        for entry in ledger.get("history") or []:
            yield host, entry


def dora(ledgers, now, window_days=30):
    """The DORA figures of the releases (deploys and canaries) of the last ``window_days`` days:
    deployments per day that went live, lead time (from the image's creation to live, where the
    ledger recorded when the image was made), change failure rate (releases that went live and were
    then taken back, by a rollback or the guard, or failed after the switch), time to restore (from
    such a release going live to the rollback that restored the version before)."""
    since = now - window_days * 86400
    live_releases, failed_changes, lead_times, restore_times = 0, 0, [], []
    for host, ledger in ledgers.items():
        history = ledger.get("history") or []
        for index, entry in enumerate(history):
            when = parse_time(entry.get("time"))
            if entry.get("action") not in RELEASES or when is None or when < since:
                continue
            details = entry.get("details") or {}
            went_live = entry.get("result") == "succeeded" or (entry.get("result") == "failed" and details.get("guard"))
            if not went_live:
                continue
            live_releases += 1
            created = parse_time(details.get("image_created"))
            if created is not None and entry.get("result") == "succeeded":
                lead_times.append(max(0.0, when - created))
            later = history[index + 1:]
            undo = next((e for e in later if e.get("action") in ("rollback",) + RELEASES), None)
            if entry.get("result") == "failed":
                failed_changes += 1
                restore_times.append(0.0 if details.get("guard") else None)
            elif undo and undo.get("action") == "rollback" and undo.get("result") == "succeeded":
                failed_changes += 1
                restore_times.append(max(0.0, (parse_time(undo.get("time")) or when) - when))
    restore_times = [value for value in restore_times if value is not None]

    def mean(values):
        return round(sum(values) / len(values), 1) if values else None
    return {"window_days": window_days, "releases": live_releases,
            "deployment_frequency_per_day": round(live_releases / float(window_days), 3),
            "lead_time_s": mean(lead_times), "lead_time_known": len(lead_times),
            "change_failure_rate": round(failed_changes / float(live_releases), 3) if live_releases else None,
            "failed_changes": failed_changes, "time_to_restore_s": mean(restore_times)}


def wave_progress(rows, waves, version):
    """Per wave (lists of hosts), how many of its hosts serve ``version``: done / total. Without a
    version (no ledger read had one), no host is done."""
    by_host = dict((row["host"], row) for row in rows)
    progress = []
    for number, hosts in enumerate(waves):
        done = [host for host in hosts if version is not None and by_host.get(host, {}).get("live_version") == version]
        progress.append({"wave": number, "hosts": list(hosts), "done": len(done), "total": len(hosts)})
    return progress


def fleet_report(statuses, now, waves=None, window_days=30):
    """The whole report: rows, versions, progress of the newest version, recent releases, DORA."""
    rows = [host_row(host, status or {}, now) for host, status in sorted(statuses.items())]
    ledgers = dict((host, (status or {}).get("ledger") or {}) for host, status in statuses.items())
    versions = {}
    for row in rows:
        if row["live_version"]:
            versions.setdefault(row["live_version"], []).append(row["host"])
    recent = sorted(((host, entry) for host, entry in _releases(ledgers)
                     if entry.get("action") in RELEASES + ("rollback", "restore")),
                    key=lambda pair: (parse_time(pair[1].get("time")) or 0), reverse=True)[:RECENT]
    newest = next((entry.get("version") for unused_host, entry in recent
                   if entry.get("action") in RELEASES and entry.get("result") == "succeeded"), None)
    waves = waves or [[row["host"] for row in rows]]
    progress = wave_progress(rows, waves, newest)
    # Where playbooks/rollback.yml without a version would take each host of this report.
    plan = fleet_rollback_plan(dict(
        (host, dict(rollback_choice(ledger), live_version=(ledger.get("live") or {}).get("version"),
                    canary=ledger.get("canary"), pending=ledger.get("pending")))
        for host, ledger in ledgers.items() if ledger.get("live")))
    for row in rows:
        step = plan["hosts"].get(row["host"])
        row["rollback"] = ({"version": step["version"] or None, "moves": step["moves"], "note": step["note"]}
                           if step else None)
    return {"generated": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hosts": rows, "versions": dict((version, sorted(hosts)) for version, hosts in versions.items()),
            "newest_version": newest, "progress": progress,
            "done": sum(p["done"] for p in progress), "total": sum(p["total"] for p in progress),
            "recent": [dict(host=host, **dict((k, entry.get(k)) for k in ("time", "action", "version", "from_version",
                                                                          "result", "message", "details")))
                       for host, entry in recent],
            "dora": dora(ledgers, now, window_days),
            "rollback_problem": plan["problem"],
            "drifting": [row["host"] for row in rows if row["drift"]],
            "frozen": [row["host"] for row in rows if row["frozen"]]}


def _text(value):
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, (list, tuple)):
        return "; ".join(_text(item) for item in value)
    return str(value)


def frozen_text(freeze):
    """``incident 42 (alice-7)`` for a freeze, ``-`` without one."""
    if not freeze:
        return "-"
    return "%s (%s)" % (_text(freeze.get("reason")), _text(freeze.get("by")))


def rollback_text(rollback):
    """``-> 1.0.0`` where a rollback without a version moves the host, ``stays`` where it does not."""
    if not rollback or not rollback.get("version"):
        return "-"
    return ("-> %s" % rollback["version"]) if rollback["moves"] else "stays"


def table_lines(report):
    """The report's host table as text (what the playbook prints)."""
    headings = ["host", "service", "live", "image", "warm", "rollback", "canary", "last release", "frozen", "drift"]
    rows = []
    for row in report["hosts"]:
        last = row["last_release"]
        rows.append([row["host"], _text(row["service"]),
                     _text(row["live_version"]) + (" (%s)" % row["live_colour"] if row["live_colour"] else ""),
                     _text(row["image"]).rsplit("@", maxsplit=1)[-1][:19], _text(row["warm_version"]),
                     rollback_text(row.get("rollback")),
                     "%s %%" % row["canary_share"] if row["canary_share"] is not None else "-",
                     "%s %s %s" % (last["action"], last["version"], last["result"]) if last else "-",
                     frozen_text(row["frozen"])[:40], _text(row["drift"])[:60]])
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headings)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    lines = [line(headings), line(["-" * w for w in widths])] + [line(r) for r in rows]
    dora_figures = report["dora"]
    lines += ["", "%s of %s hosts serve %s; %s" % (report["done"], report["total"], _text(report["newest_version"]),
                                                   ", ".join("wave %d: %d/%d" % (p["wave"], p["done"], p["total"])
                                                             for p in report["progress"])),
              "DORA (%d days): %s releases, %s per day, lead time %s s, change failure rate %s, time to restore %s s" % (
                  dora_figures["window_days"], dora_figures["releases"], dora_figures["deployment_frequency_per_day"],
                  _text(dora_figures["lead_time_s"]), _text(dora_figures["change_failure_rate"]),
                  _text(dora_figures["time_to_restore_s"]))]
    return lines


STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;font-size:.9em}th{background:#f0f0f0}
.bar{background:#eee;width:12em;height:.9em;display:inline-block}.bar span{background:#3a7;height:100%;display:block}
.failed,.aborted,.drift{color:#b00}.succeeded{color:#070}.figures{font-family:monospace;font-size:.8em}"""


def _cells(values, tag="td"):
    return "<tr>%s</tr>" % "".join("<%s>%s</%s>" % (tag, html.escape(_text(v)), tag) for v in values)


def dashboard_html(report):
    """A self-contained page (no script, no outside resource) of the report."""
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>nextgen.rollout fleet</title>",
           "<style>%s</style></head><body>" % STYLE,
           "<h1>Fleet status</h1><p>Generated %s. <b id='done'>%d of %d</b> hosts serve <b>%s</b>.</p>" % (
               html.escape(report["generated"]), report["done"], report["total"], html.escape(_text(report["newest_version"])))]
    out.append("<h2>Waves</h2><table>" + _cells(["wave", "hosts", "done", "progress"], "th"))
    for item in report["progress"]:
        percent = 100.0 * item["done"] / item["total"] if item["total"] else 0
        out.append("<tr><td>%d</td><td>%s</td><td>%d / %d</td><td><span class='bar'><span style='width:%.0f%%'></span></span></td></tr>"
                   % (item["wave"], html.escape(", ".join(item["hosts"])), item["done"], item["total"], percent))
    out.append("</table><h2>Hosts</h2><table id='hosts'>" +
               _cells(["host", "service", "live version", "colour", "image", "warm", "rollback", "canary", "last release", "frozen",
                       "drift"], "th"))
    for row in report["hosts"]:
        last = row["last_release"] or {}
        out.append("<tr class='%s'>%s</tr>" % ("drift" if row["drift"] else "", "".join(
            "<td>%s</td>" % html.escape(_text(v)) for v in (
                row["host"], row["service"], row["live_version"], row["live_colour"], row["image"], row["warm_version"],
                rollback_text(row.get("rollback")),
                "%s %%" % row["canary_share"] if row["canary_share"] is not None else None,
                " ".join(_text(last.get(k)) for k in ("action", "version", "result", "time")) if last else None,
                frozen_text(row["frozen"]) if row["frozen"] else None, row["drift"]))))
    out.append("</table><h2>Versions</h2><table>" + _cells(["version", "hosts"], "th"))
    out += [_cells([version, ", ".join(hosts)]) for version, hosts in sorted(report["versions"].items())]
    dora_figures = report["dora"]
    out.append("</table><h2>DORA, last %d days</h2><table>" % dora_figures["window_days"] + _cells(
        ["releases", "per day", "lead time (s)", "change failure rate", "time to restore (s)"], "th") + _cells(
        [dora_figures["releases"], dora_figures["deployment_frequency_per_day"], dora_figures["lead_time_s"],
         dora_figures["change_failure_rate"], dora_figures["time_to_restore_s"]]) + "</table>")
    out.append("<h2>Recent releases</h2><table>" + _cells(["time", "host", "action", "version", "from", "result",
                                                           "message", "figures"], "th"))
    for item in report["recent"]:
        out.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class='%s'>%s</td><td>%s</td>"
                   "<td class='figures'>%s</td></tr>" % tuple(html.escape(_text(v)) for v in (
                       item["time"], item["host"], item["action"], item["version"], item["from_version"], item["result"],
                       item["result"], item["message"], json.dumps(item["details"] or {}, sort_keys=True)[:400])))
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"


def write_report(directory, report):
    """Write fleet-status.json and fleet-status.html in ``directory``; returns their paths and
    whether anything but the time of the report changed."""
    json_path = os.path.join(directory, "fleet-status.json")
    html_path = os.path.join(directory, "fleet-status.html")
    try:
        with open(json_path) as handle:
            before = json.load(handle)
    except (IOError, OSError, ValueError):
        before = None
    changed = before is None or dict(before, generated=None) != dict(report, generated=None)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    atomic_write_text(json_path, json.dumps(report, indent=1, sort_keys=True) + "\n", 0o644)
    atomic_write_text(html_path, dashboard_html(report), 0o644)
    return {"json": json_path, "html": html_path, "changed": changed}
