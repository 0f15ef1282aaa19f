# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""The per-host release ledger of a service, and its transitions.

``ledger.json`` (mode 0600, in a 0700 directory) says what is live, what each colour holds, the
canary in progress, the transition in progress (``pending``) and the history of every decision
with its figures. Writes are atomic (temporary file, fsync, rename).

Every change goes through one of the verbs below, which return a new document: ``begin`` writes
the intended transition before any container or traffic moves, ``switched`` says traffic moved,
``succeeded`` / ``failed`` close the transition, ``canary_share`` / ``canary_verdict`` /
``canary_end`` follow a canary, ``retiring`` / ``retired`` a warm colour taken down, ``freeze`` /
``unfreeze`` stop and allow new versions (a deploy freeze). What "a release happened"
means (new colour live, old colour warm until its retirement, canary cleared) is written once,
in ``succeeded``.
"""

from __future__ import annotations

import copy
import datetime
import errno
import json
import os

from ansible_collections.nextgen.rollout.plugins.module_utils._files import atomic_write_text
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import (
    FILE_MODE, ensure_dir, iso, parse_iso, utc_now)

COLOURS = ("blue", "green")
HISTORY_LIMIT = 500
OPERATIONS = ("deploy", "rollback", "canary", "restore")
# A version these put live is the way back from the one before it.
UNDOING_OPERATIONS = ("rollback", "restore")

# iso, parse_iso and utc_now are the ledger's time helpers for its callers too.
__all__ = ["COLOURS", "Ledger", "LedgerError", "TransitionError", "iso", "other_colour", "parse_iso", "summary",
           "utc_now"]


class LedgerError(Exception):
    pass


class TransitionError(LedgerError):
    """A verb that does not fit the state of the ledger."""


def atomic_write_json(path, document):
    ensure_dir(os.path.dirname(path) or ".")
    atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True) + "\n", FILE_MODE)


def read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise LedgerError("cannot read %s: %s" % (path, exc))
    except ValueError as exc:
        raise LedgerError("%s is not valid JSON (%s): move it aside and re-run, or restore it from a backup"
                          % (path, exc))


def empty_ledger(service):
    return {
        "service": service,
        "live": None,
        "colours": dict((c, {"version": None, "state": "empty"}) for c in COLOURS),
        "history": [],
        "canary": None,
        "pending": None,
    }


def other_colour(colour):
    return COLOURS[1] if colour == COLOURS[0] else COLOURS[0]


def summary(ledger):
    """The facts a playbook branches on, derived from the ledger in one place."""
    live = ledger.get("live") or {}
    live_colour = live.get("colour")
    idle_colour = other_colour(live_colour) if live_colour else COLOURS[0]
    idle = ledger["colours"].get(idle_colour, {})
    versions = []
    for entry in ledger["history"]:
        if entry.get("result") == "succeeded" and entry.get("version") and entry["version"] not in versions:
            versions.append(entry["version"])
    return dict({
        "live_colour": live_colour,
        "live_version": live.get("version"),
        "previous_version": live.get("previous_version"),
        "idle_colour": idle_colour,
        "idle_version": idle.get("version"),
        "idle_state": idle.get("state"),
        "deployed_versions": versions,
        "canary": ledger.get("canary"),
        "pending": ledger.get("pending"),
        "freeze": ledger.get("freeze"),
    }, **rollback_choice(ledger))


def rollback_choice(ledger):
    """Where a rollback that names no version goes (``rollback_to``), or why nowhere
    (``rollback_note``): the version live before the live one, when a deploy or a canary put the
    live one there. A version that a rollback or a restore put live is already the way back: going
    to the version before it would bring back the one just left, so ``rollback_stays`` (nothing to do)."""
    live = ledger.get("live") or {}
    version, previous, made_by = live.get("version"), live.get("previous_version"), live.get("made_by")
    if not version:
        return {"rollback_to": None, "rollback_stays": False, "rollback_note": "nothing is live yet"}
    if made_by in UNDOING_OPERATIONS:
        return {"rollback_to": None, "rollback_stays": True,
                "rollback_note": "%s went live by a %s%s; nothing to undo without a version%s"
                                 % (version, made_by, " from %s" % previous if previous else "",
                                    " (-e target_version=%s goes back to it)" % previous if previous else "")}
    if not previous:
        return {"rollback_to": None, "rollback_stays": False, "rollback_note": "no version was live before %s" % version}
    return {"rollback_to": previous, "rollback_stays": False,
            "rollback_note": "%s was live before %s%s" % (previous, version, " went live by a %s" % made_by if made_by else "")}


# The verbs ------------------------------------------------------------------------------------
def _copy(doc):
    doc = copy.deepcopy(doc)
    doc.setdefault("pending", None)
    doc.setdefault("canary", None)
    return doc


def _append(doc, entry, now):
    entry = dict((k, v) for k, v in entry.items() if v is not None)
    entry.setdefault("time", iso(now))
    entry["id"] = (doc["history"][-1]["id"] + 1) if doc["history"] else 1
    doc["history"] = (doc["history"] + [entry])[-HISTORY_LIMIT:]
    if entry.get("action") in ("deploy", "canary") and entry.get("result") in ("failed", "aborted"):
        # A counter outlives the capped history: Prometheus reads a decrease as a reset.
        failures = doc.setdefault("counters", {}).setdefault("deployment_failures", {})
        failures[entry.get("version") or "none"] = failures.get(entry.get("version") or "none", 0) + 1
    return entry


def _set_colour(doc, colour, now, **facts):
    if colour not in COLOURS:
        raise TransitionError("unknown colour %r (expected one of %s)" % (colour, ", ".join(COLOURS)))
    merged = dict(doc["colours"].get(colour) or {})
    merged.update(facts)
    if merged.get("state") != "warm":
        merged.pop("retire_at", None)
    merged["updated"] = iso(now)
    doc["colours"][colour] = merged


def _pending(doc):
    if not doc.get("pending"):
        raise TransitionError("no transition is in progress in the ledger of %s" % doc["service"])
    return doc["pending"]


def begin(doc, op, holder, colour, version, fresh, now, details=None):
    """Write the intended transition before anything moves: ``op`` puts ``version`` live on
    ``colour``; ``fresh`` when the colour's containers are (re)created for it."""
    if op not in OPERATIONS:
        raise TransitionError("unknown operation %r (expected one of %s)" % (op, ", ".join(OPERATIONS)))
    doc = _copy(doc)
    if doc["pending"]:
        raise TransitionError("a %s of %s is still pending in the ledger: reconcile first"
                              % (doc["pending"]["op"], doc["pending"]["version"]))
    live = doc.get("live") or {}
    doc["pending"] = {"op": op, "holder": holder, "colour": colour, "version": version, "fresh": bool(fresh),
                      "from_colour": live.get("colour"), "from_version": live.get("version"),
                      "phase": "begun", "started": iso(now), "details": details or {}}
    if fresh:
        # What the colour held, for a failure that leaves its containers as they were (failed's colour_kept).
        doc["pending"]["colour_before"] = copy.deepcopy(doc["colours"].get(colour))
        _set_colour(doc, colour, now, version=version, state="starting")
    return doc


def phase(doc, name, now, **facts):
    """Note how far the pending transition got (for example ``switching`` just before nginx moves)."""
    doc = _copy(doc)
    pending = _pending(doc)
    pending.update(facts, phase=name, phase_at=iso(now))
    return doc


def switched(doc, colour, version, now):
    """Traffic is on ``colour`` now: the ledger follows it at once, before any verification."""
    doc = _copy(doc)
    live = doc.get("live") or {}
    if live.get("colour") == colour and live.get("version") == version:
        return doc
    old_colour, old_version = live.get("colour"), live.get("version")
    previous = old_version if old_version != version else live.get("previous_version")
    doc["live"] = {"colour": colour, "version": version, "since": iso(now), "previous_version": previous}
    if old_version == version and live.get("made_by"):
        doc["live"]["made_by"] = live["made_by"]
    _set_colour(doc, colour, now, version=version, state="live")
    if old_colour and old_colour != colour:
        _set_colour(doc, old_colour, now, state="warm")
    if doc["pending"]:
        doc["pending"].update(phase="switched", phase_at=iso(now))
    return doc


def succeeded(doc, warm_seconds, now, details=None):
    """The pending release is done: its colour live, the old one warm until its retirement
    (``warm_seconds`` from now; 0 retires it at once), the canary cleared."""
    doc = _copy(doc)
    pending = _pending(doc)
    doc = switched(doc, pending["colour"], pending["version"], now)
    if pending["from_version"] != pending["version"]:
        # Which operation made the live version live: a rollback without a version reads it.
        doc["live"]["made_by"] = pending["op"]
    old = pending["from_colour"]
    if old and old != pending["colour"]:
        if warm_seconds > 0:
            _set_colour(doc, old, now, state="warm",
                        retire_at=iso(now + datetime.timedelta(seconds=warm_seconds)))
        else:
            _set_colour(doc, old, now, state="retired")
    doc["canary"] = None
    _append(doc, {"action": pending["op"], "version": pending["version"], "from_version": pending["from_version"],
                  "colour": pending["colour"], "result": "succeeded", "started": pending["started"],
                  "holder": pending["holder"], "details": dict(pending.get("details") or {}, **(details or {}))}, now)
    doc["pending"] = None
    return doc


def failed(doc, message, now, failed_task=None, details=None, colour_kept=False):
    """The pending transition failed; traffic stays where it is (the ledger's ``live``). With
    ``colour_kept``, the colour's containers were never replaced (a release command that failed): it
    keeps what it held, a warm version and its retirement included."""
    doc = _copy(doc)
    pending = _pending(doc)
    live = doc.get("live") or {}
    if pending["fresh"] and live.get("colour") != pending["colour"]:
        if colour_kept and pending.get("colour_before"):
            doc["colours"][pending["colour"]] = copy.deepcopy(pending["colour_before"])
        else:
            _set_colour(doc, pending["colour"], now, version=pending["version"], state="failed")
    if pending["op"] == "canary" and doc["canary"]:
        doc["canary"] = None
    _append(doc, {"action": pending["op"], "version": pending["version"], "from_version": pending["from_version"],
                  "colour": pending["colour"], "result": "failed", "started": pending["started"],
                  "holder": pending["holder"], "message": message, "failed_task": failed_task,
                  "details": dict(pending.get("details") or {}, **(details or {}))}, now)
    doc["pending"] = None
    return doc


def canary_share(doc, step, share, steps, hash_key, now):
    """The canary of the pending transition is about to get ``share`` % (written before nginx)."""
    doc = _copy(doc)
    pending = _pending(doc)
    if pending["op"] != "canary":
        raise TransitionError("the pending %s is not a canary" % pending["op"])
    canary = dict(doc["canary"] or {}, version=pending["version"], colour=pending["colour"],
                  stable_version=pending["from_version"], stable_colour=pending["from_colour"],
                  steps=steps, hash_key=hash_key)
    canary.update(step=step, share=share, state="running", updated=iso(now))
    doc["canary"] = canary
    _set_colour(doc, pending["colour"], now, version=pending["version"], state="canary")
    pending.update(phase="step", phase_at=iso(now))
    return doc


def canary_verdict(doc, analysis, hold, now):
    """Record the analysis of the current step; ``hold`` stops the canary there for an operator. A
    verdict of rollback also notes that the canary is being aborted."""
    doc = _copy(doc)
    pending = _pending(doc)
    canary = doc["canary"]
    if not canary:
        raise TransitionError("no canary is in progress in the ledger of %s" % doc["service"])
    analysis = analysis or {}
    details = {"started_at": analysis.get("since"), "figures": analysis.get("figures", {}),
               "last_sample": (analysis.get("series") or [None])[-1],
               "rules": analysis.get("rules", {}), "judge": analysis.get("judge"),
               "elapsed_s": analysis.get("elapsed_s", 0), "extensions": analysis.get("extensions", 0),
               "rate_window_s": analysis.get("rate_window_s", 0)}
    if analysis.get("per_host"):
        # A verdict on a wave of hosts (canary_scope fleet) keeps each host's own figures beside the wave's.
        details["per_host"] = analysis["per_host"]
    _append(doc, {"action": "canary-step", "version": canary["version"], "from_version": canary["stable_version"],
                  "colour": canary["colour"], "share": canary["share"], "result": analysis.get("decision"),
                  "holder": pending["holder"], "reasons": analysis.get("reasons", []), "details": details}, now)
    canary["state"] = "held" if hold and analysis.get("decision") == "promote" else "running"
    if analysis.get("decision") == "rollback":
        # The share goes to 0 right after this record: a run killed in between is finished by the next one.
        pending.update(phase="aborting", phase_at=iso(now), reason="; ".join(analysis.get("reasons") or []))
    if canary["state"] == "held":
        # A held canary outlives the run: nothing is pending until someone resumes or aborts it.
        doc["pending"] = None
    return doc


def resume(doc, holder, now):
    """Take up a canary left held or interrupted: it becomes the pending transition again."""
    doc = _copy(doc)
    canary = doc["canary"]
    if not canary:
        raise TransitionError("no canary is in progress in the ledger of %s" % doc["service"])
    doc["pending"] = {"op": "canary", "holder": holder, "colour": canary["colour"], "version": canary["version"],
                      "fresh": False, "from_colour": canary["stable_colour"],
                      "from_version": canary["stable_version"], "phase": "resumed", "started": iso(now),
                      "details": {}}
    canary["state"] = "running"
    return doc


def canary_end(doc, result, message, now, holder=None, details=None):
    """The canary is over without promotion (``result`` aborted): share 0, candidate stopped. A canary
    whose candidate failed before its first step (its readiness, its release command) has only the
    pending transition: it ends from that, with what the transition noted (its backup, its image)."""
    doc = _copy(doc)
    canary = doc["canary"]
    pending = doc["pending"] or {}
    recorded = dict(details or {})
    if not canary:
        if pending.get("op") != "canary":
            raise TransitionError("no canary is in progress in the ledger of %s" % doc["service"])
        canary = {"colour": pending["colour"], "version": pending["version"], "stable_version": pending["from_version"]}
        recorded = dict(pending.get("details") or {}, **recorded)
    _set_colour(doc, canary["colour"], now, version=canary["version"], state=result)
    _append(doc, {"action": "canary", "version": canary["version"], "from_version": canary["stable_version"],
                  "colour": canary["colour"], "result": result, "message": message,
                  "holder": holder or pending.get("holder"), "details": recorded}, now)
    doc["canary"] = None
    doc["pending"] = None
    return doc


def retiring(doc, colour, now):
    """The warm ``colour`` is about to be taken down (written before its containers stop)."""
    doc = _copy(doc)
    _set_colour(doc, colour, now, state="retiring")
    return doc


def retired(doc, colour, reason, now):
    doc = _copy(doc)
    version = (doc["colours"].get(colour) or {}).get("version")
    _set_colour(doc, colour, now, state="retired")
    _append(doc, {"action": "retire", "colour": colour, "version": version, "result": "succeeded",
                  "message": reason}, now)
    return doc


def freeze(doc, reason, by, now, until=None):
    """Deploys and canaries of new versions are refused until ``unfreeze`` or ``until`` (a time);
    rollbacks, restores and canary aborts still run. A freeze already there is replaced."""
    if not str(reason or "").strip():
        raise TransitionError("a freeze needs a reason: say why new versions must wait")
    doc = _copy(doc)
    doc["freeze"] = {"reason": str(reason).strip(), "by": by, "since": iso(now), "until": iso(until) if until else None}
    _append(doc, {"action": "freeze", "result": "succeeded", "message": doc["freeze"]["reason"],
                  "details": {"by": by, "until": doc["freeze"]["until"]}}, now)
    return doc


def unfreeze(doc, by, now, reason=None):
    """New versions are allowed again; nothing to do when there is no freeze."""
    if not doc.get("freeze"):
        return doc
    doc = _copy(doc)
    ended = doc.pop("freeze")
    _append(doc, {"action": "unfreeze", "result": "succeeded", "message": reason or "lifted",
                  "details": {"by": by, "frozen_since": ended.get("since"), "reason": ended.get("reason")}}, now)
    return doc


def active_freeze(freeze_facts, now):
    """The freeze (``freeze`` of the ledger) while it holds at ``now``, else None (none, or past its ``until``)."""
    if not freeze_facts:
        return None
    until = freeze_facts.get("until")
    if until and parse_iso(until) <= now:
        return None
    return freeze_facts


def note(doc, action, result, message, now, details=None):
    """A history entry that changes no state (a reconciliation's findings, for example)."""
    doc = _copy(doc)
    _append(doc, {"action": action, "result": result, "message": message, "details": details}, now)
    return doc


def label_value(text):
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_text(doc):
    """The ledger's figures in Prometheus text format, for node_exporter's textfile collector:
    ``deployment_failures_total`` by version (seed 002's DeploymentFailed alert reads it) and the
    live version."""
    service = label_value(doc["service"])
    lines = ["# HELP deployment_failures_total Deploys and canaries of the service that failed or were aborted.",
             "# TYPE deployment_failures_total counter"]
    for version, count in sorted(((doc.get("counters") or {}).get("deployment_failures") or {}).items()):
        lines.append('deployment_failures_total{service="%s",version="%s"} %d' % (service, label_value(version), count))
    lines += ["# HELP nextgen_release_live_info The version and colour the service's traffic goes to.",
              "# TYPE nextgen_release_live_info gauge"]
    live = doc.get("live") or {}
    if live.get("version"):
        lines.append('nextgen_release_live_info{service="%s",version="%s",colour="%s"} 1'
                     % (service, label_value(live["version"]), label_value(live.get("colour"))))
    lines += ["# HELP nextgen_release_live_since_seconds When the live version got the traffic (seconds since the epoch).",
              "# TYPE nextgen_release_live_since_seconds gauge"]
    if live.get("version") and live.get("since"):
        lines.append('nextgen_release_live_since_seconds{service="%s",version="%s",colour="%s"} %.3f'
                     % (service, label_value(live["version"]), label_value(live.get("colour")),
                        parse_iso(live["since"]).timestamp()))
    lines += ["# HELP nextgen_release_frozen Whether new versions of the service are refused (a deploy freeze).",
              "# TYPE nextgen_release_frozen gauge",
              'nextgen_release_frozen{service="%s"} %d' % (service, 1 if doc.get("freeze") else 0)]
    return "\n".join(lines) + "\n"


class Ledger(object):
    """``metrics_dir``: where save() also writes ``<service>.prom`` (metrics_text), readable by all."""

    def __init__(self, directory, service, metrics_dir=None):
        self.directory = directory
        self.service = service
        self.path = os.path.join(directory, "ledger.json")
        self.metrics_dir = metrics_dir

    def load(self):
        document = read_json(self.path)
        if document is None:
            return empty_ledger(self.service)
        if document.get("service") != self.service:
            raise LedgerError("%s belongs to service %r, not %r" % (self.path, document.get("service"), self.service))
        document.setdefault("pending", None)
        document.setdefault("canary", None)
        return document

    def save(self, ledger):
        atomic_write_json(self.path, ledger)
        if self.metrics_dir:
            if not os.path.isdir(self.metrics_dir):
                os.makedirs(self.metrics_dir)
                os.chmod(self.metrics_dir, 0o755)  # node_exporter reads it, whatever the umask
            atomic_write_text(os.path.join(self.metrics_dir, "%s.prom" % self.service), metrics_text(ledger), 0o644)
