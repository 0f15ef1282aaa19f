# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Split a fleet into a pilot and waves of given percentages, never all at once."""

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils import _ledger as L


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


def fleet_rollback_plan(choices):
    """What a rollback that names no version does on each host of a fleet: undo the same release
    everywhere. ``choices`` maps a host to what its ledger says (release_ledger's read:
    ``live_version``, ``rollback_to``, ``rollback_stays``, ``rollback_note``). A host goes back to its
    ``rollback_to``, except a host a rollback or a restore already took back (``rollback_stays``) and a
    host whose live version is where another host goes, or went, back to: it already runs the version
    before the release being undone (its own deploy stopped before the switch, or a failed wave took it
    back), and going back further would split the fleet. A host with a canary in progress aborts it.

    Returns ``hosts`` (host: ``version`` to pass as its target, its live version when it stays; ``if_live``,
    the version it acts on only while live; ``moves``; ``note``), ``lines`` (the plan in words) and
    ``problem`` (non-empty when the hosts disagree on the release to undo: nothing should change)."""
    choices = dict((host, choice) for host, choice in (choices or {}).items() if isinstance(choice, dict))
    # A run that ended mid-transition is finished or undone by the host's reconciliation first (under the lock):
    # such a host goes where the transition was going back to, whatever the reconciliation finds.
    unsettled = dict((host, choices.pop(host)) for host in sorted(choices) if choices[host].get("pending"))
    targets = set(choice.get("rollback_to") for choice in choices.values() if choice.get("rollback_to")
                  and not choice.get("canary"))
    settled = set(choice.get("live_version") for choice in choices.values()
                  if choice.get("rollback_stays") or choice.get("canary"))
    hosts, moving, staying, nowhere, disputed = {}, {}, [], [], []
    for host, choice in unsettled.items():
        # After its reconciliation the host goes to where an interrupted deploy came from, or an interrupted rollback went.
        pending = choice["pending"]
        back_to = pending.get("version") if pending.get("op") in L.UNDOING_OPERATIONS else pending.get("from_version")
        hosts[host] = {"version": back_to or "", "if_live": "", "moves": False,
                       "note": "a %s of %s did not finish: after its reconciliation, %s" % (
                           pending.get("op"), pending.get("version"),
                           "it goes to or stays on %s" % back_to if back_to else "it decides by its own ledger")}
    for host in sorted(choices):
        choice = choices[host]
        live, target = choice.get("live_version"), choice.get("rollback_to")
        stay_note = None
        if choice.get("canary"):
            # Rolling back during a canary aborts it: the stable version stays live.
            stay_note = "aborts the canary of %s, %s stays" % (choice["canary"].get("version"), live)
        elif choice.get("rollback_stays"):
            stay_note = choice.get("rollback_note") or ""
        elif live and live in targets:
            stay_note = "runs %s, where the other hosts go back to" % live
            if target and live not in settled:
                disputed.append(host)
        elif live and live in settled:
            stay_note = "runs %s, where the other hosts went back to" % live
        elif target:
            hosts[host] = {"version": target, "if_live": live, "moves": True, "note": "%s -> %s" % (live, target)}
            moving.setdefault((live, target), []).append(host)
            continue
        if stay_note is None:
            hosts[host] = {"version": "", "if_live": "", "moves": False, "note": choice.get("rollback_note") or ""}
            nowhere.append(host)
        else:
            hosts[host] = {"version": live, "if_live": live, "moves": False, "note": stay_note}
            staying.append(host)
    lines = ["%s -> %s on %s" % (live, target, ", ".join(names)) for (live, target), names in sorted(moving.items())]
    lines += ["%s stays on %s: %s" % (host, hosts[host]["version"], hosts[host]["note"]) for host in staying]
    lines += ["%s has nowhere to go back to: %s" % (host, hosts[host]["note"]) for host in nowhere]
    lines += ["%s: %s" % (host, hosts[host]["note"]) for host in unsettled]
    problem = ""
    if disputed and not moving:
        each = ["%s runs %s (before it: %s)" % (host, choice.get("live_version"), choice.get("rollback_to") or "none")
                for host, choice in sorted(choices.items())]
        problem = ("the hosts do not agree on the release to undo (each runs the version another goes back to): %s. "
                   "Name the version every host goes back to with -e target_version=X; nothing was changed" % "; ".join(each))
    return {"hosts": hosts, "lines": lines, "problem": problem}
