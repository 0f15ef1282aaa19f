# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import locale
import os
import tempfile


def atomic_write_text(path, text, mode, prefix=None):
    """Write ``text`` to a temporary file beside ``path`` (mode set before any byte), fsync, rename."""
    # Encoded as open(path, "w") would: in the locale's encoding.
    atomic_write_bytes(path, text.encode(locale.getpreferredencoding(False)), mode, prefix)


def atomic_write_bytes(path, data, mode, prefix=None, sync=True):
    """Write ``data`` to a temporary file beside ``path`` (mode set before any byte), fsync unless
    ``sync`` is false (a cache, rebuilt if lost), rename."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=prefix or ".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


PRIVATE_DIR_MODE, PRIVATE_FILE_MODE = 0o700, 0o600


def controller_file(path, playbook_dir, cwd=None):
    """Where a file the operator names on the controller (rollout_compose_template,
    rollout_after_switch_tasks) is: ``path`` itself when absolute, else the first of
    ``playbook_dir/path`` and ``<the run's current directory>/path`` that is a file (a shell at the
    project's root, or AWX, which runs jobs from the project's directory). Returns {path, found,
    tried}; without a file, ``path`` is the first place tried."""
    if not path:
        return {"path": "", "found": False, "tried": []}
    bases = [""] if os.path.isabs(path) else [playbook_dir, cwd or os.getcwd()]
    tried = [os.path.normpath(os.path.join(base, path)) for base in bases]
    tried = [candidate for number, candidate in enumerate(tried) if candidate not in tried[:number]]
    found = [candidate for candidate in tried if os.path.isfile(candidate)]
    return {"path": (found or tried)[0], "found": bool(found), "tried": tried}


def file_name_problem(name):
    """Why ``name`` is not a plain file name inside its directory ('' when it is)."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\0" in name:
        return "%r is not a file name (no '/', not '.' or '..'): each file stays inside its directory" % (name,)
    return ""


def refuse_unsafe_name(module, option):
    """Fail ``module`` before it touches anything when its option ``option`` (a name that becomes part
    of paths on the host: a service, a site) is not a plain file name: ``../x`` would escape the
    state, backup or nginx directory."""
    value = module.params.get(option)
    if value not in (None, "") and file_name_problem(value):
        module.fail_json(msg="%s %r is not a plain name (no '/', not '.' or '..'): it names directories and files on the "
                             "host, which must stay inside their own directory. Nothing was changed." % (option, value))


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def has_mode(path, mode, mine=False):
    """Whether ``path`` has ``mode`` (and, with ``mine``, belongs to the user and group this runs as), in one stat."""
    found = os.stat(path)
    return found.st_mode & 0o7777 == mode and (not mine or (found.st_uid, found.st_gid) == (os.geteuid(), os.getegid()))


def ensure_directory(path, mode, check=False, mine=False):
    """Make ``path`` a directory with ``mode`` (and, with ``mine``, owned by the user and group this
    runs as). Returns whether it changed (or, in check mode, would)."""
    changed = not os.path.isdir(path) or not has_mode(path, mode, mine)
    if changed and not check:
        os.makedirs(path, mode=mode, exist_ok=True)
        if mine:
            os.chown(path, os.geteuid(), os.getegid())
        os.chmod(path, mode)
    return changed


def write_if_different(path, text, mode, check=False, mine=False):
    """Make ``path`` hold ``text`` with ``mode`` (and, with ``mine``, owned by the user this runs as),
    atomically, unless it already does. Returns (whether it changed, its text before or None)."""
    current = read_bytes(path)
    if current == text.encode("utf-8") and has_mode(path, mode, mine):
        return False, None
    if not check:
        atomic_write_text(path, text, mode)
    return True, current.decode("utf-8", "replace") if current is not None else None


# What a file held before a write that kept it (write_private_files' keep_previous), until put back.
PREVIOUS_SUFFIX = ".previous"


def write_private_files(directory, files, check=False, keep_previous=False):
    """Make ``directory`` (mode 0700) hold each of ``files`` ({name: text}) with mode 0600, both owned
    by the user this runs as: the owner of a private directory could swap the files in it. Writes
    only what differs, each file atomically. With ``keep_previous``, what each file held is kept as
    ``<name>.previous`` first (none when it did not exist), for put_back_private_files; without it, such
    a copy left behind is removed.
    Returns (whether the directory changed, changed names, {name: text before or None})."""
    problems = [problem for problem in (file_name_problem(name) for name in files) if problem]
    if problems:
        raise ValueError("; ".join(problems))
    changed, before = [], {}
    dir_changed = ensure_directory(directory, PRIVATE_DIR_MODE, check, mine=True)
    for name in sorted(files):
        path = os.path.join(directory, name)
        if not check:
            # Without keep_previous, a copy left by a run that ended before putting it back goes too.
            current = read_bytes(path) if keep_previous else None
            if current is None:
                remove_if_present(path + PREVIOUS_SUFFIX)
            else:
                atomic_write_bytes(path + PREVIOUS_SUFFIX, current, PRIVATE_FILE_MODE)
        written, before[name] = write_if_different(path, files[name], PRIVATE_FILE_MODE, check, mine=True)
        if written:
            changed.append(name)
        else:
            del before[name]
    return dir_changed, changed, before


def put_back_private_files(directory, names, check=False, forget=False):
    """Give each of ``names`` back what it held before the write that kept it (``<name>.previous``,
    moved back atomically); a name without a kept copy (it did not exist then) is left as it is.
    With ``forget``, the kept copies are removed instead (what they held is no longer needed).
    Returns the names changed (or whose copy was removed)."""
    problems = [problem for problem in (file_name_problem(name) for name in names) if problem]
    if problems:
        raise ValueError("; ".join(problems))
    changed = []
    for name in sorted(names):
        path = os.path.join(directory, name)
        if not os.path.exists(path + PREVIOUS_SUFFIX):
            continue
        changed.append(name)
        if check:
            continue
        if forget:
            os.remove(path + PREVIOUS_SUFFIX)
        else:
            os.replace(path + PREVIOUS_SUFFIX, path)
    return changed


def remove_if_present(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def path_problem(path):
    """Why ``path`` is refused ('' when it is not): only absolute, normalised paths, so that no '..'
    takes a write out of the directory the path names."""
    if not isinstance(path, str) or not os.path.isabs(path) or os.path.normpath(path) != path or "\0" in path:
        return "%r is not an absolute, normalised path (no '..', '.', '//' or trailing '/')" % (path,)
    return ""


def parse_mode(mode):
    """'0644', '644' or 420 -> 420; ValueError for anything that is not a permission mode."""
    value = mode if isinstance(mode, int) else int(str(mode), 8)
    if not 0 <= value <= 0o7777:
        raise ValueError("mode %r is out of range" % (mode,))
    return value


def apply_files(directories, files, absent, check=False):
    """Make each of ``directories`` ([{path, mode}]) exist with its mode, each of ``files``
    ([{path, content, mode}], in the order given, each atomically) hold its content and mode, and each
    path of ``absent`` not exist. Everything is checked before anything is written.
    Returns {'directories': changed, 'files': changed, 'absent': removed, 'before': {path: text or None}}."""
    problems = [problem for problem in (path_problem(entry["path"]) for entry in list(directories) + list(files))
                if problem]
    problems += [problem for problem in (path_problem(path) for path in absent) if problem]
    for entry in list(directories) + list(files):
        try:
            entry["mode"] = parse_mode(entry["mode"])
        except (TypeError, ValueError):
            problems.append("%s: mode %r is not an octal permission mode such as '0644'" % (entry["path"], entry["mode"]))
    problems += ["%s is a directory: only files are removed" % path
                 for path in absent if os.path.isdir(path) and not os.path.islink(path)]
    made = set(entry["path"] for entry in directories)
    problems += ["the directory of %s does not exist: list it in directories" % entry["path"] for entry in files
                 if not path_problem(entry["path"]) and os.path.dirname(entry["path"]) not in made
                 and not os.path.isdir(os.path.dirname(entry["path"]))]
    clash = sorted(set(entry["path"] for entry in files) & set(absent))
    if clash:
        problems.append("%s both written and removed: give each path once" % ", ".join(clash))
    if problems:
        raise ValueError("; ".join(problems))
    result = {"directories": [], "files": [], "absent": [], "before": {}}
    for entry in directories:
        if ensure_directory(entry["path"], entry["mode"], check):
            result["directories"].append(entry["path"])
    for entry in files:
        written, before = write_if_different(entry["path"], entry["content"], entry["mode"], check)
        if written:
            result["files"].append(entry["path"])
            result["before"][entry["path"]] = before
    for path in absent:
        if os.path.lexists(path):
            result["absent"].append(path)
            if not check:
                os.unlink(path)
    return result
