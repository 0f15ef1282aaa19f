# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Split a fleet into a pilot and waves of given percentages, never all at once."""

from __future__ import annotations


class WavePlanError(ValueError):
    pass


def wave_sizes(total, pilot=1, percents=(20, 50, 30)):
    """Batch sizes for Ansible's ``serial``: the pilot first, then the rest of the fleet split by
    ``percents`` (largest remainder, so the sizes add up exactly). Empty waves are dropped."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise WavePlanError("the fleet size must be a whole number >= 0, got %r" % (total,))
    if isinstance(pilot, bool) or not isinstance(pilot, int) or pilot < 0:
        raise WavePlanError("the pilot size must be a whole number >= 0, got %r" % (pilot,))
    shares = list(percents or [])
    for share in shares:
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 100:
            raise WavePlanError("each wave is a percentage above 0 and at most 100, got %r" % (share,))
    if shares and abs(sum(shares) - 100) > 1e-9:
        raise WavePlanError("the wave percentages must add up to 100, got %s = %s"
                            % (" + ".join(str(s) for s in shares), sum(shares)))
    if total == 0:
        return []
    pilot = min(pilot, total)
    rest = total - pilot
    if rest and not shares:
        raise WavePlanError("%d host(s) are left after the pilot but no wave percentages were given" % rest)
    exact = [rest * share / 100.0 for share in shares]
    sizes = [int(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in by_remainder[:rest - sum(sizes)]:
        sizes[i] += 1
    return ([pilot] if pilot else []) + [size for size in sizes if size]


def pilot_first(hosts, pilot_group=()):
    """``hosts`` with those of the pilot group first, each part in the order it had in ``hosts``."""
    in_group = set(pilot_group or ())
    return [host for host in hosts if host in in_group] + [host for host in hosts if host not in in_group]


def pilot_size(hosts, count=1, pilot_group=()):
    """How many of ``hosts`` make the pilot: those of the inventory's pilot group when any of them is
    there (the rollout puts them first), else the first ``count``."""
    in_group = [host for host in hosts if host in set(pilot_group or ())]
    return len(in_group) if in_group else int(count)


def wave_plan(hosts, pilot=1, percents=(20, 50, 30)):
    """The host names of each wave, in order (pilot first), as ``wave_sizes`` cuts them."""
    hosts = list(hosts)
    plan, start = [], 0
    for size in wave_sizes(len(hosts), pilot, percents):
        plan.append(hosts[start:start + size])
        start += size
    return plan


FAILURE_ACTIONS = ("rollback_wave", "rollback_all", "stop")
# What a host of a wave ended with that counts as done; anything else counts as failed.
DONE = ("succeeded", "held", "unchanged", "skipped")


def wave_settings_problems(pilot, percents, max_fail_percent, on_failure):
    """What is wrong with the wave settings of a deploy; empty when nothing is."""
    problems = []
    try:
        wave_sizes(10, pilot, percents)
    except WavePlanError as exc:
        problems.append(str(exc))
    if isinstance(max_fail_percent, bool) or not isinstance(max_fail_percent, (int, float)) or not 0 <= max_fail_percent < 100:
        problems.append("rollout_wave_max_fail_percent must be a number from 0 to below 100, got %r" % (max_fail_percent,))
    if on_failure not in FAILURE_ACTIONS:
        problems.append("rollout_wave_failure must be one of %s, got %r" % (", ".join(FAILURE_ACTIONS), on_failure))
    return problems


def wave_verdict(number, outcomes, max_fail_percent=0, on_failure="rollback_wave", changed_before=(), pilot=False):
    """Judge wave ``number`` from the outcome of each of its hosts ({host: {"result": ...}}).

    The wave failed when more than ``max_fail_percent`` % of its hosts did not end done (a pilot
    fails on any host). A failed wave stops the rollout; ``on_failure`` says what goes back:
    ``rollback_wave`` its own hosts, ``rollback_all`` also ``changed_before`` (the hosts earlier
    waves changed), ``stop`` nothing. Returns failed, stop, rollback (hosts to take back),
    failed_hosts, failed_percent, changed (the hosts of this wave where traffic moved) and a
    message that says it all."""
    hosts = sorted(outcomes)
    changed = [host for host in hosts if (outcomes[host] or {}).get("traffic_switched")]
    failed_hosts = [host for host in hosts if (outcomes[host] or {}).get("result") not in DONE]
    percent = round(100.0 * len(failed_hosts) / len(hosts), 1) if hosts else 0.0
    limit = float(0 if pilot else max_fail_percent)
    failed = bool(failed_hosts) and percent > limit
    name = "the pilot (wave %d)" % number if pilot else "wave %d" % number
    if not failed:
        note = " (%s failed, %s %% within the %g %% allowed)" % (", ".join(failed_hosts), percent, limit) if failed_hosts else ""
        return {"failed": False, "stop": False, "rollback": [], "failed_hosts": failed_hosts, "failed_percent": percent,
                "changed": changed, "message": "%s passed on %s%s" % (name, ", ".join(hosts), note)}
    if on_failure == "stop":
        rollback = []
        then = "the rollout stops; every host keeps what it runs"
    else:
        rollback = hosts + (sorted(changed_before) if on_failure == "rollback_all" else [])
        moved = sorted(set(changed) | (set(changed_before) if on_failure == "rollback_all" else set()))
        kept = [host for host in hosts if host not in moved]
        if not moved:
            then = "the rollout stops; no host's traffic moved, so each keeps the version it ran (%s)" % ", ".join(kept)
        else:
            then = ("the rollout stops; every host whose traffic moved so far (%s) goes back to the version live before"
                    if on_failure == "rollback_all" else
                    "the rollout stops; the hosts of this wave whose traffic moved (%s) go back to the version live before"
                    ) % ", ".join(moved)
            if kept:
                then += ", %s kept the version it ran" % ", ".join(kept)
        if on_failure == "rollback_wave" and changed_before:
            then += ", the hosts of earlier waves (%s) keep the new version" % ", ".join(sorted(changed_before))
    return {"failed": True, "stop": True, "rollback": rollback, "failed_hosts": failed_hosts, "failed_percent": percent,
            "changed": changed, "message": "%s failed on %s (%s %% of its hosts, above the %g %% allowed): %s" % (
                name, ", ".join(failed_hosts), percent, limit, then)}
