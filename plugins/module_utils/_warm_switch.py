# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""A warm rollback in one call on the host: the shortest path from "decided" to "switched".

When the version to roll back to still runs warm on the idle colour and the host is exactly as
the ledger says (nothing pending, no canary, nginx running its site, the route and the running
containers matching the ledger), a rollback is: take the deploy lock, note the intent, check the
warm colour still answers, move the route, verify through nginx, record, release the lock. The
same steps as the release process, with the same ledger verbs, without a round trip between them.

When the target is already live and the host as the ledger says, there is nothing to do: the
outcome says so (``already_live``) and nothing is written. Anything else (the target not warm, a
repair to make, the lock held...) is ``NotHere``: nothing was written, and the caller takes the
full release process, which handles and reports every case.
A verification that fails after the switch puts the route back, records the failure and raises
``SwitchFailed``.
"""

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils import _ledger as L
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import LockError
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import all_traffic_to, read_route, route_view, routed
from ansible_collections.nextgen.rollout.plugins.module_utils._reconcile import Refused, reconcile


class NotHere(Exception):
    """The one-call path does not apply; nothing was written."""


class SwitchFailed(Exception):
    """Traffic moved, the verification failed, traffic is back and the failure recorded."""


def plan(doc, route, site_loaded, running, target_version, warm_seconds, now, only_if_live=""):
    """The colour and version to switch to (``already_live`` when it is the live one), or NotHere with
    the reason. Pure. With ``only_if_live`` (an automated rollback names the version it found bad),
    only while nginx serves that version: otherwise the full path says that there is nothing to do."""
    if route is None:
        raise NotHere("the service has no route file yet")
    served_version = (routed(route) or {}).get("version")
    if only_if_live and served_version != only_if_live:
        raise NotHere("%s is not what nginx serves (%s)" % (only_if_live, served_version or "nothing"))
    if not site_loaded:
        raise NotHere("nginx does not run the site file (a run ended before its reload)")
    if doc.get("pending"):
        raise NotHere("a %s is pending in the ledger" % doc["pending"].get("op"))
    if doc.get("canary"):
        raise NotHere("a canary is in progress (rolling back aborts it)")
    try:
        found = reconcile(doc, route_view(route), running, route["ports"], warm_seconds, now)
    except Refused as exc:
        raise NotHere(str(exc))
    if found["findings"] or found["route"] or found["stop"]:
        raise NotHere("the host needs repairs: %s" % "; ".join(found["findings"] or ["colours to stop"]))
    summary = L.summary(doc)
    live = summary["live_colour"]
    note = ""
    if not target_version and summary["rollback_stays"]:
        target_version, note = summary["live_version"], summary["rollback_note"]
    target = target_version or summary["rollback_to"]
    if not target:
        raise NotHere("no version to roll back to")
    if target == summary["live_version"]:
        if (running.get(live) or {}).get("version") != target:
            raise NotHere("%s is live in the ledger but not running on %s" % (target, live))
        # Nothing to repair and nothing to move: a plain run of the full path would only say so, four calls later.
        return {"already_live": True, "colour": live, "version": target, "note": note}
    if warm_seconds <= 0:
        raise NotHere("warm_seconds is 0: the old colour is retired at once, which the full path does")
    idle = summary["idle_colour"]
    if not (summary["idle_version"] == target and summary["idle_state"] == "warm"
            and (running.get(idle) or {}).get("version") == target):
        raise NotHere("%s is not warm on the idle colour" % target)
    return {"colour": idle, "version": target, "from_colour": live, "from_version": summary["live_version"]}


def warm_rollback(release, site, holder, owner, lease_ttl, running, target_version, warm_seconds,
                  ready, verify, details=None, only_if_live=""):
    """Do the warm rollback. ``release`` is a _release.Release, ``site`` the service's SiteSwitch;
    ``ready(port)`` and ``verify(served)`` return (ok, figures). Returns the outcome."""
    try:
        release.lease.acquire(holder, "warm rollback to %s" % (target_version or "the previous version"),
                              lease_ttl, owner)
    except LockError as exc:
        raise NotHere(str(exc))
    try:
        doc = release.ledger.load()
        route = read_route(site.route_path)
        chosen = plan(doc, route, site.loaded(), running, target_version, warm_seconds, release.clock(), only_if_live)
        if chosen.get("already_live"):
            return dict(chosen, ledger=doc)
        ok, readiness = ready(route["ports"][chosen["colour"]])
        if not ok:
            raise NotHere("the warm colour %s does not answer ready: %s" % (chosen["colour"], readiness))
        doc = L.begin(doc, "rollback", holder, chosen["colour"], chosen["version"], False, release.clock(),
                      {"backup_id": None, "image": None})
        release.ledger.save(doc)
        switch_started = L.iso(release.clock())
        switched_at = site.apply_route(all_traffic_to(route, chosen["colour"], chosen["version"]))["routed_at"]
        ok, verification = verify("%s/%s" % (chosen["colour"], chosen["version"]))
        if not ok:
            site.apply_route(route)
            reason = "verification through nginx failed: %s" % verification
            release.ledger.save(L.failed(doc, reason, release.clock(), "Verify through nginx (one-call rollback)"))
            raise SwitchFailed("%s. Traffic is back on %s (%s)." % (reason, chosen["from_colour"],
                                                                    chosen["from_version"]))
        doc = L.succeeded(doc, warm_seconds, release.clock(), dict(
            details or {}, warm_switch=True, one_call=True, switch_started=switch_started,
            switched_at=switched_at, nginx_reload_s=None))
        release.ledger.save(doc)
        return dict(chosen, switched_at=switched_at, readiness=readiness, verification=verification,
                    ledger=doc)
    finally:
        release.lease.release(holder)


def release_outcome(service, done):
    """The release outcome the role reports (blue_green_outcome) for what warm_rollback returned."""
    if done.get("already_live"):
        note = ": " + done["note"] if done.get("note") else ""
        return {"action": "rollback", "result": "unchanged", "version": done["version"], "live_colour": done["colour"],
                "traffic_switched": False,
                "message": "%s %s is already live on %s%s" % (service, done["version"], done["colour"], note)}
    return {"action": "rollback", "result": "succeeded", "version": done["version"], "from_version": done["from_version"],
            "live_colour": done["colour"], "traffic_switched": True, "warm_switch": True, "backup_id": None,
            "message": "%s %s is live on %s (%s kept warm on %s)" % (
                service, done["version"], done["colour"], done["from_version"], done["from_colour"])}
