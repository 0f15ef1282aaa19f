# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Keep the Python code Jinja compiles each template into, across the workers of a run and across runs.

ansible-playbook runs each task in a worker forked from its main process; the worker compiles
every template it meets (the task's arguments, its conditions, every role default they reference)
and exits, so the same few hundred templates are parsed and compiled again for every task of every
host. Each compile costs a millisecond or two; a deploy compiles some seven hundred. Here the
compiled code of a template is kept in a file named after the template's text and the settings
that shape its code; the next worker (or run) loads it instead of compiling.

The files hold code that the controller runs: the directory must belong to the user that runs
ansible-playbook and be writable by nobody else, or nothing is read from it.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import threading

from ansible_collections.nextgen.rollout.plugins.module_utils._files import PRIVATE_FILE_MODE, atomic_write_bytes
from ansible_collections.nextgen.rollout.plugins.plugin_utils._user_cache import private_dir, switched_off, user_cache_dir

# Set to "off" to compile every template in every worker, as ansible-core does on its own.
SWITCH = "NEXTGEN_ROLLOUT_TEMPLATE_CACHE"
# The most files kept; past it, templates are still compiled, just not kept.
MAX_ENTRIES = 20000
# The settings of a Jinja environment that change the code a template compiles to.
SYNTAX_SETTINGS = ("block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
                   "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
                   "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized",
                   "is_async", "autoescape")

_compiling = threading.local()


def cache_dir():
    """The directory of this user's kept templates, one per Python, Jinja and ansible-core version."""
    import jinja2  # pylint: disable=import-outside-toplevel
    from ansible.release import __version__ as ansible_version  # pylint: disable=import-outside-toplevel

    return user_cache_dir("templates", "%s-jinja%s-ansible%s" % (sys.implementation.cache_tag, jinja2.__version__, ansible_version))


def pass_arg(function):
    """What Jinja's code generator passes a filter or test first ('context', 'environment'...), '' for nothing,
    'missing' when there is no such filter or test."""
    if function is None:
        return "missing"
    passed = getattr(function, "jinja_pass_arg", None)
    return getattr(passed, "name", "") if passed is not None else ""


def plugins_used(environment, tree):
    """(kind, name, what it is passed) of each filter and test a parsed template calls: the code
    compiled for it depends on what each was when it was compiled."""
    from jinja2 import nodes  # pylint: disable=import-outside-toplevel

    used = set()
    for kind, node_class, known in (("filter", nodes.Filter, environment.filters), ("test", nodes.Test, environment.tests)):
        for node in tree.find_all(node_class):
            used.add((kind, node.name, pass_arg(known.get(node.name))))
    return sorted(used)


def still_valid(environment, used):
    known = {"filter": environment.filters, "test": environment.tests}
    return all(pass_arg(known[kind].get(name)) == passed for kind, name, passed in used)


class TemplateCache:
    """Compiled code of templates, in memory and in files under ``directory``."""

    def __init__(self, directory):
        self.directory = directory
        self.kept = {}
        try:
            self.room = MAX_ENTRIES - len(os.listdir(directory))
        except OSError:
            self.room = 0

    def path(self, key):
        return os.path.join(self.directory, hashlib.sha256(repr(key).encode("utf-8", "surrogatepass")).hexdigest())

    def get(self, key):
        """(plugins used, code) kept for key, or None."""
        entry = self.kept.get(key)
        if entry is None:
            try:
                with open(self.path(key), "rb") as stream:
                    entry = marshal.load(stream)
            except (OSError, EOFError, ValueError, TypeError):
                return None
            self.kept[key] = entry
        return entry

    def put(self, key, entry):
        self.kept[key] = entry
        if self.room <= 0:
            return
        self.room -= 1
        try:
            atomic_write_bytes(self.path(key), marshal.dumps(entry), PRIVATE_FILE_MODE, prefix=".new-", sync=False)
        except (OSError, ValueError):
            self.room = 0


def environment_key(environment, escape_backslashes):
    from ansible._internal._templating._jinja_common import _TemplateConfig  # pylint: disable=import-outside-toplevel

    return (type(environment).__module__, type(environment).__qualname__, escape_backslashes,
            _TemplateConfig.allow_embedded_templates, tuple(sorted(environment.extensions))) + tuple(
        repr(getattr(environment, name, None)) for name in SYNTAX_SETTINGS)


def install(directory=None):
    """Make ansible-core's Jinja environment compile each template once; False when it cannot or is told not to."""
    if switched_off(SWITCH):
        return False
    try:
        from ansible._internal._templating import _jinja_bits  # pylint: disable=import-outside-toplevel
        from jinja2.environment import TemplateExpression  # pylint: disable=import-outside-toplevel
    except ImportError:
        return False
    environment_class = _jinja_bits.AnsibleEnvironment
    if getattr(environment_class, "_nextgen_rollout_cache", None) is not None:
        return True
    directory = directory or cache_dir()
    if not private_dir(directory):
        return False
    cache = TemplateCache(directory)
    compile_code = environment_class.compile
    compile_expression = environment_class.compile_expression

    def key_of(environment, kind, source):
        context = _jinja_bits._TemplateCompileContext.current(optional=True)  # pylint: disable=protected-access
        return (kind, source) + environment_key(environment, bool(context and context.escape_backslashes))

    def cached(environment, key):
        entry = cache.get(key)
        if entry is not None and still_valid(environment, entry[0]):
            return entry[1]
        return None

    def cached_compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        key = key_of(self, "template", source) if isinstance(source, str) else getattr(_compiling, "expression", None)
        if raw or key is None or name is not None or filename is not None or defer_init or self._debuggable_template_source:
            return compile_code(self, source, name, filename, raw, defer_init)
        code = cached(self, key)
        if code is None:
            code = compile_code(self, source, name, filename, raw, defer_init)
            cache.put(key, (plugins_used(self, self.parse(source) if isinstance(source, str) else source), code))
        return code

    def cached_compile_expression(self, source, undefined_to_none=True):
        if not isinstance(source, str) or self._debuggable_template_source:
            return compile_expression(self, source, undefined_to_none)
        key = key_of(self, "expression", source)
        code = cached(self, key)
        if code is not None:
            return TemplateExpression(self.template_class.from_code(self, code, self.make_globals(None), None), undefined_to_none)
        _compiling.expression = key
        try:
            return compile_expression(self, source, undefined_to_none)
        finally:
            _compiling.expression = None

    environment_class.compile = cached_compile
    environment_class.compile_expression = cached_compile_expression
    environment_class._nextgen_rollout_cache = cache  # pylint: disable=protected-access
    return True
