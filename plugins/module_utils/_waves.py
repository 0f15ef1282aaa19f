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


def wave_plan(hosts, pilot=1, percents=(20, 50, 30)):
    """The host names of each wave, in order (pilot first), as ``wave_sizes`` cuts them."""
    hosts = list(hosts)
    plan, start = [], 0
    for size in wave_sizes(len(hosts), pilot, percents):
        plan.append(hosts[start:start + size])
        start += size
    return plan
