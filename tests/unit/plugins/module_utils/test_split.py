import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._split import share_problem, split_lines


@pytest.mark.parametrize("share,lines", [
    (0, ["* stable;"]),
    (10, ["10% candidate;", "* stable;"]),
    ("12.5", ["12.5% candidate;", "* stable;"]),
    (25.25, ["25.25% candidate;", "* stable;"]),
    ("50%", ["50% candidate;", "* stable;"]),
    (99.99, ["99.99% candidate;", "* stable;"]),
    (100, ["* candidate;"]),
])
def test_split_lines_put_the_candidate_first(share, lines):
    assert split_lines(share, "candidate", "stable") == lines


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
    with pytest.raises(ValueError):
        split_lines(share, "c", "s")


def test_valid_share_has_no_problem():
    assert share_problem("33.33") == ""


def test_a_one_line_plan_becomes_steps():
    from ansible_collections.nextgen.rollout.plugins.module_utils._split import plan_steps
    assert plan_steps("10:300 50:300:hold, 100:0") == [{"share": 10, "pause": 300},
                                                        {"share": 50, "pause": 300, "hold": True},
                                                        {"share": 100, "pause": 0}]
    assert plan_steps("12.5:1.5") == [{"share": 12.5, "pause": 1.5}]
    # A share that is no share is left for the canary's validation to name.
    assert plan_steps("150:10") == [{"share": "150", "pause": 10}] and plan_steps("x:10") == [{"share": "x", "pause": 10}]


@pytest.mark.parametrize("text, problem", [
    ("10", "is not share:seconds"), ("10:300:wait", "is not share:seconds"), ("10:soon", "'soon' is not a number"),
    ("10:-1", "cannot be negative"), ("  ", "the canary plan is empty"),
])
def test_a_plan_that_is_not_one_is_refused_naming_the_step(text, problem):
    from ansible_collections.nextgen.rollout.plugins.module_utils._split import plan_steps
    with pytest.raises(ValueError, match=problem):
        plan_steps(text)
