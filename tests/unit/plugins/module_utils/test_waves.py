import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._waves import WavePlanError, wave_plan, wave_sizes


@pytest.mark.parametrize("total, pilot, percents, expected", [
    (5, 1, [20, 50, 30], [1, 1, 2, 1]),
    (11, 1, [20, 50, 30], [1, 2, 5, 3]),
    (100, 5, [20, 50, 30], [5, 19, 48, 28]),
    (1, 1, [20, 50, 30], [1]),
    (2, 1, [20, 50, 30], [1, 1]),
    (3, 0, [20, 50, 30], [1, 1, 1]),
    (4, 2, [100], [2, 2]),
    (0, 1, [20, 50, 30], []),
])
def test_waves_add_up_to_the_fleet_and_never_all_at_once(total, pilot, percents, expected):
    sizes = wave_sizes(total, pilot, percents)
    assert sizes == expected
    assert sum(sizes) == total


def test_largest_remainder_is_stable_for_every_fleet_size():
    for total in range(1, 60):
        sizes = wave_sizes(total, 1, [20, 50, 30])
        assert sum(sizes) == total and all(size > 0 for size in sizes)
        assert sizes[0] == 1


def test_the_plan_cuts_the_hosts_in_order_pilot_first():
    assert wave_plan(["p", "a", "b", "c", "d"], 1, [20, 50, 30]) == [["p"], ["a"], ["b", "c"], ["d"]]


@pytest.mark.parametrize("total, pilot, percents, message", [
    (5, 1, [20, 50], "add up to 100"),
    (5, 1, [150, -50], "at most 100"),
    (5, 1, ["x"], "percentage"),
    (-1, 1, [100], "fleet size"),
    (5, 1.5, [100], "pilot size"),
    (5, 1, [], "no wave percentages"),
])
def test_bad_plans_are_refused_with_the_reason(total, pilot, percents, message):
    with pytest.raises(WavePlanError, match=message):
        wave_sizes(total, pilot, percents)
