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
