import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._waves import (
    WavePlanError, pilot_first, pilot_size, wave_plan, wave_settings_problems, wave_sizes, wave_verdict)


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


def outcomes(**results):
    return dict((host, {"result": result}) for host, result in results.items())


def test_a_wave_passes_when_its_failures_stay_within_the_threshold():
    verdict = wave_verdict(2, outcomes(a="succeeded", b="unchanged", c="held"))
    assert (verdict["failed"], verdict["stop"], verdict["rollback"]) == (False, False, [])
    assert verdict["message"] == "wave 2 passed on a, b, c"
    tolerated = wave_verdict(2, outcomes(a="succeeded", b="succeeded", c="succeeded", d="failed"), max_fail_percent=30)
    assert not tolerated["failed"] and "d failed, 25.0 % within the 30 % allowed" in tolerated["message"]


def test_a_failed_wave_stops_and_takes_back_what_it_is_told():
    wave = outcomes(a="succeeded", b="failed")
    wave["a"]["traffic_switched"] = True
    own = wave_verdict(2, wave, changed_before=["p"])
    assert own["stop"] and own["rollback"] == ["a", "b"] and own["failed_hosts"] == ["b"]
    assert own["message"] == ("wave 2 failed on b (50.0 % of its hosts, above the 0 % allowed): the rollout stops; the hosts "
                              "of this wave whose traffic moved (a) go back to the version live before, b kept the version "
                              "it ran, the hosts of earlier waves (p) keep the new version")
    assert wave_verdict(2, wave, max_fail_percent=0.0, changed_before=["p"])["message"] == own["message"]  # 0.0 reads as 0
    every = wave_verdict(2, wave, on_failure="rollback_all", changed_before=["p"])
    assert every["rollback"] == ["a", "b", "p"] and "every host whose traffic moved so far (a, p) goes back" in every["message"]
    kept = wave_verdict(2, wave, on_failure="stop")
    assert kept["stop"] and kept["rollback"] == [] and "every host keeps what it runs" in kept["message"]


def test_a_failed_first_deploy_says_no_host_has_anything_to_go_back_to():
    verdict = wave_verdict(0, outcomes(a="failed"), pilot=True)
    assert verdict["rollback"] == ["a"]
    assert verdict["message"].endswith("the rollout stops; no host's traffic moved, so each keeps the version it ran (a)")


def test_a_pilot_fails_on_any_host_whatever_the_threshold():
    verdict = wave_verdict(0, outcomes(a="succeeded", b="refused"), max_fail_percent=60, pilot=True)
    assert verdict["failed"] and verdict["message"].startswith("the pilot (wave 0) failed on b (50.0 %")


@pytest.mark.parametrize("args, problem", [
    ((1, [20, 50, 20], 0, "rollback_wave"), "must add up to 100"),
    ((-1, [100], 0, "rollback_wave"), "pilot size must be a whole number"),
    ((1, [100], 100, "rollback_wave"), "rollout_wave_max_fail_percent must be a number from 0 to below 100"),
    ((1, [100], 0, "panic"), "rollout_wave_failure must be one of rollback_wave, rollback_all, stop"),
])
def test_bad_wave_settings_are_named(args, problem):
    assert any(problem in said for said in wave_settings_problems(*args)), wave_settings_problems(*args)
    assert wave_settings_problems(1, [20, 50, 30], 10, "stop") == []


def test_the_pilot_is_the_pilot_group_when_any_of_its_hosts_is_in_the_rollout_else_the_first_hosts():
    assert pilot_size(["c", "a", "b"], 1, ["c", "z"]) == 1
    assert pilot_size(["c", "d", "a"], 1, ["c", "d"]) == 2
    assert pilot_size(["a", "b", "c"], 2, ["z"]) == 2  # --limit left no pilot host: the first count
    assert pilot_size(["a", "b"], 0, []) == 0


def test_the_pilot_group_comes_first_and_each_part_keeps_its_order():
    assert pilot_first(["a", "b", "c", "d"], ["d", "b", "z"]) == ["b", "d", "a", "c"]
    assert pilot_first(["a", "b"], []) == ["a", "b"]
    assert pilot_first([], ["a"]) == []
