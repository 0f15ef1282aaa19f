import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._split import plan_line, share_problem, steps_problems


@pytest.mark.parametrize("share,problem", [
    (150, "outside 0 to 100"),
    (-1, "outside 0 to 100"),
    (1.234, "more than two decimals"),
    ("ten", "not a number"),
    (None, "not a number"),
    (True, "not a number"),
    ("nan", "outside 0 to 100"),
])
def test_invalid_shares_are_refused(share, problem):
    assert problem in share_problem(share)


def test_valid_share_has_no_problem():
    assert share_problem("33.33") == ""


@pytest.mark.parametrize("line, steps", [
    ("10:300,50:300:hold,100", [{"share": 10, "pause": 300}, {"share": 50, "pause": 300, "hold": True},
                                {"share": 100, "pause": 0}]),
    (" 12.5 : 30 , 100:0 ", [{"share": 12.5, "pause": 30}, {"share": 100, "pause": 0}]),
    ("5:1.5", [{"share": 5, "pause": 1.5}]),
])
def test_a_one_line_plan_gives_the_steps(line, steps):
    assert plan_line(line) == (steps, "")


@pytest.mark.parametrize("line, problem", [
    ("10:300,150", "step 2: canary share 150 % is outside 0 to 100 %"),
    ("10:300:wait", "step 1 ('10:300:wait') is not SHARE:PAUSE[:hold]"),
    ("10:soon", "pause 'soon' is not a number of seconds"),
    ("10:-5,100", "step 1: pause '-5' is not a number of seconds (0 or more)"),
    ("10,,100", "step 2 ('') is not SHARE:PAUSE[:hold]"),
    ("ten", "step 1: canary share 'ten' is not a number"),
])
def test_a_bad_plan_line_names_the_step_and_how_to_write_it(line, problem):
    steps, said = plan_line(line)
    assert steps == [] and problem in said, said


@pytest.mark.parametrize("steps", [
    [{"share": 10, "pause": 300}, {"share": 25, "pause": 300}, {"share": 100, "pause": 0}],
    [{"share": "12.5%", "pause": "30", "hold": "yes"}, {"share": 100, "pause": 0.5, "hold": False}],
    [{"share": 0, "pause": 0}, {"share": 0, "pause": 0}],
    [{"share": 10, "pause": 1, "hold": "on"}, {"share": "25%", "pause": 1, "hold": 0}],
])
def test_steps_that_can_run_have_no_problem(steps):
    assert steps_problems(steps) == []


@pytest.mark.parametrize("steps, problems", [
    ([10, 50, 100], ["canary_steps step 1 (10) is not {share: PERCENT, pause: SECONDS[, hold: true]}",
                     "canary_steps step 2 (50)", "canary_steps step 3 (100)"]),
    ([{"share": 10}], ["step 1 ({'share': 10}) is not {share: PERCENT, pause: SECONDS[, hold: true]}"]),
    ([{"share": 10, "pause": 1, "wait": 5}], ["step 1 ({'share': 10, 'pause': 1, 'wait': 5}) is not"]),
    ("10,100", ["canary_steps '10,100' is not a list"]),
    ([], ["canary_steps is empty"]),
    ([{"share": 10, "pause": 1}, {"share": 150, "pause": 1}], ["canary_steps step 2: canary share 150 % is outside 0 to 100 %"]),
    ([{"share": 10, "pause": "soon"}, {"share": 20, "pause": -1}],
     ["canary_steps step 1: pause 'soon' is not a number of seconds", "canary_steps step 2: pause -1 is not"]),
    ([{"share": 10, "pause": 1, "hold": "maybe"}], ["canary_steps step 1: hold 'maybe' is not true or false"]),
    ([{"share": 50, "pause": 1}, {"share": "10%", "pause": 1}], ["canary shares must rise from step to step"]),
])
def test_steps_that_cannot_run_are_named_with_how_to_write_them(steps, problems):
    said = steps_problems(steps)
    assert len(said) == len(problems), said
    for sentence, problem in zip(said, problems):
        assert problem in sentence, said
    if "is not {share" in problems[0] or "not a list" in problems[0] or "empty" in problems[0]:
        assert said[0].endswith("or the plan on one line: rollout_canary_plan=10:300,100"), said
