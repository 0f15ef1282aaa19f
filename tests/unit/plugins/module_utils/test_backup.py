import datetime
import errno
import json
import os
import stat

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils import _backup
from ansible_collections.nextgen.rollout.plugins.module_utils._backup import (
    BackupError, BackupStore, backup_id, export_volume, import_volume)

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
    import_volume(run, "img:1", "data", "/tmp/w/data.tar")
    assert "data:/volume" in calls[1] and calls[1][-1] == "data.tar"
    with pytest.raises(BackupError, match="cannot read docker volume data"):
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
        _backup.import_volume(run, "image", volume, str(tmp_path / "data.tar"))
    assert calls == []
    assert _backup.named_volume("agent-loop_data") == "agent-loop_data"
