# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Backups a rollback can rely on: verified archives with a manifest, written so that a failed
or interrupted backup is never taken for the latest one.

A backup ``<id>`` (UTC time, then the live version) is two files in the backup directory:
    <id>.tar.gz          members: files/<absolute path>, volumes/<name>.tar, commands/<name>.out
    <id>.manifest.json   what each member is, its size and sha256, the archive's sha256, the version
                         live at the time; written last, so a backup without it does not exist.
Both are written under a temporary name in the same directory, fsynced and renamed. The
directory is 0700 and the files 0600: they hold env files with secrets.

Restore reads the manifest, checks the archive's sha256, then every member's sha256, and only then
writes anything; each file goes back atomically with its recorded mode and owner.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zlib

from ansible_collections.nextgen.rollout.plugins.module_utils._files import atomic_write_text

FILE_MODE = 0o600
DIR_MODE = 0o700
CHUNK = 1024 * 1024
ID_PATTERN = re.compile(r"^(\d{8}T\d{6}\d{0,6}Z)-([A-Za-z0-9_.-]+)$")


class BackupError(Exception):
    pass


class DigestingReader:
    """Reads a stream and hashes exactly the bytes it hands on. The archive reads each file through
    one, so a file that changes while it is backed up can never make a manifest that disagrees
    with its archive; verification hashes through one too."""

    def __init__(self, handle):
        self.handle, self.digest, self.size = handle, hashlib.sha256(), 0

    def read(self, size=-1):
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


def sha256_stream(handle):
    """(sha256, size) of what is left to read in ``handle``."""
    reader = DigestingReader(handle)
    while reader.read(CHUNK):
        pass
    return reader.digest.hexdigest(), reader.size


def sha256_file(path):
    with open(path, "rb") as handle:
        return sha256_stream(handle)[0]


def confined_id(ident):
    """``ident`` when it is a backup id, which can never name a path outside the store."""
    if not isinstance(ident, str) or not ID_PATTERN.match(ident):
        raise BackupError("%r is not a backup id: an id is <UTC time>-<version> as backup.yml prints it "
                          "(for example 20261121T060000000000Z-1.0.0); list them with backup.yml's output or "
                          "the files in the backup directory. Nothing was changed." % (ident,))
    return ident


def backup_id(version, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    label = re.sub(r"[^A-Za-z0-9_.-]", "_", version or "none")
    return "%s-%s" % (now.strftime("%Y%m%dT%H%M%S%fZ"), label)


def walk_files(path):
    """Regular files under ``path`` (or ``path`` itself), sorted; symlinks are not followed."""
    if os.path.isfile(path) and not os.path.islink(path):
        return [path]
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            if os.path.isfile(full) and not os.path.islink(full):
                found.append(full)
    return found


def free_bytes(directory):
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def ensure_private_dir(directory):
    if not os.path.isdir(directory):
        os.makedirs(directory, DIR_MODE)
    os.chmod(directory, DIR_MODE)


class BackupStore(object):
    """The backups of one service in one directory."""

    def __init__(self, directory):
        self.directory = directory

    def archive_path(self, ident):
        return os.path.join(self.directory, confined_id(ident) + ".tar.gz")

    def manifest_path(self, ident):
        return os.path.join(self.directory, confined_id(ident) + ".manifest.json")

    # Listing --------------------------------------------------------------------------------
    def complete_ids(self):
        """Ids of backups whose manifest and archive both exist, oldest first."""
        if not os.path.isdir(self.directory):
            return []
        ids = []
        for name in os.listdir(self.directory):
            if name.endswith(".manifest.json"):
                ident = name[:-len(".manifest.json")]
                if ID_PATTERN.match(ident) and os.path.exists(self.archive_path(ident)):
                    ids.append(ident)
        return sorted(ids)

    def load_manifest(self, ident):
        try:
            with open(self.manifest_path(ident)) as handle:
                return json.load(handle)
        except (IOError, ValueError) as exc:
            raise BackupError("manifest of backup %s cannot be read (%s)" % (ident, exc))

    def leftovers(self):
        """Temporary files of backups that never finished."""
        if not os.path.isdir(self.directory):
            return []
        return sorted(os.path.join(self.directory, n) for n in os.listdir(self.directory) if n.startswith(".partial-"))

    # Creating --------------------------------------------------------------------------------
    def create(self, ident, files, extra_members, live_version, service, min_free_bytes=0, now=None, requested=None,
               absent_volumes=()):
        """Write backup ``ident``: ``files`` (absolute paths) and ``extra_members`` ({name: local path}).

        ``requested`` are the paths asked for, including missing ones: an exact restore makes them
        as they were, so what did not exist then is removed. ``absent_volumes`` are the volumes that did
        not exist (their members are empty). Checks free space first (the sum of the inputs plus
        ``min_free_bytes``). Returns the manifest."""
        ensure_private_dir(self.directory)
        inputs = []
        for path in files:
            for found in walk_files(path):
                inputs.append(("files" + found, found))
        for name, local in sorted(extra_members.items()):
            inputs.append((name, local))
        needed = sum(os.path.getsize(local) for _name, local in inputs) + min_free_bytes
        available = free_bytes(self.directory)
        if available < needed:
            raise BackupError(
                "not enough space in %s: %d MB free, the backup needs about %d MB: free some space, lower the "
                "retention, or point backup_dir elsewhere. Nothing was written; the latest backup is unchanged."
                % (self.directory, available // 1048576, -(-needed // 1048576)))
        members = []
        fd, partial = tempfile.mkstemp(prefix=".partial-%s." % ident, dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as raw:
                os.fchmod(raw.fileno(), FILE_MODE)
                with tarfile.open(fileobj=raw, mode="w:gz") as archive:
                    for name, local in inputs:
                        with open(local, "rb") as handle:
                            info = os.fstat(handle.fileno())
                            reader = DigestingReader(handle)
                            archive.addfile(archive.gettarinfo(arcname=name, fileobj=handle), reader)
                        members.append({"name": name, "size": reader.size, "sha256": reader.digest.hexdigest(),
                                        "path": local if name.startswith("files/") else None,
                                        "mode": info.st_mode & 0o7777, "uid": info.st_uid, "gid": info.st_gid})
                raw.flush()
                os.fsync(raw.fileno())
            manifest = {
                "id": ident, "service": service, "live_version": live_version,
                "created": (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(),
                "members": members, "paths": sorted(requested if requested is not None else files),
                "absent_volumes": sorted(absent_volumes),
                "archive_sha256": sha256_file(partial),
                "archive_size": os.path.getsize(partial), "total_size": sum(m["size"] for m in members),
            }
            os.rename(partial, self.archive_path(ident))
            self._write_manifest(ident, manifest)
        except BaseException as exc:
            for path in (partial, self.archive_path(ident)):
                if os.path.exists(path):
                    os.unlink(path)
            if isinstance(exc, (OSError, IOError)) and exc.errno == errno.ENOSPC:
                raise BackupError("the disk holding %s filled up while writing backup %s: the partial archive "
                                  "was removed and the latest backup is unchanged. Free some space and run again."
                                  % (self.directory, ident))
            raise
        return manifest

    def _write_manifest(self, ident, manifest):
        atomic_write_text(self.manifest_path(ident), json.dumps(manifest, indent=2, sort_keys=True), FILE_MODE,
                          prefix=".partial-%s.manifest." % ident)

    # Retention ------------------------------------------------------------------------------
    def expired(self, keep=None, max_age_days=None, now=None, protect=()):
        """Ids that no rule keeps, as restic does: a backup stays when it is one of the ``keep``
        newest, or younger than ``max_age_days``, or in ``protect``. Without a rule nothing expires
        (an age limit alone after a quiet month must not empty the store)."""
        if keep is None and max_age_days is None:
            return []
        now = now or datetime.datetime.now(datetime.timezone.utc)
        ids = self.complete_ids()
        kept = set(protect)
        if keep is not None:
            kept.update(ids[max(0, len(ids) - keep):])
        if max_age_days is not None:
            for ident in ids:
                made = datetime.datetime.strptime(ID_PATTERN.match(ident).group(1)[:15], "%Y%m%dT%H%M%S")
                if (now - made.replace(tzinfo=datetime.timezone.utc)).total_seconds() <= max_age_days * 86400:
                    kept.add(ident)
        return [ident for ident in ids if ident not in kept]

    def remove(self, ident):
        for path in (self.manifest_path(ident), self.archive_path(ident)):
            if os.path.exists(path):
                os.unlink(path)

    # Verifying and restoring -------------------------------------------------------------------
    def latest_good(self):
        """The newest backup whose archive matches its manifest, or None."""
        for ident in reversed(self.complete_ids()):
            try:
                self.verify(ident)
                return ident
            except BackupError:
                continue
        return None

    def verify(self, ident):
        """Check every member, then the whole archive, against the manifest; raise naming what fails."""
        manifest = self.load_manifest(ident)
        archive = self.archive_path(ident)
        if not os.path.exists(archive):
            raise BackupError("backup %s has no archive %s" % (ident, archive))
        expected = dict((m["name"], m) for m in manifest["members"])
        order = [m["name"] for m in manifest["members"]]
        seen, current = [], None
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for info in tar:
                    current = info.name
                    member = expected.get(info.name)
                    if member is None:
                        raise BackupError("archive %s holds %s, which its manifest does not list" % (archive, info.name))
                    digest, size = sha256_stream(tar.extractfile(info))
                    if digest != member["sha256"] or size != member["size"]:
                        raise BackupError("member %s of backup %s does not match its manifest: sha256 %s, expected %s"
                                          % (info.name, ident, digest, member["sha256"]))
                    seen.append(info.name)
                    current = None
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            failing = current or next((n for n in order if n not in seen), "(end of archive)")
            raise BackupError("member %s of backup %s cannot be read (%s): the archive %s is corrupted or truncated"
                              % (failing, ident, exc, archive))
        missing = [n for n in order if n not in seen]
        if missing:
            raise BackupError("member %s of backup %s is missing from %s: the archive is truncated"
                              % (missing[0], ident, archive))
        actual = sha256_file(archive)
        if actual != manifest["archive_sha256"]:
            raise BackupError("archive %s of backup %s has sha256 %s, the manifest says %s: it was altered"
                              % (archive, ident, actual, manifest["archive_sha256"]))
        return manifest

    def extract_member(self, ident, name, destination):
        """Copy one member of a verified backup to ``destination`` (a new file, mode 0600)."""
        with tarfile.open(self.archive_path(ident), "r:gz") as tar:
            source = tar.extractfile(name)
            with open(destination, "wb") as out:
                os.fchmod(out.fileno(), FILE_MODE)
                shutil.copyfileobj(source, out, CHUNK)

    def extra_files(self, manifest, keep=()):
        """Files now under the paths a backup covered that it does not hold (they came later)."""
        held = set(m["path"] for m in manifest["members"] if m.get("path"))
        extra = []
        for path in manifest.get("paths", []):
            extra += [found for found in walk_files(path) if found not in held and found not in keep]
        return extra

    def restore_files(self, ident, manifest, exact=False, keep=()):
        """Put every file member back at its path, atomically, with its mode and owner; with
        ``exact``, also remove the files under the backed-up paths that the backup does not hold.
        Paths in ``keep`` are left as they are.

        Returns the paths that changed."""
        changed = []
        if exact:
            for path in self.extra_files(manifest, keep):
                os.unlink(path)
                changed.append(path)
        with tarfile.open(self.archive_path(ident), "r:gz") as tar:
            for member in manifest["members"]:
                if not member.get("path") or member["path"] in keep:
                    continue
                path = member["path"]
                if os.path.exists(path) and sha256_file(path) == member["sha256"] \
                        and (os.stat(path).st_mode & 0o7777) == member["mode"]:
                    continue
                directory = os.path.dirname(path)
                if not os.path.isdir(directory):
                    os.makedirs(directory, 0o755)
                fd, tmp = tempfile.mkstemp(prefix=".restore-", dir=directory)
                try:
                    with os.fdopen(fd, "wb") as out:
                        shutil.copyfileobj(tar.extractfile(member["name"]), out, CHUNK)
                        out.flush()
                        os.fsync(out.fileno())
                    os.chmod(tmp, member["mode"])
                    os.chown(tmp, member["uid"], member["gid"])
                    os.rename(tmp, path)
                except BaseException:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    raise
                changed.append(path)
        return changed


# Docker named volumes, read and written through a throw-away container --------------------------
# Docker's own rule for a named volume; anything else given to ``-v`` (a path) is a host bind mount.
VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# setuid, setgid, sticky: never written back by a restore (no service file needs them).
SPECIAL_MODE_BITS = 0o7000


def named_volume(volume):
    """``volume`` when it is a docker named volume: a path would make ``-v`` mount (and a restore
    empty) a host directory."""
    if not isinstance(volume, str) or not VOLUME_NAME.match(volume):
        raise BackupError("%r is not a docker volume name (letters, digits, _ . -, not a path): a path would mount a "
                          "host directory. Name the volume as docker volume ls shows it. Nothing was changed." % (volume,))
    return volume


def under(path, roots):
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def check_restorable(ident, manifest, allowed=()):
    """Raise, naming the value, unless every member of ``manifest`` can be written back safely: file
    members at a normalised absolute path under ``allowed`` (default the paths the backup covered),
    without setuid, setgid or sticky bits; volume members with a docker volume name. Runs before
    any write or docker call, so a tampered or foreign manifest changes nothing."""
    roots = [os.path.normpath(root) for root in (allowed or manifest.get("paths") or [])]
    outside = [path for path in manifest.get("paths") or [] if allowed and not under(os.path.normpath(path), roots)]
    if outside:
        raise BackupError("backup %s covers %s, outside the paths this restore may write (%s): if the backup was "
                          "taken with more paths (backup_extra_paths), give them to the restore too. Nothing was changed."
                          % (ident, outside[0], ", ".join(roots)))
    for member in manifest["members"]:
        name = member.get("name") or ""
        if name.startswith("volumes/") and name.endswith(".tar"):
            named_volume(name[len("volumes/"):-len(".tar")])
        elif name.startswith("files/"):
            path = member.get("path")
            if not isinstance(path, str) or not os.path.isabs(path) or os.path.normpath(path) != path \
                    or name != "files" + path:
                raise BackupError("backup %s holds a file member %r whose path %r is not a plain absolute path: the "
                                  "manifest was altered. Nothing was changed." % (ident, name, path))
            if not under(path, roots):
                raise BackupError("backup %s holds %s, outside the paths this restore may write (%s). Nothing was "
                                  "changed." % (ident, path, ", ".join(roots)))
            if not isinstance(member.get("mode"), int) or member["mode"] & SPECIAL_MODE_BITS:
                raise BackupError("backup %s holds %s with mode %s: a restore never writes a setuid, setgid or "
                                  "sticky file. Nothing was changed." % (ident, path, oct(member.get("mode") or 0)))
            if not isinstance(member.get("uid"), int) or not isinstance(member.get("gid"), int) \
                    or member["uid"] < 0 or member["gid"] < 0:
                raise BackupError("backup %s holds %s with owner %r:%r, not numeric ids. Nothing was changed."
                                  % (ident, path, member.get("uid"), member.get("gid")))
        elif not name.startswith("commands/") or member.get("path"):
            raise BackupError("backup %s holds a member %r this collection never writes: the manifest was altered. "
                              "Nothing was changed." % (ident, name))


def volume_exists(run, volume):
    """Whether docker has ``volume``. A backup must not mount one that does not exist: ``docker run -v``
    would create it as a plain local volume, and compose would then keep that one (with a warning)
    instead of creating it with the driver and options the service's definition gives."""
    rc, out, err = run(["docker", "volume", "inspect", "--format", "{{.Name}}", named_volume(volume)])
    if rc == 0:
        return True
    if "no such volume" in (err or out).lower():
        return False
    raise BackupError("cannot read docker volume %s: %s" % (volume, (err or out).strip()))


def empty_volume_archive(volume, out_dir):
    """The archive of a volume that does not exist yet: an empty tar, so that a restore of this backup
    empties the volume if it exists by then."""
    path = os.path.join(out_dir, "%s.tar" % named_volume(volume))
    with tarfile.open(path, mode="w"):
        pass
    os.chmod(path, FILE_MODE)
    return path


def export_volume(run, image, volume, out_dir):
    """Tar the content of ``volume`` into ``out_dir/<volume>.tar`` with a read-only mount."""
    named_volume(volume)
    argv = ["docker", "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "tar",
            "-v", "%s:/volume:ro" % volume, "-v", "%s:/out" % out_dir, image,
            "-C", "/volume", "-cf", "/out/%s.tar" % volume, "."]
    rc, out, err = run(argv)
    if rc != 0:
        raise BackupError("cannot read docker volume %s through image %s: %s (volumes are read through an image with tar "
                          "and sh, the live colour's by default: name another in backup_volume_image)"
                          % (volume, image, (err or out).strip()))
    return os.path.join(out_dir, "%s.tar" % volume)


def staging_volume(volume):
    return "%s-nextgen-restore" % named_volume(volume)


def stage_volume(run, image, volume, tar_path):
    """Unpack the tar at ``tar_path`` into a fresh staging volume beside ``volume`` (the live
    volume is not touched). Returns the staging volume's name."""
    staging = staging_volume(volume)
    run(["docker", "volume", "rm", "-f", staging])  # left over by a killed restore
    directory, name = os.path.split(tar_path)
    argv = ["docker", "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh",
            "-v", "%s:/volume" % staging, "-v", "%s:/in:ro" % directory, image,
            "-c", 'tar -C /volume -xpf "/in/$0"', name]
    rc, out, err = run(argv)
    if rc != 0:
        run(["docker", "volume", "rm", "-f", staging])
        raise BackupError("cannot unpack the backup of docker volume %s through image %s: %s"
                          % (volume, image, (err or out).strip()))
    return staging


def containers_using(run, volume):
    rc, out, err = run(["docker", "ps", "-q", "--filter", "volume=%s" % volume])
    if rc != 0:
        raise BackupError("cannot list the containers that use docker volume %s: %s" % (volume, (err or out).strip()))
    return out.split()


def start_containers(run, containers, why):
    """Start each container; raise naming every one that did not start."""
    failed = []
    for container in containers:
        rc, out, err = run(["docker", "start", container])
        if rc != 0:
            failed.append("%s (%s)" % (container, (err or out).strip()))
    if failed:
        raise BackupError("container %s did not start again after %s: start it with docker start, and check "
                          "docker logs" % (", ".join(failed), why))


@contextlib.contextmanager
def stopped_meanwhile(run, containers, why):
    """Stop ``containers`` for the ``with`` block and start them again after it, whatever happened.
    One that does not start again raises, naming it, with the block's own error if it had one."""
    stopped = []
    try:
        for container in containers:
            rc, out, err = run(["docker", "stop", container])
            if rc != 0:
                raise BackupError("cannot stop container %s for %s: %s" % (container, why, (err or out).strip()))
            stopped.append(container)
        yield
    except BaseException as exc:
        try:
            start_containers(run, stopped, why)
        except BackupError as restart:
            raise BackupError("%s; then %s" % (exc, restart))
        raise
    start_containers(run, stopped, why)


def swap_volume(run, image, volume, staging):
    """Make ``volume`` hold exactly what ``staging`` holds, with the containers that use it stopped
    meanwhile and started again after."""
    with stopped_meanwhile(run, containers_using(run, volume), "the restore of docker volume %s" % volume):
        argv = ["docker", "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh",
                "-v", "%s:/volume" % volume, "-v", "%s:/staging:ro" % staging, image,
                "-c", "find /volume -mindepth 1 -delete && cp -a /staging/. /volume/"]
        rc, out, err = run(argv)
        if rc != 0:
            raise BackupError("cannot copy the restored content into docker volume %s through image %s: %s"
                              % (volume, image, (err or out).strip()))


def image_present(run, image):
    rc, _out, _err = run(["docker", "image", "inspect", "--format", "{{.Id}}", image])
    if rc != 0:
        raise BackupError("image %s, through which docker volumes are read and written, is not on this host: pull "
                          "it or name another local image with sh and tar (volume_image). Nothing was changed." % image)


# The module's actions ---------------------------------------------------------------------------
def summary(store, ident, manifest):
    return dict(backup_id=ident, archive=store.archive_path(ident), live_version=manifest.get("live_version"),
                members=len(manifest["members"]), total_size=manifest["total_size"])


def run_to_file(argv, path):
    """Run ``argv`` with its standard output streamed, as bytes, into ``path`` (mode 0600).
    Returns (rc, stderr text)."""
    with open(path, "wb") as out:
        os.fchmod(out.fileno(), FILE_MODE)
        done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, check=False)
    return done.returncode, done.stderr.decode("utf-8", "replace")


def deployed_projects(run, project_dir):
    """What the service's compose projects on the host (``*.compose.yml`` in ``project_dir``: its colours'
    and its accessories') use, as compose itself reads them: {"volumes": the docker names of the named
    volumes they declare, "images": {file name without .compose.yml: the image of its service app}}."""
    found = {"volumes": [], "images": {}}
    if not project_dir or not os.path.isdir(project_dir):
        return found
    for name in sorted(os.listdir(project_dir)):
        if not name.endswith(".compose.yml"):
            continue
        path = os.path.join(project_dir, name)
        rc, out, err = run(["docker", "compose", "-f", path, "config", "--format", "json"])
        if rc != 0:
            raise BackupError("docker compose cannot read %s, the service's deployed project (%s): a backup needs its "
                              "named volumes; put it right, or redeploy the service. Nothing was changed."
                              % (path, err.strip()[-300:]))
        project = json.loads(out)
        found["volumes"].extend(v["name"] for v in (project.get("volumes") or {}).values() if (v or {}).get("name"))
        app = (project.get("services") or {}).get("app") or {}
        if app.get("image"):
            found["images"][name[:-len(".compose.yml")]] = app["image"]
    found["volumes"] = sorted(set(found["volumes"]))
    return found


def take_backup(store, params, run, check_mode=False):
    """Action create of the backup module: ``params`` are the module's, ``run(argv)`` returns (rc, out, err).
    Besides ``volumes``, the named volumes of the compose projects in ``project_dir`` are archived, read
    through ``volume_image`` or else the image the live colour (``live_colour``) runs."""
    deployed = deployed_projects(run, params.get("project_dir"))
    params = dict(params, volumes=sorted(set(params["volumes"]) | set(deployed["volumes"])))
    if params["volumes"] and not params["volume_image"]:
        images = deployed["images"]
        params["volume_image"] = images.get(params.get("live_colour") or "") or next(iter(sorted(images.values())), None)
    for volume in params["volumes"]:
        named_volume(volume)
    if params["volumes"] and not params["volume_image"]:
        raise BackupError("volumes %s need volume_image, a local image with tar" % ", ".join(params["volumes"]))
    ident = backup_id(params["live_version"])
    if check_mode:
        return dict(changed=True, backup_id=ident, removed=store.expired(params["keep"], params["max_age_days"]))
    skipped = [path for path in params["paths"] if not os.path.exists(path)]
    ensure_private_dir(store.directory)
    work = tempfile.mkdtemp(prefix=".work-", dir=store.directory)
    try:
        extra = {}
        if params["pre_backup_command"]:
            output = os.path.join(work, "pre-backup.out")
            rc, err = run_to_file(params["pre_backup_command"], output)
            if rc != 0:
                raise BackupError("the pre-backup command (%s) failed (rc=%d): %s"
                                  % (params["pre_backup_command"][0], rc, err.strip()[-500:]))
            extra["commands/pre-backup.out"] = output
        absent = [volume for volume in params["volumes"] if not volume_exists(run, volume)]
        for volume in absent:
            extra["volumes/%s.tar" % volume] = empty_volume_archive(volume, work)
        present = [volume for volume in params["volumes"] if volume not in absent]
        if present:
            with stopped_meanwhile(run, params["stop_containers"], "the backup"):
                for volume in present:
                    extra["volumes/%s.tar" % volume] = export_volume(run, params["volume_image"], volume, work)
        manifest = store.create(ident, [x for x in params["paths"] if x not in skipped], extra,
                                params["live_version"], params["service"],
                                min_free_bytes=params["min_free_mb"] * 1048576, requested=params["paths"],
                                absent_volumes=absent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    try:
        store.verify(ident)
    except BackupError as exc:
        store.remove(ident)
        raise BackupError("backup %s does not read back as it was written (%s): it was removed, and no older "
                          "backup was pruned. Check the backup disk." % (ident, exc))
    # Pruned only once the new backup has been read back: it is the newest good one, so it stays.
    removed = store.expired(params["keep"], params["max_age_days"], protect=[ident])
    for old in removed:
        store.remove(old)
    return dict(changed=True, skipped_paths=skipped, absent_volumes=absent, removed=removed,
                **summary(store, ident, manifest))


def chosen_backup(store, params):
    ident = params["backup_id"] or store.latest_good()
    if ident is None:
        raise BackupError("no backup of %s in %s verifies: take one with playbooks/backup.yml"
                          % (params["service"], store.directory))
    known = store.complete_ids()
    if confined_id(ident) not in known:
        raise BackupError("there is no backup %s of %s in %s: %s. Nothing was changed." % (
            ident, params["service"], store.directory,
            ("its backups are, oldest first, " + ", ".join(known) + "; give one of them as backup_id, or none for the "
             "latest that verifies") if known else "it has no backup (take one with playbooks/backup.yml)"))
    return ident


def restore_backup(store, params, run, check_mode=False):
    """Action restore of the backup module. Every check comes before the first write; volumes are
    unpacked into staging volumes before any file is written, so a backup that cannot be unpacked
    changes nothing; the live volumes are then swapped with their containers stopped."""
    ident = chosen_backup(store, params)
    manifest = store.verify(ident)
    check_restorable(ident, manifest, params["paths"])
    keep = set(params["keep_paths"])
    pending = [m["path"] for m in manifest["members"] if m.get("path") and m["path"] not in keep
               and not (os.path.exists(m["path"]) and sha256_file(m["path"]) == m["sha256"])]
    if params["exact"]:
        pending += store.extra_files(manifest, keep)
    volumes = [m["name"][len("volumes/"):-len(".tar")] for m in manifest["members"] if m["name"].startswith("volumes/")]
    # A volume that existed neither then nor now has nothing to put back; mounting it would create it.
    volumes = [volume for volume in volumes
               if volume not in (manifest.get("absent_volumes") or []) or volume_exists(run, volume)]
    if volumes:
        if not params["volume_image"]:
            raise BackupError("backup %s holds docker volumes: give volume_image to restore them. Nothing was changed."
                              % ident)
        image_present(run, params["volume_image"])
    if check_mode:
        return dict(changed=bool(pending or volumes), restored=pending + ["volume " + v for v in volumes],
                    **summary(store, ident, manifest))
    staged = {}
    work = tempfile.mkdtemp(prefix=".work-", dir=store.directory)
    try:
        for volume in volumes:
            local = os.path.join(work, "%s.tar" % volume)
            store.extract_member(ident, "volumes/%s.tar" % volume, local)
            staged[volume] = stage_volume(run, params["volume_image"], volume, local)
            os.unlink(local)
        restored = store.restore_files(ident, manifest, exact=params["exact"], keep=keep)
        for volume in volumes:
            swap_volume(run, params["volume_image"], volume, staged[volume])
            restored.append("volume " + volume)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for staging in staged.values():
            run(["docker", "volume", "rm", "-f", staging])
    return dict(changed=bool(restored), restored=restored, **summary(store, ident, manifest))
