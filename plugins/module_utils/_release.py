# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""The release_ledger module's work, without Ansible: one call reads the ledger, checks that the
run still holds the lease and renews it, applies one transition verb, and saves."""

from __future__ import annotations

import datetime
import os

from ansible_collections.nextgen.rollout.plugins.module_utils import _ledger as L
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import Lease
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import read_route, route_everyone_to_live, routed
from ansible_collections.nextgen.rollout.plugins.module_utils._reconcile import reconcile

TRANSITIONS = ("begin", "phase", "switched", "succeeded", "failed", "canary_share", "canary_verdict",
               "canary_resume", "canary_end", "retired", "freeze", "unfreeze")


def transition(doc, action, p, now):
    """Apply the verb ``action`` with the module parameters ``p``."""
    if action == "begin":
        return L.begin(doc, p["op"], p["holder"], p["colour"], p["version"], p["fresh"], now, p["details"])
    if action == "phase":
        return L.phase(doc, p["phase"], now, **(p["details"] or {}))
    if action == "switched":
        return L.switched(doc, p["colour"], p["version"], now)
    if action == "succeeded":
        return L.succeeded(doc, p["warm_seconds"], now, p["details"])
    if action == "failed":
        return L.failed(doc, p["reason"] or "failed", now, p["failed_task"], p["details"], p.get("colour_kept"))
    if action == "canary_share":
        return L.canary_share(doc, p["step"], p["share"], p["steps"], p["hash_key"], now)
    if action == "canary_verdict":
        return L.canary_verdict(doc, p["analysis"], p["hold"], now)
    if action == "canary_resume":
        return L.resume(doc, p["holder"], now)
    if action == "canary_end":
        return L.canary_end(doc, p["result"] or "aborted", p["reason"] or "", now, p["holder"], p["details"])
    if action == "retired":
        return L.retired(doc, p["colour"], p["reason"] or "retired", now)
    if action == "freeze":
        hours = p.get("freeze_hours")
        return L.freeze(doc, p["reason"], p["holder"], now, now + datetime.timedelta(hours=hours) if hours else None)
    if action == "unfreeze":
        return L.unfreeze(doc, p["holder"], now, p["reason"])
    raise L.TransitionError("unknown action %r" % action)


# compose's label of a container made by `docker compose run` (the release command's): not one of the colour's services.
ONE_OFF_LABEL = "com.docker.compose.oneoff"


def running_colours(containers, service):
    """{colour: {running, version}} from docker_host_info's verbose list of running containers
    (the one-off container of a release command left running by a killed run is not the colour)."""
    found = {}
    for container in containers or []:
        labels = container.get("Labels") or container.get("Config", {}).get("Labels") or {}
        if labels.get("nextgen.rollout.service") != service or labels.get("nextgen.rollout.colour") not in L.COLOURS:
            continue
        if labels.get(ONE_OFF_LABEL) == "True":
            continue
        found[labels["nextgen.rollout.colour"]] = {"running": True, "version": labels.get("nextgen.rollout.version")}
    return found


def docker_service_containers(run, service):
    """The running containers of ``service`` from the docker CLI: [{colour, version, one_off, name}];
    ``run(argv) -> (rc, stdout, stderr)``. Raises OSError when docker does not answer."""
    fields = ['{{.Label "nextgen.rollout.colour"}}', '{{.Label "nextgen.rollout.version"}}', '{{.Label "%s"}}' % ONE_OFF_LABEL, "{{.Names}}"]
    rc, out, err = run(["docker", "ps", "--filter", "label=nextgen.rollout.service=%s" % service, "--format", "|".join(fields)])
    if rc != 0:
        raise OSError("docker ps failed: %s" % ((err or out).strip() or "exit code %d" % rc))
    found = []
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 4 and parts[0] in L.COLOURS:
            found.append({"colour": parts[0], "version": parts[1], "one_off": parts[2] == "True", "name": parts[3]})
    return found


def colours_of(containers):
    """{colour: {running, version}} of docker_service_containers' list, one-off containers left out."""
    return dict((c["colour"], {"running": True, "version": c["version"]}) for c in containers if not c["one_off"])


def docker_running_colours(run, service):
    """running_colours' shape from the docker CLI, for a module that lists the containers itself."""
    return colours_of(docker_service_containers(run, service))


def remove_left_one_offs(run, containers):
    """Remove the one-off containers (a release command's) in ``containers``: called under the deploy
    lock, so a run that was killed left them running. Returns (whether any was removed, the findings that say so)."""
    names = sorted(c["name"] for c in containers if c["one_off"])
    if not names:
        return False, []
    rc, out, err = run(["docker", "rm", "--force"] + names)
    if rc != 0:
        return False, ["the release command container(s) %s that a killed run left running could not be removed (%s): "
                       "remove them with docker rm --force" % (", ".join(names), (err or out).strip() or "exit code %d" % rc)]
    return True, ["the release command container(s) %s that a killed run left running are removed" % ", ".join(names)]


class Release(object):
    def __init__(self, state_dir, service, clock=L.utc_now, metrics_dir=None):
        self.service = service
        directory = os.path.join(state_dir, service)
        self.ledger = L.Ledger(directory, service, metrics_dir)
        self.lease = Lease(directory, service, clock=clock)
        self.clock = clock

    def run(self, action, p, check_mode, site=None, running=None):
        """Returns (changed, document, extra result). ``site`` is the SiteSwitch of the service's
        nginx site and ``running`` the colours that run (else read from p["containers"]), for the reconciliation."""
        doc = self.ledger.load()
        extra = {"lock": self.lease.read()}
        if action == "read":
            if site is not None:
                extra["routed"] = routed(read_route(site.route_path))
            return False, doc, extra
        if p["holder"] and not check_mode:
            extra["lock"] = self.lease.renew(p["holder"], p["lease_ttl"])
        now = self.clock()
        if action == "reconcile":
            if site is not None and not check_mode:
                extra["nginx"] = site.ensure_loaded()
            route = site.routing() if site is not None else None
            extra["nginx_loaded"] = site.loaded() if site is not None else None
            if running is None:
                running = running_colours(p["containers"], self.service)
            outcome = reconcile(doc, route, running, p["ports"], p["warm_seconds"], now)
            extra.update(findings=outcome["findings"], route=outcome["route"], stop=outcome["stop"],
                         canary_aborted=outcome["canary_aborted"], put_back=outcome["put_back"], site_route=route, running=running)
            new = outcome["doc"]
        else:
            try:
                new = transition(doc, action, p, now)
            except L.TransitionError:
                if not check_mode:
                    raise
                # In check mode the earlier verbs of the run wrote nothing: report the change only.
                return True, doc, extra
        changed = new != doc
        if changed and not check_mode:
            self.ledger.save(new)
        if (action == "canary_verdict" and p.get("route_back") and site is not None and not check_mode
                and (p["analysis"] or {}).get("decision") == "rollback"):
            # The ledger says "aborting" first, so a run killed between the two writes is finished
            # by the next one; in the same call, so that the share is 0 within moments of the verdict.
            extra["routed_at"] = route_everyone_to_live(site)
            changed = True
        return changed, new, extra
