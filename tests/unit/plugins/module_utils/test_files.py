import os
import stat

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._files import write_private_files


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_are_root_only_and_a_second_run_changes_nothing(tmp_path):
    directory = str(tmp_path / "shop")
    dir_changed, changed, before = write_private_files(directory, {"green.env": "A=1\n", "green.compose.yml": "x: 1\n"})
    assert dir_changed and changed == ["green.compose.yml", "green.env"] and before == {"green.compose.yml": None, "green.env": None}
    assert mode(directory) == 0o700 and mode(os.path.join(directory, "green.env")) == 0o600
    assert open(os.path.join(directory, "green.env")).read() == "A=1\n"
    assert write_private_files(directory, {"green.env": "A=1\n", "green.compose.yml": "x: 1\n"}) == (False, [], {})


def test_only_what_differs_is_written_and_a_loose_mode_is_fixed(tmp_path):
    directory = str(tmp_path)
    os.chmod(directory, 0o755)
    write_private_files(directory, {"a": "1", "b": "2"})
    os.chmod(os.path.join(directory, "b"), 0o644)
    dir_changed, changed, before = write_private_files(directory, {"a": "new", "b": "2"})
    assert not dir_changed and changed == ["a", "b"] and before == {"a": "1", "b": "2"}
    assert mode(os.path.join(directory, "b")) == 0o600 and open(os.path.join(directory, "a")).read() == "new"


def test_check_mode_writes_nothing(tmp_path):
    directory = str(tmp_path / "new")
    assert write_private_files(directory, {"a": "1"}, check=True) == (True, ["a"], {"a": None})
    assert not os.path.exists(directory)


@pytest.mark.parametrize("name", ["../escape", "sub/file", "..", ".", ""])
def test_a_name_that_leaves_the_directory_is_refused_before_anything_is_written(tmp_path, name):
    with pytest.raises(ValueError, match="is not a file name"):
        write_private_files(str(tmp_path / "d"), {"ok": "1", name: "2"})
    assert not os.path.exists(str(tmp_path / "d"))
