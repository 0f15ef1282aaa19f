#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: config_files
short_description: Write several files, make their directories and remove old files, in one call
version_added: 1.1.0
description:
  - Makes each directory of O(directories) exist with its mode, each file of O(files) hold its content and mode,
    and each path of O(absent) not exist, in that order. Files are written in the order given, each atomically (a
    reader sees the old file or the new one), and only when they differ, so a second run changes nothing.
  - One call instead of one loop of M(ansible.builtin.file) and M(ansible.builtin.copy) per kind, two or three round
    trips per file. The logging role installs an agent's forwarder, helper, certificates and rules with it.
  - Every path must be absolute and normalised (no C(..)); a bad path or mode, a file that is also in O(absent), or
    a directory in O(absent) is refused before anything is written.
  - Owner and group are those the module runs as (root with C(become)).
  - The logic is in module_utils/_files.py.
options:
  directories:
    description: Directories to make (with their parents) when missing; their mode is set.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      mode:
        description: Octal mode, for example C('0755').
        type: raw
        default: '0755'
  files:
    description: Files to write. The directory of each must exist, or be in O(directories).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description: The whole text of the file. It is shown in diffs; for credentials use M(nextgen.rollout.private_files).
        type: str
        required: true
      mode:
        description: Octal mode, for example C('0644').
        type: raw
        default: '0644'
  absent:
    description: Files to remove when present.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    support: full
    description: Reports what would change without writing.
  diff_mode:
    support: full
    description: Shows the before and after of each file written.
  idempotent:
    support: full
    description: Files that already hold their content and mode are left alone.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Install a forwarder and its helper, and take out an old rule
  nextgen.rollout.config_files:
    directories:
      - {path: /usr/local/lib/nextgen-logging, mode: "0755"}
    files:
      - path: /etc/rsyslog.d/60-shop.conf
        content: "{{ lookup('ansible.builtin.template', 'forwarder.conf.j2') }}"
      - path: /usr/local/lib/nextgen-logging/nextgen_logging.py
        content: "{{ lookup('ansible.builtin.file', 'nextgen_logging.py', rstrip=false) }}"
    absent:
      - /etc/rsyslog.d/50-legacy.conf
"""

RETURN = r"""
changed_directories:
  description: The directories made or given their mode (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
changed_files:
  description: The files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: ["/etc/rsyslog.d/60-shop.conf"]
removed:
  description: The files removed (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._files import apply_files


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True), mode=dict(type="raw", default="0755"))),
            files=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True), content=dict(type="str", required=True),
                mode=dict(type="raw", default="0644"))),
            absent=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        done = apply_files(p["directories"], p["files"], p["absent"], check=module.check_mode)
    except ValueError as exc:
        module.fail_json(msg="%s. Nothing was written." % exc)
    except OSError as exc:
        module.fail_json(msg="cannot write %s: %s" % (getattr(exc, "filename", None) or "a file", exc))
    contents = dict((entry["path"], entry["content"]) for entry in p["files"])
    result = dict(changed=bool(done["directories"] or done["files"] or done["absent"]),
                  changed_directories=done["directories"], changed_files=done["files"], removed=done["absent"])
    if module._diff:
        result["diff"] = [dict(before_header=path, after_header=path, before=done["before"][path] or "",
                               after=contents[path]) for path in done["files"]]
        result["diff"] += [dict(before_header=path, after_header=path, before="present\n", after="removed\n")
                           for path in done["absent"]]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
