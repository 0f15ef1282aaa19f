# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Small statistics used by the probes and the canary analysis, with no dependency.

The two tests are one-sided: they ask whether the candidate is worse than the baseline.
"""

from __future__ import annotations

import math


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(math.ceil(q / 100.0 * len(ordered))))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(latencies_ms):
    if not latencies_ms:
        return {"count": 0, "min": None, "max": None, "mean": None, "p50": None, "p95": None, "p99": None}
    return {
        "count": len(latencies_ms),
        "min": round(min(latencies_ms), 3),
        "max": round(max(latencies_ms), 3),
        "mean": round(sum(latencies_ms) / len(latencies_ms), 3),
        "p50": round(percentile(latencies_ms, 50), 3),
        "p95": round(percentile(latencies_ms, 95), 3),
        "p99": round(percentile(latencies_ms, 99), 3),
    }


def normal_sf(z):
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_greater(candidate, baseline):
    """Mann-Whitney U test that candidate values tend to be larger than baseline values.

    Normal approximation with tie correction (fine from a few dozen values per side).
    Returns {"u", "z", "p"}; p is None when a side is empty or every value ties.
    """
    n1, n2 = len(candidate), len(baseline)
    if not n1 or not n2:
        return {"u": None, "z": None, "p": None}
    pooled = sorted([(v, 0) for v in candidate] + [(v, 1) for v in baseline])
    rank_sum, ties, i = 0.0, 0.0, 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        mean_rank = (i + j + 2) / 2.0
        rank_sum += mean_rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    u = rank_sum - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return {"u": u, "z": None, "p": None}
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)  # continuity correction
    return {"u": u, "z": round(z, 4), "p": normal_sf(z)}


def two_proportion_greater(failures_a, total_a, failures_b, total_b):
    """Two-proportion z-test that the failure rate of a is above that of b (pooled variance)."""
    if not total_a or not total_b:
        return {"z": None, "p": None}
    pooled = (failures_a + failures_b) / float(total_a + total_b)
    variance = pooled * (1 - pooled) * (1.0 / total_a + 1.0 / total_b)
    if variance <= 0:
        return {"z": None, "p": None if failures_a == failures_b == 0 else 0.0}
    z = (failures_a / float(total_a) - failures_b / float(total_b)) / math.sqrt(variance)
    return {"z": round(z, 4), "p": normal_sf(z)}
