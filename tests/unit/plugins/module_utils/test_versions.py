import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._versions import version_problem


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0-rc.1", "v2", "2026.11.21_1", "a" * 128], ids=str)
def test_valid_versions(version):
    assert version_problem(version) == ""


@pytest.mark.parametrize("version,fragment", [
    (None, "no version given"),
    ("", "no version given"),
    ("  ", "no version given"),
    (1.1, "is a float, not a string"),
    ("1.0.0;rm -rf /", "not a valid image tag"),
    ("-1.0", "not a valid image tag"),
    (".hidden", "not a valid image tag"),
    ("latest tag", "not a valid image tag"),
    ("a" * 129, "not a valid image tag"),
], ids=["none", "empty", "blank", "float", "shell", "dash", "dot", "space", "too-long"])
def test_invalid_versions_say_what_is_wrong(version, fragment):
    assert fragment in version_problem(version)
