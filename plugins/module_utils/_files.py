# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile


def atomic_write_text(path, text, mode, prefix=None):
    """Write ``text`` to a temporary file beside ``path`` (mode set before any byte), fsync, rename."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=prefix or ".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


PRIVATE_DIR_MODE, PRIVATE_FILE_MODE = 0o700, 0o600


def file_name_problem(name):
    """Why ``name`` is not a plain file name inside its directory ('' when it is)."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\0" in name:
        return "%r is not a file name (no '/', not '.' or '..'): each file stays inside its directory" % (name,)
    return ""


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_private_files(directory, files, check=False):
    """Make ``directory`` (mode 0700) hold each of ``files`` ({name: text}) with mode 0600.
    Writes only what differs, each file atomically. Returns (whether the directory changed, changed names, {name: text before or None})."""
    problems = [problem for problem in (file_name_problem(name) for name in files) if problem]
    if problems:
        raise ValueError("; ".join(problems))
    changed, before = [], {}
    dir_changed = not os.path.isdir(directory) or (os.stat(directory).st_mode & 0o7777) != PRIVATE_DIR_MODE
    if dir_changed and not check:
        os.makedirs(directory, mode=PRIVATE_DIR_MODE, exist_ok=True)
        os.chmod(directory, PRIVATE_DIR_MODE)
    for name in sorted(files):
        path = os.path.join(directory, name)
        current = read_bytes(path)
        text = files[name]
        if current == text.encode("utf-8") and (os.stat(path).st_mode & 0o7777) == PRIVATE_FILE_MODE:
            continue
        changed.append(name)
        before[name] = current.decode("utf-8", "replace") if current is not None else None
        if not check:
            atomic_write_text(path, text, PRIVATE_FILE_MODE)
    return dir_changed, changed, before
