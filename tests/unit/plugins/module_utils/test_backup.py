import datetime
import errno
import json
import os
import stat
import subprocess
import tarfile

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils import _backup
from ansible_collections.nextgen.rollout.plugins.module_utils._backup import (
    BackupError, BackupStore, backup_id, export_volume, restore_backup, stage_volume, take_backup)

T0 = datetime.datetime(2026, 11, 21, 6, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def tree(tmp_path):
    etc = tmp_path / "etc"
    (etc / "sub").mkdir(parents=True)
    (etc / "site.conf").write_text("upstream a { server 127.0.0.1:8001; }\n")
    (etc / "sub" / "app.env").write_text("TOKEN=s3cret\n")
    os.chmod(str(etc / "sub" / "app.env"), 0o600)
    return etc


@pytest.fixture
def store(tmp_path):
    return BackupStore(str(tmp_path / "backups" / "agent-loop"))


def take(store, tree, version="1.0.0", moment=T0, extra=None):
    ident = backup_id(version, moment)
    return ident, store.create(ident, [str(tree)], extra or {}, version, "agent-loop", now=moment)


def test_create_writes_a_private_archive_and_manifest(store, tree):
    ident, manifest = take(store, tree)
    assert ident == "20261121T060000000000Z-1.0.0"
    assert stat.S_IMODE(os.stat(store.directory).st_mode) == 0o700
    for path in (store.archive_path(ident), store.manifest_path(ident)):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    names = sorted(m["name"] for m in manifest["members"])
    assert names == ["files" + str(tree / "site.conf"), "files" + str(tree / "sub" / "app.env")]
    assert manifest["live_version"] == "1.0.0" and manifest["total_size"] == 51
    assert store.complete_ids() == [ident] and store.leftovers() == []
    assert "s3cret" not in open(store.manifest_path(ident)).read()


def test_restore_puts_back_changed_and_deleted_files_byte_identical(store, tree):
    ident, manifest = take(store, tree)
    before = dict((m["path"], m["sha256"]) for m in manifest["members"])
    (tree / "site.conf").write_text("broken")
    (tree / "sub" / "app.env").unlink()
    restored = store.restore_files(ident, store.verify(ident))
    assert sorted(restored) == sorted(before)
    for path, digest in before.items():
        assert _backup.sha256_file(path) == digest
    assert stat.S_IMODE(os.stat(str(tree / "sub" / "app.env")).st_mode) == 0o600
    assert store.restore_files(ident, manifest) == []  # a second restore changes nothing


def test_a_truncated_archive_is_refused_naming_the_member(store, tree):
    ident, manifest = take(store, tree)
    archive = store.archive_path(ident)
    data = open(archive, "rb").read()
    open(archive, "wb").write(data[:len(data) // 2])
    with pytest.raises(BackupError, match=r"member files/.* of backup %s cannot be read" % ident):
        store.verify(ident)


def test_a_corrupted_member_is_refused_naming_it(store, tree, tmp_path):
    ident, manifest = take(store, tree)
    doc = json.load(open(store.manifest_path(ident)))
    doc["members"][1]["sha256"] = "0" * 64  # the archive says otherwise
    json.dump(doc, open(store.manifest_path(ident), "w"))
    with pytest.raises(BackupError, match="member %s of backup .* does not match its manifest" % doc["members"][1]["name"]):
        store.verify(ident)
    assert store.latest_good() is None


def test_flipped_bytes_are_caught(store, tree):
    ident, _manifest = take(store, tree)
    archive = store.archive_path(ident)
    data = bytearray(open(archive, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(archive, "wb").write(bytes(data))
    with pytest.raises(BackupError, match=r"member .* (cannot be read|does not match)|sha256"):
        store.verify(ident)


def test_not_enough_space_writes_nothing_and_keeps_the_latest(store, tree, monkeypatch):
    first, _manifest = take(store, tree)
    monkeypatch.setattr(_backup, "free_bytes", lambda directory: 10)
    with pytest.raises(BackupError, match="not enough space .* the latest backup is unchanged"):
        take(store, tree, moment=T0 + datetime.timedelta(hours=1))
    assert store.complete_ids() == [first] and store.leftovers() == [] and store.latest_good() == first


def test_a_disk_that_fills_up_midway_leaves_no_partial_archive(store, tree, monkeypatch):
    first, _manifest = take(store, tree)
    real_open = _backup.tarfile.open

    def filling(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_backup.tarfile, "open", filling)
    with pytest.raises(BackupError, match="filled up while writing backup"):
        take(store, tree, moment=T0 + datetime.timedelta(hours=1))
    monkeypatch.setattr(_backup.tarfile, "open", real_open)
    assert store.complete_ids() == [first] and store.leftovers() == []


def test_retention_keeps_exactly_what_the_policy_says(store, tree):
    ids = [take(store, tree, moment=T0 + datetime.timedelta(days=d))[0] for d in range(6)]
    now = T0 + datetime.timedelta(days=5, hours=1)
    assert store.expired(keep=3, now=now) == ids[:3]
    assert store.expired(max_age_days=2, now=now) == ids[:4]  # day 3 is 2 days and 1 hour old
    # A backup stays when any rule keeps it: the 5 newest, or the one younger than a day.
    assert store.expired(keep=5, max_age_days=1, now=now) == ids[:1]
    assert store.expired(keep=2, max_age_days=3, now=now) == ids[:3]  # days 3 to 5 are younger than 3 days
    assert store.expired(now=now) == []
    assert store.expired(keep=1, now=now, protect=[ids[0]]) == ids[1:5]
    for ident in store.expired(keep=4, now=now):
        store.remove(ident)
    assert store.complete_ids() == ids[2:]


def test_extra_members_and_volume_commands(store, tree, tmp_path):
    dump = tmp_path / "dump.out"
    dump.write_text("dump")
    ident, manifest = take(store, tree, extra={"commands/pre-backup.out": str(dump)})
    assert "commands/pre-backup.out" in [m["name"] for m in manifest["members"]]
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, "", ""

    assert export_volume(run, "img:1", "data", "/tmp/w") == "/tmp/w/data.tar"
    assert "data:/volume:ro" in calls[0] and calls[0][-5:] == ["-C", "/volume", "-cf", "/out/data.tar", "."]
    assert stage_volume(run, "img:1", "data", "/tmp/w/data.tar") == "data-nextgen-restore"
    assert "data-nextgen-restore:/volume" in calls[2] and calls[2][-1] == "data.tar"
    with pytest.raises(BackupError, match="cannot read docker volume data through image img:1: no such volume .*"
                                          "name another in backup_volume_image"):
        export_volume(lambda argv: (1, "", "no such volume"), "img:1", "data", "/tmp/w")


def test_an_exact_restore_removes_what_came_later_and_what_did_not_exist(store, tree, tmp_path):
    missing = tmp_path / "etc-later"
    ident = backup_id("1.0.0", T0)
    manifest = store.create(ident, [str(tree)], {}, "1.0.0", "agent-loop", now=T0,
                            requested=[str(tree), str(missing)])
    assert manifest["paths"] == sorted([str(tree), str(missing)])
    (tree / "sub" / "new.conf").write_text("added by a migration\n")
    missing.mkdir()
    (missing / "state.json").write_text("{}")
    (tree / "site.conf").write_text("changed\n")

    kept = store.restore_files(ident, store.verify(ident))
    assert (tree / "sub" / "new.conf").exists() and kept == [str(tree / "site.conf")]

    changed = store.restore_files(ident, store.verify(ident), exact=True)
    assert sorted(changed) == sorted([str(tree / "sub" / "new.conf"), str(missing / "state.json")])
    assert not (tree / "sub" / "new.conf").exists() and not (missing / "state.json").exists()
    assert (tree / "sub" / "app.env").read_text() == "TOKEN=s3cret\n"


def test_an_age_limit_after_a_quiet_month_keeps_the_newest_good_backup(store, tree):
    ids = [take(store, tree, moment=T0 + datetime.timedelta(days=d))[0] for d in range(3)]
    a_month_later = T0 + datetime.timedelta(days=40)
    assert store.expired(max_age_days=30, now=a_month_later) == ids
    assert store.expired(max_age_days=30, now=a_month_later, protect=[store.latest_good()]) == ids[:2]


def test_a_file_that_grows_while_archived_still_verifies(store, tree, monkeypatch):
    # The archive takes the size the file had when it was opened; the digest covers exactly those bytes.
    victim = sorted(_backup.walk_files(str(tree)))[0]
    real_read = _backup.DigestingReader.read

    def growing(self, size=-1):
        chunk = real_read(self, size)
        with open(victim, "ab") as handle:
            handle.write(b"appended while archiving")
        return chunk

    monkeypatch.setattr(_backup.DigestingReader, "read", growing)
    ident, _manifest = take(store, tree)
    monkeypatch.setattr(_backup.DigestingReader, "read", real_read)
    assert store.verify(ident)["id"] == ident


@pytest.mark.parametrize("ident", ["../../../etc/passwd", "/etc/shadow", "20261121T060000000000Z-1.0.0/../../x", "", "latest"])
def test_an_id_that_is_not_a_backup_id_names_no_path(store, tree, ident):
    take(store, tree)
    with pytest.raises(BackupError, match="is not a backup id"):
        store.verify(ident)
    with pytest.raises(BackupError, match="is not a backup id"):
        store.archive_path(ident)


@pytest.mark.parametrize("volume", ["/", "/etc", "../x", "./data", "a/b", "", "-v"])
def test_a_volume_that_is_a_path_is_never_mounted(tmp_path, volume):
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, "", ""
    with pytest.raises(BackupError, match="is not a docker volume name"):
        _backup.export_volume(run, "image", volume, str(tmp_path))
    with pytest.raises(BackupError, match="is not a docker volume name"):
        _backup.stage_volume(run, "image", volume, str(tmp_path / "data.tar"))
    with pytest.raises(BackupError, match="is not a docker volume name"):
        take_backup(BackupStore(str(tmp_path / "store")), params(volumes=[volume], volume_image="image"), run)
    assert calls == [] and not (tmp_path / "store").exists()
    assert _backup.named_volume("agent-loop_data") == "agent-loop_data"


def params(**given):
    defaults = dict(service="agent-loop", backup_id=None, paths=[], volumes=[], volume_image=None, stop_containers=[],
                    pre_backup_command=None, live_version="1.0.0", exact=False, keep_paths=[], min_free_mb=0, keep=None,
                    max_age_days=None)
    defaults.update(given)
    return defaults


class Docker(object):
    """Records docker commands; fails the ones whose argv contains ``fail_on``."""

    def __init__(self, fail_on=None, running="", missing=()):
        self.calls, self.fail_on, self.running, self.missing = [], fail_on, running, set(missing)

    def __call__(self, argv):
        self.calls.append(argv)
        if self.fail_on and self.fail_on in " ".join(argv):
            return 1, "", "tar: unexpected end of file"
        if argv[:3] == ["docker", "volume", "inspect"] and argv[-1] in self.missing:
            return 1, "", "Error response from daemon: get %s: no such volume" % argv[-1]
        if "-cf" in argv:  # export_volume: the tar the container would write into the /out mount
            out_dir = [a for a in argv if a.endswith(":/out")][0][:-len(":/out")]
            with tarfile.open(os.path.join(out_dir, os.path.basename(argv[argv.index("-cf") + 1])), mode="w"):
                pass
        if argv[:2] == ["docker", "ps"]:
            return 0, self.running, ""
        return 0, "", ""


def tampered(store, ident, change):
    manifest = store.load_manifest(ident)
    change(manifest)
    store._write_manifest(ident, manifest)  # pylint: disable=protected-access


def contents(tree):
    return dict((path, open(path, "rb").read()) for path in _backup.walk_files(str(tree)))


def test_a_setuid_member_is_refused_before_any_write_or_docker_call(store, tree):
    os.chmod(str(tree / "site.conf"), 0o4755)
    ident, _manifest = take(store, tree)
    os.chmod(str(tree / "site.conf"), 0o644)
    (tree / "site.conf").write_text("changed since\n")
    before, docker = contents(tree), Docker()
    with pytest.raises(BackupError, match=r"site.conf with mode 0o4755: a restore never writes a setuid"):
        restore_backup(store, params(backup_id=ident), docker)
    assert contents(tree) == before and docker.calls == []
    assert stat.S_IMODE(os.stat(str(tree / "site.conf")).st_mode) == 0o644


@pytest.mark.parametrize("change, named", [
    (lambda m: m["members"][0].update(path="/etc/passwd", name="files/etc/passwd"), "/etc/passwd, outside the paths"),
    (lambda m: m["members"][0].update(path=m["members"][0]["path"] + "/../../x"), "is not a plain absolute path"),
    (lambda m: m["members"].append({"name": "volumes/..tar", "sha256": "", "size": 0}), "'.' is not a docker volume"),
    (lambda m: m["paths"].append("/etc"), "covers /etc, outside the paths"),
])
def test_a_planted_manifest_is_refused_naming_the_value(store, tree, change, named):
    ident, _manifest = take(store, tree)
    tampered(store, ident, change)
    before = contents(tree)
    with pytest.raises(BackupError, match=named):
        _backup.check_restorable(ident, store.load_manifest(ident), [str(tree)])
    assert contents(tree) == before


def backup_with_volume(store, tree, tmp_path, volume_bytes=b"tar bytes"):
    """A backup of ``tree`` and of docker volume agent-loop_data (its tar holds ``volume_bytes``)."""
    volume_tar = tmp_path / "agent-loop_data.tar"
    volume_tar.write_bytes(volume_bytes)
    ident = backup_id("1.0.0", T0)
    store.create(ident, [str(tree)], {"volumes/agent-loop_data.tar": str(volume_tar)}, "1.0.0", "agent-loop", now=T0)
    return ident


def test_a_volume_that_cannot_be_unpacked_leaves_files_and_volumes_as_they_were(store, tree, tmp_path):
    ident = backup_with_volume(store, tree, tmp_path, b"not really a tar")
    (tree / "site.conf").write_text("changed since\n")
    before = contents(tree)
    docker = Docker(fail_on="tar -C /volume -xpf", running="c0ffee\n")
    with pytest.raises(BackupError, match="cannot unpack the backup of docker volume agent-loop_data"):
        restore_backup(store, params(backup_id=ident, volume_image="img:1", paths=[str(tree)]), docker)
    assert contents(tree) == before
    touched_live = [argv for argv in docker.calls if any(a.startswith("agent-loop_data:") for a in argv)]
    assert touched_live == [] and not any(argv[:2] == ["docker", "stop"] for argv in docker.calls)
    assert docker.calls[-1] == ["docker", "volume", "rm", "-f", "agent-loop_data-nextgen-restore"]


def test_a_restore_swaps_each_volume_with_the_containers_using_it_stopped(store, tree, tmp_path):
    ident = backup_with_volume(store, tree, tmp_path)
    docker = Docker(running="c0ffee\n")
    result = restore_backup(store, params(backup_id=ident, volume_image="img:1"), docker)
    assert result["restored"] == ["volume agent-loop_data"]
    verbs = [" ".join(argv[:3]) for argv in docker.calls]
    stop, swap, start = verbs.index("docker stop c0ffee"), len(verbs) - 1 - verbs[::-1].index("docker run --rm"), \
        verbs.index("docker start c0ffee")
    assert verbs[0].startswith("docker image inspect") and stop < swap < start
    assert "agent-loop_data:/volume" in docker.calls[swap] and "cp -a /staging/. /volume/" in docker.calls[swap][-1]


def test_a_missing_volume_image_is_named_before_anything_is_written(store, tree, tmp_path):
    ident = backup_with_volume(store, tree, tmp_path)
    (tree / "site.conf").write_text("changed since\n")
    before = contents(tree)
    with pytest.raises(BackupError, match="image gone:1, through which docker volumes are read"):
        restore_backup(store, params(backup_id=ident, volume_image="gone:1"), Docker(fail_on="image inspect"))
    assert contents(tree) == before


def test_a_container_that_does_not_start_again_after_a_backup_fails_it_loudly(store, tree):
    docker = Docker(fail_on="docker start")
    with pytest.raises(BackupError, match="container app-1 .* did not start again after the backup"):
        take_backup(store, params(paths=[str(tree)], volumes=["data"], volume_image="img:1", stop_containers=["app-1"]),
                    docker)
    assert store.complete_ids() == []


def test_a_binary_dump_is_archived_byte_for_byte(store, tree, tmp_path):
    payload = bytes(range(256)) * 64
    (tmp_path / "dump.bin").write_bytes(payload)
    result = take_backup(store, params(paths=[str(tree)], pre_backup_command=["cat", str(tmp_path / "dump.bin")]),
                         Docker())
    out = tmp_path / "restored.out"
    store.extract_member(result["backup_id"], "commands/pre-backup.out", str(out))
    assert out.read_bytes() == payload


def test_a_failed_export_and_a_failed_restart_are_both_reported(store, tree):
    class Broken(Docker):
        def __call__(self, argv):
            self.calls.append(argv)
            if "tar" in argv or argv[:2] == ["docker", "start"]:
                return 1, "", "boom %s" % argv[1]
            return 0, "", ""
    docker = Broken()
    with pytest.raises(BackupError) as caught:
        take_backup(store, params(paths=[str(tree)], volumes=["data"], volume_image="img:1", stop_containers=["app-1"]),
                    docker)
    assert "cannot read docker volume data" in str(caught.value)
    assert "then container app-1 (boom start) did not start again after the backup" in str(caught.value)
    assert ["docker", "start", "app-1"] in docker.calls and store.complete_ids() == []


def test_restoring_a_backup_that_does_not_exist_names_those_that_do(store, tree):
    ident, _manifest = take(store, tree)
    params = {"backup_id": "20990101T000000000000Z-9.9.9", "service": "shop"}
    with pytest.raises(BackupError, match="there is no backup 20990101T000000000000Z-9.9.9 of shop in .*: its backups are, oldest first, %s; "
                                          "give one of them as backup_id" % ident):
        _backup.chosen_backup(store, params)
    with pytest.raises(BackupError, match="is not a backup id"):
        _backup.chosen_backup(store, dict(params, backup_id="../../etc/passwd"))
    assert _backup.chosen_backup(store, dict(params, backup_id=ident)) == ident


def mounts(calls, volume):
    return [argv for argv in calls if argv[:2] == ["docker", "run"] and any(a.startswith(volume + ":") for a in argv)]


def test_a_volume_that_does_not_exist_yet_is_archived_empty_without_being_created(store, tmp_path):
    # docker run -v would create it as a plain local volume, and compose would keep that one instead of
    # creating it with the driver options of the service's definition (a bind to another disk, say).
    docker = Docker(missing={"portal_uploads"})
    made = take_backup(store, params(volumes=["portal_uploads", "portal_cache"], volume_image="image", live_version=""), docker)
    assert made["absent_volumes"] == ["portal_uploads"]
    assert mounts(docker.calls, "portal_uploads") == [] and len(mounts(docker.calls, "portal_cache")) == 1
    manifest = store.verify(made["backup_id"])
    assert manifest["absent_volumes"] == ["portal_uploads"]
    empty = tmp_path / "empty.tar"
    store.extract_member(made["backup_id"], "volumes/portal_uploads.tar", str(empty))
    with tarfile.open(str(empty)) as archive:
        assert archive.getnames() == []

    # Restored while it still does not exist: nothing to put back, and it is not created.
    still_missing = Docker(missing={"portal_uploads"})
    restored = restore_backup(store, params(backup_id=made["backup_id"], volume_image="image"), still_missing)
    assert restored["restored"] == ["volume portal_cache"] and mounts(still_missing.calls, "portal_uploads") == []
    # Restored once it exists: it is emptied, as it was when the backup was taken.
    existing = Docker()
    restored = restore_backup(store, params(backup_id=made["backup_id"], volume_image="image"), existing)
    assert sorted(restored["restored"]) == ["volume portal_cache", "volume portal_uploads"]
    assert len(mounts(existing.calls, "portal_uploads")) == 1


def test_a_volume_docker_cannot_read_stops_the_backup_before_anything_is_written(store):
    def run(argv):
        return 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
    with pytest.raises(BackupError, match="cannot read docker volume data: Cannot connect to the Docker daemon"):
        take_backup(store, params(volumes=["data"], volume_image="image"), run)
    assert store.complete_ids() == []


class DockerWithCompose(Docker):
    """Docker as above, but ``docker compose ... config`` is compose itself, reading the test's files."""

    def __call__(self, argv):
        if argv[:2] == ["docker", "compose"]:
            self.calls.append(argv)
            done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
            return done.returncode, done.stdout, done.stderr
        return super(DockerWithCompose, self).__call__(argv)


def deployed(tmp_path, **files):
    project_dir = tmp_path / "opt" / "notes"
    project_dir.mkdir(parents=True)
    for name, text in files.items():
        (project_dir / (name + ".compose.yml")).write_text(text)
    return str(project_dir)


COLOUR = """services:
  app:
    image: notes-api:{version}
    volumes: [data:/data, cache:/cache]
volumes:
  data: {{external: true, name: notes_data}}
  cache: {{external: true, name: notes_cache}}
"""
ACCESSORIES = """services:
  redis:
    image: redis:7.0
    volumes: [redis:/var/lib/redis]
volumes:
  redis: {name: notes_redis}
"""


def test_the_named_volumes_of_the_deployed_projects_are_archived_through_the_live_colour_s_image(store, tmp_path):
    project_dir = deployed(tmp_path, blue=COLOUR.format(version="2.0.0"), green=COLOUR.format(version="2.1.0"),
                           accessories=ACCESSORIES)
    docker = DockerWithCompose()
    made = take_backup(store, params(volumes=["extra"], project_dir=project_dir, live_colour="green"), docker)
    archived = sorted(m["name"] for m in store.verify(made["backup_id"])["members"] if m["name"].startswith("volumes/"))
    assert archived == ["volumes/%s.tar" % v for v in ("extra", "notes_cache", "notes_data", "notes_redis")]
    readers = set(argv[argv.index("-cf") - 3] for argv in docker.calls if argv[:2] == ["docker", "run"])
    assert readers == {"notes-api:2.1.0"}


def test_a_deployed_project_compose_cannot_read_stops_the_backup_naming_it(store, tmp_path):
    project_dir = deployed(tmp_path, blue="services: [not, a, mapping]\n")
    with pytest.raises(BackupError, match=r"docker compose cannot read .*/opt/notes/blue.compose.yml"):
        take_backup(store, params(project_dir=project_dir), DockerWithCompose())
    assert store.complete_ids() == []
