# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Bring the ledger in line with what the host really does, before a run changes anything.

A run may die anywhere (SIGKILL, lost SSH, a host reboot). What the next run finds is then told by
three witnesses: the site nginx serves (which colour gets the traffic, which gets a canary share),
the containers (their colour and version labels, running or not), and the ledger with the
transition it had begun (``pending``). Traffic is the truth for where clients go: the ledger
follows nginx. The pending transition is finished when traffic already reached it, undone
otherwise. Colours that nothing routes to and the ledger does not keep warm are stopped; a warm
colour past its retirement is retired. When traffic goes to a container that is not running and
no running colour of the ledger can take it, nothing is repaired: the run is refused with what was
found and what to run.

``reconcile`` is pure: the caller reads the witnesses, applies ``route`` (rewrite the site) and
``stop`` (take colours down), then saves the document.
"""

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils import _ledger as L


class Refused(Exception):
    """The state cannot be repaired safely; the message says what was found and what to run."""


def _routing(site, by_port):
    if not site:
        return None, None, 0.0
    served = by_port.get(site.get("live_port"))
    share = float(site.get("share") or 0)
    canary = by_port.get(site.get("canary_port")) if share > 0 else None
    return served, canary, (share if canary else 0.0)


def reconcile(doc, site, containers, ports, warm_seconds, now):
    """Returns dict(doc=, findings=[...], route=None or {live, canary, share}, stop=[colours],
    canary_aborted=whether it finished the abort of a canary, put_back=[colours whose files kept
    before a release must be put back: the colour keeps its warm version]).

    ``site``: {live_port, canary_port, share} of the site nginx has loaded (None: no site);
    ``containers``: {colour: {running, version}}; ``ports``: {colour: port}."""
    service = doc["service"]
    doc = L._copy(doc)
    findings, stop, route, canary_aborted, put_back = [], [], None, False, []
    by_port = dict((int(port), colour) for colour, port in ports.items())

    def running(colour):
        return bool((containers.get(colour) or {}).get("running"))

    def label(colour):
        return (containers.get(colour) or {}).get("version") or (doc["colours"].get(colour) or {}).get("version")

    served, canary_colour, share = _routing(site, by_port)
    ledger_live = (doc.get("live") or {}).get("colour")

    # 1. Clients must reach running containers.
    if site is not None and served is None:
        raise Refused("the nginx site of %s sends traffic to port %s, which is no colour's port (%s): the site was "
                      "changed by hand; put it back or deploy again" % (service, site.get("live_port"), ports))
    if (served and not running(served)) or (site is None and ledger_live):
        lost = served or "(no site)"
        if ledger_live and ledger_live != served and running(ledger_live):
            findings.append("nginx sent %s traffic to %s, whose container is not running: traffic goes back to %s "
                            "(%s), which runs" % (service, lost, ledger_live, label(ledger_live)))
            served, canary_colour, share = ledger_live, None, 0.0
            route = {"live": served, "canary": None, "share": 0}
        else:
            raise Refused("nginx sends %s traffic to colour %s, whose container is not running, and no other colour "
                          "of the ledger runs to take it: start it again (docker compose --project-name %s-%s up -d "
                          "on the host) or deploy a version with -e target_version=X"
                          % (service, ledger_live if site is None else served, service,
                             ledger_live if site is None else served))
    if canary_colour and not running(canary_colour):
        findings.append("nginx sent %s %% of clients to the canary on %s, whose container is not running: share "
                        "set to 0" % (share, canary_colour))
        canary_colour, share = None, 0.0
        route = {"live": served, "canary": None, "share": 0}

    # 2. The ledger's live colour follows nginx.
    if served and served != ledger_live:
        findings.append("nginx serves %s (%s) but the ledger said %s: the ledger now follows nginx"
                        % (served, label(served), ledger_live or "nothing live"))
        doc = L.switched(doc, served, label(served), now)
    elif served and label(served) != doc["live"]["version"]:
        findings.append("colour %s runs %s, not %s as the ledger said" % (served, label(served), doc["live"]["version"]))
        doc["live"]["version"] = label(served)
        L._set_colour(doc, served, now, version=label(served), state="live")

    # 3. The canary, as nginx routes it.
    pending = doc["pending"]
    canary = doc["canary"]
    if canary_colour:
        if not canary or canary.get("colour") != canary_colour:
            findings.append("nginx sends %s %% of clients to %s (%s), a canary the ledger did not know"
                            % (share, canary_colour, label(canary_colour)))
            canary = {"version": label(canary_colour), "colour": canary_colour, "stable_version": label(served),
                      "stable_colour": served, "step": 0, "steps": [{"share": share, "pause": 0}],
                      "hash_key": (site or {}).get("hash_key") or "$remote_addr"}
        elif float(canary.get("share") or 0) != share:
            findings.append("the canary of %s gets %s %% of clients, not %s %% as the ledger said"
                            % (canary["version"], share, canary.get("share")))
        canary = dict(canary, share=share)
        if canary.get("state") != "held":
            canary["state"] = "interrupted"
        doc["canary"] = canary
        L._set_colour(doc, canary_colour, now, version=canary["version"], state="canary")
        if pending:
            findings.append("the %s of %s stopped at %s %%: resume it with -e canary_action=resume or abort it with "
                            "-e canary_action=abort" % (pending["op"], pending["version"], share))
            doc["pending"] = None
    elif canary and served != canary["colour"]:
        if (pending and pending.get("phase") == "aborting") or not running(canary["colour"]):
            findings.append("the canary of %s had no share left in nginx: its abort is finished" % canary["version"])
            doc = L.canary_end(doc, "aborted", "abort finished by the reconciliation of a later run", now)
            canary_aborted = True
            if running(canary["colour"]):
                stop.append(canary["colour"])
        else:
            if float(canary.get("share") or 0) != 0 or canary.get("state") == "running":
                findings.append("the canary of %s gets no clients (nginx has no split): it holds at 0 %%; resume it "
                                "with -e canary_action=resume or abort it with -e canary_action=abort"
                                % canary["version"])
            doc["canary"] = dict(canary, share=0.0, state="held" if canary.get("state") == "held" else "interrupted")
            doc["pending"] = None

    # 4. A transition whose run is gone: finished if traffic reached it, undone otherwise.
    pending = doc["pending"]
    if pending:
        if served == pending["colour"] and label(served) == pending["version"]:
            findings.append("the %s of %s reached traffic before its run ended: recorded as done"
                            % (pending["op"], pending["version"]))
            doc = L.succeeded(doc, warm_seconds, now, details={"completed_by": "reconciliation"})
        else:
            said = "the %s of %s ended before traffic moved: undone, %s keeps serving" % (
                pending["op"], pending["version"], label(served) if served else "nothing")
            colour, before = pending["colour"], pending.get("colour_before") or {}
            # Killed before the colour's containers were replaced (during its release command, say): the
            # warm version it held still runs there, and stays the way back.
            kept = (colour != served and before.get("state") == "warm" and running(colour)
                    and containers[colour].get("version") == before.get("version"))
            if kept:
                said += "; %s stays warm on %s" % (before["version"], colour)
                put_back.append(colour)
            findings.append(said)
            doc = L.failed(doc, "interrupted before the switch", now, details={"completed_by": "reconciliation"},
                           colour_kept=kept)

    # 5. Containers against the colours the ledger keeps.
    live_colour = (doc.get("live") or {}).get("colour")
    for colour in L.COLOURS:
        facts = doc["colours"].get(colour) or {}
        if colour == live_colour or (doc["canary"] and doc["canary"]["colour"] == colour) or colour in stop:
            continue
        if facts.get("state") == "warm":
            if not running(colour):
                findings.append("warm colour %s (%s) is not running: no instant rollback to it" % (colour, label(colour)))
                L._set_colour(doc, colour, now, state="retired")
            elif facts.get("retire_at") and L.parse_iso(facts["retire_at"]) <= now:
                stop.append(colour)
                doc = L.retired(doc, colour, "warm window over (retire at %s)" % facts["retire_at"], now)
        elif facts.get("state") == "retiring" and not running(colour):
            findings.append("the retirement of colour %s was interrupted after its containers stopped: done" % colour)
            doc = L.retired(doc, colour, "retirement finished by the reconciliation of a later run", now)
        elif running(colour):
            findings.append("colour %s runs %s, but nothing routes to it and it is not kept warm: stopped"
                            % (colour, label(colour)))
            stop.append(colour)
            if facts.get("state") not in ("failed", "aborted", "retired"):
                L._set_colour(doc, colour, now, state="retired")

    if findings:
        doc = L.note(doc, "reconcile", "repaired", "; ".join(findings), now)
    return {"doc": doc, "findings": findings, "route": route, "stop": stop, "canary_aborted": canary_aborted,
            "put_back": put_back}
