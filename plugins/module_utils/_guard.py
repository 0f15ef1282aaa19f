# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""The guard after a switch: for a window, the rollback rules watch the version that just went
live, on live traffic; the first rule that fires sends every client back to the colour that was
live before (still warm), at once and on the host, with no round trip to the controller between
the verdict and nginx.

The analysis is the canary's (_analysis) with the new version as the candidate and the previous
one as the stable version. The previous version gets no traffic any more, so rules comparing the
two have no data; the seeds' absolute triggers (error rate, p95, health failures, memory) and
Prometheus figures do. A rule still pending, or too few requests, when the window ends is a
pass: the guard stops a version on evidence, it does not hold one back for lack of it.
"""

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils._analysis import run_in_parts
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import all_traffic_to, read_route


class GuardProblem(Exception):
    """The guard cannot switch back (no route to change)."""


def guard(analysis, site, previous_colour, previous_version, switch_back=True, progress_path=None, report_every=0):
    """Run ``analysis`` (a CanaryAnalysis) to its end, or, with ``report_every``, its next part
    (resumed from and kept at ``progress_path``); on a rollback verdict, point ``site`` (a
    SiteSwitch) at ``previous_colour`` when ``switch_back``. Returns the verdict with ``passed``
    (false until ``done``), ``fired_at`` (when the rule fired, seconds since the epoch),
    ``switched_back`` and ``switched_back_at``."""
    verdict = run_in_parts(analysis, progress_path, report_every)
    fired = verdict["decision"] == "rollback"
    outcome = dict(verdict, passed=verdict["done"] and not fired, fired_at=None, switched_back=False, switched_back_at=None)
    if not fired:
        return outcome
    outcome["fired_at"] = round(analysis.since + verdict["elapsed_s"], 3)
    if switch_back:
        route = read_route(site.route_path)
        if route is None:
            raise GuardProblem("no route file at %s to switch back with" % site.route_path)
        outcome["switched_back_at"] = site.apply_route(all_traffic_to(route, previous_colour, previous_version))["routed_at"]
        outcome["switched_back"] = True
    return outcome
