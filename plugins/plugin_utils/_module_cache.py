# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Keep the modules ansible-core packs for the hosts from one run to the next.

Without Mitogen (the builtin strategy, which rollback.yml uses), a module reaches the host as an
AnsiballZ payload: the module and every module_utils file it imports, found by parsing them all,
zipped. ansible-core builds each module once per run, in a cache directory of that run, and
throws it away at the end: a warm rollback rebuilds its one module (about 0.2 s) on every run.

Here, at the end of a run, each module built in it is kept with the list of files it packed (path,
size, modification time), after checking that each file still holds what was packed; at the start
of a run, a kept module is put back in the run's cache directory, where ansible-core looks before it
builds, when this run would pack the same files (from the same checkout of the collection and the
same ansible-core) and none of them changed. The kept files are pickles that ansible-core loads: the
directory must belong to the user that runs ansible-playbook and be writable by nobody else, or it
is not used.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pickle
import shutil
import sys
import zipfile

from ansible_collections.nextgen.rollout.plugins.module_utils._files import PRIVATE_FILE_MODE, atomic_write_bytes
from ansible_collections.nextgen.rollout.plugins.plugin_utils._user_cache import private_dir, switched_off, user_cache_dir

# Set to "off" to build every module in every run, as ansible-core does on its own.
SWITCH = "NEXTGEN_ROLLOUT_MODULE_CACHE"
FILES_SUFFIX = ".files.json"
# Written by ansible-core's packer, not read from a file: the same for one ansible-core version, which names the store.
PACKER_MADE = frozenset(("ansible/__init__.py", "ansible/module_utils/__init__.py"))


def store_dir():
    """The directory of this user's kept modules, one per Python and ansible-core version."""
    from ansible.release import __version__ as ansible_version  # pylint: disable=import-outside-toplevel

    return user_cache_dir("modules", "%s-ansible%s" % (sys.implementation.cache_tag, ansible_version))


def run_cache_dir():
    """Where ansible-core looks for the modules it built in this run."""
    from ansible import constants  # pylint: disable=import-outside-toplevel

    return os.path.join(constants.DEFAULT_LOCAL_TMP, "ansiballz_cache")


def source_of(member, roots):
    """The controller file a member of the payload was packed from, or None (a package's empty __init__.py
    that the packer made up). ``roots`` caches where each top-level package lives."""
    parts = member.split("/")
    if parts[0] == "ansible_collections" and len(parts) < 4:
        return None
    top = parts[0] if parts[0] == "ansible" else ".".join(parts[:3])
    if top not in roots:
        import importlib.util  # pylint: disable=import-outside-toplevel
        try:
            spec = importlib.util.find_spec(top)
            roots[top] = list(spec.submodule_search_locations)[0] if spec and spec.submodule_search_locations else None
        except (ImportError, ValueError):
            roots[top] = None
    if roots[top] is None:
        return None
    path = os.path.join(roots[top], *parts[1 if top == "ansible" else 3:])
    return path if os.path.isfile(path) else None


def packed_files(entry_path, roots):
    """[[path, size, mtime_ns]] of the files a cached module packed, or None when one of them no longer
    holds what was packed (or a member has no file to check it against)."""
    with open(entry_path, "rb") as stream:
        cached = pickle.load(stream)  # written by this run's ansible-core, in its own cache directory
    files = []
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(cached.zip_data))) as payload:
        for member in payload.namelist():
            if member in PACKER_MADE:
                continue
            content = payload.read(member)
            path = source_of(member, roots)
            if path is None:
                if content.strip():
                    return None
                continue
            with open(path, "rb") as stream:
                if stream.read() != content:
                    return None
            status = os.stat(path)
            files.append([member, path, status.st_size, status.st_mtime_ns])
    return files


def still_packs_the_same(files, roots):
    """True when this run would pack the same files (the same collection and ansible-core installations: two
    checkouts of the collection keep packs of their own) and none of them changed."""
    for member, path, size, mtime_ns in files:
        if source_of(member, roots) != path:
            return False
        status = os.stat(path)
        if (status.st_size, status.st_mtime_ns) != (size, mtime_ns):
            return False
    return True


def directories(run_dir, store):
    """(this run's cache, the store); the store is None when the cache is turned off or the store is not private."""
    run_dir, store = run_dir or run_cache_dir(), store or store_dir()
    return run_dir, (None if switched_off(SWITCH) or not private_dir(store) else store)


def stored_name(module, files):
    """The name of a pack in the store: the module's, and a digest of where its files come from."""
    return "%s.%s" % (module, hashlib.sha256(json.dumps([file[:2] for file in files]).encode("utf-8")).hexdigest()[:16])


def restore(run_dir=None, store=None):
    """Put the kept modules whose files are unchanged in this run's cache, and forget those packed from files
    that are gone; the names put back."""
    run_dir, store = directories(run_dir, store)
    if store is None:
        return []
    restored, roots = [], {}
    for name in sorted(os.listdir(store)):
        if not name.endswith(FILES_SUFFIX) or name.startswith("."):
            continue
        stored = name[:-len(FILES_SUFFIX)]
        module = stored.rsplit(".", 1)[0]
        try:
            with open(os.path.join(store, name)) as stream:
                files = json.load(stream)
            target = os.path.join(run_dir, module)
            if not all(os.path.exists(file[1]) for file in files):
                # Packed from a checkout that is gone: nothing will put it back.
                for path in (os.path.join(store, stored), os.path.join(store, name)):
                    os.unlink(path)
                continue
            if os.path.exists(target) or not still_packs_the_same(files, roots):
                continue
            os.makedirs(run_dir, exist_ok=True)
            shutil.copyfile(os.path.join(store, stored), target + "-part")
            os.rename(target + "-part", target)
            restored.append(module)
        except (OSError, ValueError, TypeError):
            continue
    return restored


def keep(run_dir=None, store=None, skip=()):
    """Keep the modules this run built (not those in ``skip``, put back from the store) whose files still
    hold what was packed; the names kept."""
    run_dir, store = directories(run_dir, store)
    if store is None or not os.path.isdir(run_dir):
        return []
    kept, roots = [], {}
    for module in sorted(os.listdir(run_dir)):
        entry = os.path.join(run_dir, module)
        if module in skip or module.endswith(("-part", ".lock")) or not os.path.isfile(entry):
            continue
        try:
            files = packed_files(entry, roots)
            if files is None:
                continue
            # The module first, then its list: a run that reads an older list with the newer module finds
            # the files that list names changed, unless the newer module was packed from the same files.
            stored = stored_name(module, files)
            with open(entry, "rb") as stream:
                atomic_write_bytes(os.path.join(store, stored), stream.read(), PRIVATE_FILE_MODE, prefix=".new-", sync=False)
            atomic_write_bytes(os.path.join(store, stored + FILES_SUFFIX), json.dumps(files).encode("utf-8"), PRIVATE_FILE_MODE,
                               prefix=".new-", sync=False)
            kept.append(module)
        except Exception:  # pylint: disable=broad-exception-caught
            continue  # a module not kept is only built again next time
    return kept
