import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._waves import (
    WavePlanError, fleet_rollback_plan, pilot_first, pilot_size, wave_plan, wave_settings_problems, wave_sizes, wave_verdict)


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


def chose(live, to=None, stays=False, note=""):
    return {"live_version": live, "rollback_to": to, "rollback_stays": stays, "rollback_note": note}


def test_a_fleet_rollback_without_a_version_undoes_one_release_on_every_host():
    # After a failed wave: web-1 (pilot) runs the new version, web-2 was taken back, web-3 stopped before its switch.
    plan = fleet_rollback_plan({
        "web-1": chose("1.1.0", "1.0.0"),
        "web-2": chose("1.0.0", stays=True, note="1.0.0 went live by a rollback from 1.1.0"),
        "web-3": chose("1.0.0", "0.9.0"),
        "web-4": chose("1.1.0", "1.0.0"),
        "unread": None})
    assert plan["problem"] == ""
    assert plan["hosts"] == {
        "web-1": {"version": "1.0.0", "if_live": "1.1.0", "moves": True, "note": "1.1.0 -> 1.0.0"},
        "web-2": {"version": "1.0.0", "if_live": "1.0.0", "moves": False, "note": "1.0.0 went live by a rollback from 1.1.0"},
        "web-3": {"version": "1.0.0", "if_live": "1.0.0", "moves": False, "note": "runs 1.0.0, where the other hosts go back to"},
        "web-4": {"version": "1.0.0", "if_live": "1.1.0", "moves": True, "note": "1.1.0 -> 1.0.0"}}
    assert plan["lines"] == ["1.1.0 -> 1.0.0 on web-1, web-4",
                             "web-2 stays on 1.0.0: 1.0.0 went live by a rollback from 1.1.0",
                             "web-3 stays on 1.0.0: runs 1.0.0, where the other hosts go back to"]


def test_a_fleet_rollback_leaves_a_host_with_nowhere_to_go_to_its_own_refusal():
    plan = fleet_rollback_plan({"web-1": chose("1.1.0", "1.0.0"), "web-2": chose("2.0.0", note="no version was live before 2.0.0")})
    assert plan["hosts"]["web-2"] == {"version": "", "if_live": "", "moves": False, "note": "no version was live before 2.0.0"}
    assert plan["lines"][-1] == "web-2 has nowhere to go back to: no version was live before 2.0.0" and not plan["problem"]


def test_a_fleet_whose_hosts_disagree_on_the_release_to_undo_is_refused():
    plan = fleet_rollback_plan({"web-1": chose("1.1.0", "1.0.0"), "web-2": chose("1.0.0", "1.1.0")})
    assert not any(host["moves"] for host in plan["hosts"].values())
    assert plan["problem"].startswith("the hosts do not agree on the release to undo")
    assert "web-1 runs 1.1.0 (before it: 1.0.0); web-2 runs 1.0.0 (before it: 1.1.0)" in plan["problem"]
    assert plan["problem"].endswith("-e target_version=X; nothing was changed")


def test_a_fleet_already_rolled_back_has_nothing_to_do_and_no_problem():
    # Pressed again after the plan above: web-3 (no version before, or one older) stays with the others.
    for web3 in (chose("1.0.0", note="no version was live before 1.0.0"), chose("1.0.0", "0.9.0")):
        plan = fleet_rollback_plan({"web-1": chose("1.0.0", stays=True), "web-2": chose("1.0.0", stays=True),
                                    "web-3": web3})
        assert not plan["problem"] and not any(host["moves"] for host in plan["hosts"].values())
        assert plan["hosts"]["web-3"] == {"version": "1.0.0", "if_live": "1.0.0", "moves": False,
                                          "note": "runs 1.0.0, where the other hosts went back to"}


def test_a_fleet_rollback_aborts_canaries_and_leaves_an_interrupted_host_to_its_reconciliation():
    # Wave 1 promoted 1.1.0; wave 2 holds a canary of it; web-4's deploy was killed mid-way.
    canary = dict(chose("1.0.0", "0.9.0"), canary={"version": "1.1.0", "share": 10})
    plan = fleet_rollback_plan({"web-1": chose("1.1.0", "1.0.0"), "web-2": canary, "web-3": canary,
                                "web-4": dict(chose("1.0.0", "0.9.0"),
                                              pending={"op": "deploy", "version": "1.1.0", "from_version": "1.0.0"})})
    assert [(host, facts["version"], facts["moves"]) for host, facts in sorted(plan["hosts"].items())] == [
        ("web-1", "1.0.0", True), ("web-2", "1.0.0", False), ("web-3", "1.0.0", False), ("web-4", "1.0.0", False)]
    assert plan["lines"] == ["1.1.0 -> 1.0.0 on web-1",
                             "web-2 stays on 1.0.0: aborts the canary of 1.1.0, 1.0.0 stays",
                             "web-3 stays on 1.0.0: aborts the canary of 1.1.0, 1.0.0 stays",
                             "web-4: a deploy of 1.1.0 did not finish: after its reconciliation, it goes to or stays on 1.0.0"]
    assert not plan["problem"]
