import random

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._stats import (
    latency_summary, mann_whitney_greater, percentile, two_proportion_greater)


@pytest.mark.parametrize("values,q,expected", [
    ([5], 50, 5),
    ([1, 2, 3, 4], 50, 2),
    ([1, 2, 3, 4], 95, 4),
    (list(range(1, 101)), 95, 95),
    (list(range(1, 101)), 99, 99),
    (list(range(100, 0, -1)), 50, 50),
    ([], 50, None),
], ids=["single", "p50-even", "p95-small", "p95-100", "p99-100", "unsorted", "empty"])
def test_percentile(values, q, expected):
    assert percentile(values, q) == expected


def test_latency_summary_figures():
    summary = latency_summary([10.0, 20.0, 30.0, 40.0])
    assert summary == {"count": 4, "min": 10.0, "max": 40.0, "mean": 25.0, "p50": 20.0, "p95": 40.0, "p99": 40.0}


def test_mann_whitney_sees_a_slower_candidate():
    rng = random.Random(7)
    baseline = [rng.gauss(0.010, 0.002) for _index in range(200)]
    slower = [v + 0.300 for v in baseline[:100]]
    assert mann_whitney_greater(slower, baseline)["p"] < 1e-6
    same = [rng.gauss(0.010, 0.002) for _index in range(100)]
    assert mann_whitney_greater(same, baseline)["p"] > 0.01


def test_mann_whitney_matches_a_hand_computed_case():
    # candidate {3, 4}, baseline {1, 2}: every pair favours the candidate, U = 4 = n1 * n2.
    result = mann_whitney_greater([3, 4], [1, 2])
    assert result["u"] == 4
    assert mann_whitney_greater([], [1])["p"] is None
    assert mann_whitney_greater([1, 1], [1, 1])["p"] is None  # all ties: no evidence either way


def test_two_proportion_test():
    assert two_proportion_greater(50, 1000, 5, 1000)["p"] < 1e-6
    assert two_proportion_greater(5, 1000, 5, 1000)["p"] == pytest.approx(0.5)
    assert two_proportion_greater(0, 100, 0, 100)["p"] is None
    assert two_proportion_greater(1, 0, 0, 10) == {"z": None, "p": None}
