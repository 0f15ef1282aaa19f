import os
import stat

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._files import (
    put_back_private_files,
    apply_files, controller_file, refuse_unsafe_name, write_private_files)


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


def test_a_directory_or_file_of_another_user_is_taken_back(tmp_path):
    # Giving a file to another user needs root, as the suite runs (it starts dockerd).
    directory = str(tmp_path / "shop")
    write_private_files(directory, {"a": "1", "b": "2"})
    os.chown(directory, 4321, 4321)
    os.chown(os.path.join(directory, "b"), 4321, 4321)
    assert write_private_files(directory, {"a": "1", "b": "2"}, check=True) == (True, ["b"], {"b": "2"})
    assert os.stat(directory).st_uid == 4321
    dir_changed, changed, before = write_private_files(directory, {"a": "1", "b": "2"})
    assert dir_changed and changed == ["b"] and before == {"b": "2"}
    for path in (directory, os.path.join(directory, "b")):
        assert (os.stat(path).st_uid, os.stat(path).st_gid) == (0, 0)
    assert mode(directory) == 0o700 and mode(os.path.join(directory, "b")) == 0o600
    assert write_private_files(directory, {"a": "1", "b": "2"}) == (False, [], {})


def test_check_mode_writes_nothing(tmp_path):
    directory = str(tmp_path / "new")
    assert write_private_files(directory, {"a": "1"}, check=True) == (True, ["a"], {"a": None})
    assert not os.path.exists(directory)


@pytest.mark.parametrize("name", ["../escape", "sub/file", "..", ".", ""])
def test_a_name_that_leaves_the_directory_is_refused_before_anything_is_written(tmp_path, name):
    with pytest.raises(ValueError, match="is not a file name"):
        write_private_files(str(tmp_path / "d"), {"ok": "1", name: "2"})
    assert not os.path.exists(str(tmp_path / "d"))


def test_apply_files_makes_directories_writes_in_order_removes_and_a_second_run_changes_nothing(tmp_path):
    lib, conf = str(tmp_path / "lib" / "deep"), str(tmp_path / "conf")
    os.mkdir(conf)
    legacy = os.path.join(conf, "50-legacy.conf")
    open(legacy, "w").write("old\n")
    wanted = [{"path": conf + "/60-shop.conf", "content": "rule\n", "mode": "0644"},
              {"path": lib + "/helper.py", "content": "print(1)\n", "mode": "0755"},
              {"path": conf + "/marker", "content": "done", "mode": 0o600}]
    done = apply_files([{"path": lib, "mode": "0700"}], [dict(entry) for entry in wanted], [legacy])
    assert done["directories"] == [lib] and done["absent"] == [legacy]
    assert done["files"] == [entry["path"] for entry in wanted], "written in the order given"
    assert mode(lib) == 0o700 and mode(lib + "/helper.py") == 0o755 and mode(conf + "/marker") == 0o600
    assert open(conf + "/60-shop.conf").read() == "rule\n" and not os.path.exists(legacy)
    again = apply_files([{"path": lib, "mode": "0700"}], [dict(entry) for entry in wanted], [legacy])
    assert again == {"directories": [], "files": [], "absent": [], "before": {}}


def test_apply_files_in_check_mode_reports_and_writes_nothing(tmp_path):
    target = str(tmp_path / "new" / "a.conf")
    done = apply_files([{"path": str(tmp_path / "new"), "mode": "0755"}],
                       [{"path": target, "content": "x", "mode": "0644"}], [], check=True)
    assert done["files"] == [target] and done["before"] == {target: None} and not os.path.exists(str(tmp_path / "new"))


@pytest.mark.parametrize("directories,files,absent,problem", [
    ([], [{"path": "relative/a", "content": "", "mode": "0644"}], [], "not an absolute, normalised path"),
    ([], [{"path": "/etc/../tmp/a", "content": "", "mode": "0644"}], [], "not an absolute, normalised path"),
    ([], [{"path": "/tmp/a", "content": "", "mode": "rw-r--r--"}], [], "not an octal permission mode"),
    ([], [{"path": "/tmp/a", "content": "", "mode": "0644"}], ["/tmp/a"], "both written and removed"),
    ([], [{"path": "/no/such/dir/a", "content": "", "mode": "0644"}], [], "list it in directories"),
    ([], [], ["/tmp"], "is a directory"),
])
def test_apply_files_refuses_bad_input_before_writing_anything(tmp_path, directories, files, absent, problem):
    first = str(tmp_path / "first")
    with pytest.raises(ValueError, match=problem):
        apply_files([{"path": first, "mode": "0755"}] + directories, files, absent)
    assert not os.path.exists(first)


class Failed(Exception):
    pass


class FakeModule(object):
    """Stands in for AnsibleModule: its params, and fail_json that raises."""

    def __init__(self, **params):
        self.params = params

    def fail_json(self, msg):
        raise Failed(msg)


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".", "/etc"])
def test_a_service_name_that_would_leave_its_directories_fails_the_module(name):
    with pytest.raises(Failed) as refused:
        refuse_unsafe_name(FakeModule(service=name), "service")
    assert str(refused.value) == ("service %r is not a plain name (no '/', not '.' or '..'): it names directories and "
                                  "files on the host, which must stay inside their own directory. Nothing was changed." % name)


@pytest.mark.parametrize("name", ["agent-loop", "shop_2.1", None, ""])
def test_a_plain_or_absent_name_goes_on(name):
    refuse_unsafe_name(FakeModule(service=name), "service")


def test_an_operators_file_is_found_beside_the_playbook_then_in_the_runs_directory(tmp_path):
    playbooks, project = tmp_path / "project" / "playbooks", tmp_path / "project"
    playbooks.mkdir(parents=True)
    (project / "examples").mkdir()
    (project / "examples" / "compose.yml.j2").write_text("services: {}\n")
    (playbooks / "checks.yml").write_text("[]\n")
    assert controller_file("checks.yml", str(playbooks), cwd=str(project)) == {
        "path": str(playbooks / "checks.yml"), "found": True, "tried": [str(playbooks / "checks.yml"), str(project / "checks.yml")]}
    found = controller_file("examples/compose.yml.j2", str(playbooks), cwd=str(project))
    assert found["found"] and found["path"] == str(project / "examples" / "compose.yml.j2")
    assert controller_file("../examples/compose.yml.j2", str(playbooks), cwd=str(project))["path"] == found["path"]
    missing = controller_file("nope.j2", str(playbooks), cwd=str(project))
    assert missing == {"path": str(playbooks / "nope.j2"), "found": False,
                       "tried": [str(playbooks / "nope.j2"), str(project / "nope.j2")]}
    assert controller_file(str(playbooks / "checks.yml"), "/elsewhere")["tried"] == [str(playbooks / "checks.yml")]
    assert controller_file("same.yml", str(project), cwd=str(project))["tried"] == [str(project / "same.yml")]
    assert controller_file("", str(playbooks)) == {"path": "", "found": False, "tried": []}


def test_kept_files_are_put_back_as_they_were_and_a_new_file_is_left_as_it_is(tmp_path):
    directory = str(tmp_path / "svc")
    write_private_files(directory, {"blue.compose.yml": "image: shop:1.0.0\n", "blue.env": "TOKEN=old\n"})
    write_private_files(directory, {"blue.compose.yml": "image: shop:1.1.0\n", "blue.env": "TOKEN=new\n",
                                    "blue.extra": "x"}, keep_previous=True)
    assert open(os.path.join(directory, "blue.env")).read() == "TOKEN=new\n"
    assert stat.S_IMODE(os.stat(os.path.join(directory, "blue.env.previous")).st_mode) == 0o600
    assert put_back_private_files(directory, ["blue.compose.yml", "blue.env", "blue.extra"], check=True) == [
        "blue.compose.yml", "blue.env"]
    assert open(os.path.join(directory, "blue.env")).read() == "TOKEN=new\n"  # check mode put nothing back
    assert put_back_private_files(directory, ["blue.compose.yml", "blue.env", "blue.extra"]) == ["blue.compose.yml", "blue.env"]
    assert [open(os.path.join(directory, name)).read() for name in ("blue.compose.yml", "blue.env", "blue.extra")] == [
        "image: shop:1.0.0\n", "TOKEN=old\n", "x"]
    assert not [name for name in os.listdir(directory) if name.endswith(".previous")]
    assert put_back_private_files(directory, ["blue.env"]) == []
    with pytest.raises(ValueError):
        put_back_private_files(directory, ["../etc/passwd"])


def test_kept_copies_no_longer_needed_are_forgotten(tmp_path):
    directory = str(tmp_path / "svc")
    write_private_files(directory, {"blue.env": "TOKEN=old\n"})
    write_private_files(directory, {"blue.env": "TOKEN=new\n"}, keep_previous=True)
    assert put_back_private_files(directory, ["blue.env"], forget=True) == ["blue.env"]
    assert os.listdir(directory) == ["blue.env"] and open(os.path.join(directory, "blue.env")).read() == "TOKEN=new\n"
    # A copy left by a run that ended before putting it back goes with the next write that keeps none.
    write_private_files(directory, {"blue.env": "TOKEN=newer\n"}, keep_previous=True)
    write_private_files(directory, {"blue.env": "TOKEN=newest\n"})
    assert os.listdir(directory) == ["blue.env"]
