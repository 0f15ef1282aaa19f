#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: private_files
short_description: Write several root-only files of one directory in one call
version_added: 1.1.0
description:
  - Makes a directory (mode C(0700)) hold each given file with the given text and mode C(0600), owned by the user
    the module runs as (root with C(become)). Only the files that differ are written, each atomically (a reader sees
    the old file or the new one), so a second run with the same text changes nothing.
  - One call instead of one per file (M(ansible.builtin.file) and M(ansible.builtin.copy), two or three round trips
    each). The release process of nextgen.rollout.blue_green writes a colour's compose file and its secret
    environment with it.
  - A name that is not a plain file name (a C(/), C(.) or C(..)) is refused before anything is written.
  - The logic is in module_utils/_files.py.
options:
  path:
    description:
      - The directory. It is created when missing; its mode is set to C(0700), and it and the files written are given
        to the user and group the module runs as when another user owns them (its owner could swap the files in it).
    type: path
    required: true
  files:
    description: File name -> text. The text is shown in diffs.
    type: dict
    default: {}
  secret_files:
    description: File name -> text, for files that hold credentials. Their text is never shown (not in diffs, not in logs).
    type: dict
    default: {}
  keep_previous:
    description:
      - Before writing, keep what each file of O(files) and O(secret_files) holds as C(<name>.previous) (mode C(0600)), for
        O(put_back). A release keeps the files of a warm colour so, while its release command runs.
      - Without it, such a copy left behind (by a run that ended before putting it back) is removed.
    type: bool
    default: false
  put_back:
    description:
      - File names that get back what they held before the last write that kept it (C(<name>.previous), moved back
        atomically); a name without a kept copy is left as it is. Given alone, without O(files) or O(secret_files).
    type: list
    elements: str
    default: []
  forget_previous:
    description: File names whose kept copy (C(<name>.previous)) is removed, once it is no longer needed. Given alone.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Reports what would change without writing.
  diff_mode:
    support: partial
    description: Shows the before and after of O(files); the text of O(secret_files) is never shown.
  idempotent:
    support: full
    description: Files that already hold the text with mode C(0600) are left alone.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Keep the compose file and the secret environment of a colour
  nextgen.rollout.private_files:
    path: /opt/nextgen-rollout/shop
    files:
      green.compose.yml: "{{ project | to_nice_yaml }}"
    secret_files:
      green.env: "DB_PASSWORD={{ vault_db_password }}\n"
"""

RETURN = r"""
changed_files:
  description: The files written or put back (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: ["green.compose.yml"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._files import put_back_private_files, write_private_files


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            files=dict(type="dict", default={}),
            secret_files=dict(type="dict", default={}, no_log=True),
            keep_previous=dict(type="bool", default=False),
            put_back=dict(type="list", elements="str", default=[]),
            forget_previous=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["put_back"] or p["forget_previous"]:
        if p["files"] or p["secret_files"] or (p["put_back"] and p["forget_previous"]):
            module.fail_json(msg="put_back or forget_previous is given alone, without files or secret_files. Nothing was written.")
        try:
            changed = put_back_private_files(p["path"], p["put_back"] or p["forget_previous"], check=module.check_mode,
                                             forget=bool(p["forget_previous"]))
        except ValueError as exc:
            module.fail_json(msg="%s. Nothing was put back in %s." % (exc, p["path"]))
        except OSError as exc:
            module.fail_json(msg="cannot put back files in %s: %s" % (p["path"], exc))
        module.exit_json(changed=bool(changed), changed_files=changed)
    overlap = sorted(set(p["files"]) & set(p["secret_files"]))
    if overlap:
        module.fail_json(msg="%s given in both files and secret_files: give each file once. Nothing was written."
                         % ", ".join(overlap))
    wanted = dict((name, str(text)) for name, text in dict(p["files"], **p["secret_files"]).items())
    try:
        dir_changed, changed, before = write_private_files(p["path"], wanted, check=module.check_mode,
                                                           keep_previous=p["keep_previous"])
    except ValueError as exc:
        module.fail_json(msg="%s. Nothing was written in %s." % (exc, p["path"]))
    except OSError as exc:
        module.fail_json(msg="cannot write in %s: %s" % (p["path"], exc))
    result = dict(changed=dir_changed or bool(changed), changed_files=changed)
    if module._diff:
        result["diff"] = [dict(before_header=name, after_header=name, before=before[name] or "", after=wanted[name])
                          for name in changed if name in p["files"]]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
