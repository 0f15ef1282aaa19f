#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup
short_description: Create, verify, restore and prune verified backups of a service
version_added: 1.0.0
description:
  - V(create) archives O(paths) (files and directories), docker named O(volumes) (read through a
    container from O(volume_image), with the service running unless O(stop_containers) lists what to
    stop meanwhile) and the output of O(pre_backup_command), with a manifest giving the size and
    sha256 of every member, the archive's sha256 and O(live_version). Free space is checked first;
    the archive and the manifest are written under temporary names and renamed when complete, so a
    failed backup leaves nothing behind and is never the latest. The new backup is then read back
    and verified (a backup that does not verify is removed and nothing is pruned), and only then are
    older backups pruned.
  - Retention works as restic's does. A backup stays when any rule keeps it. It is among the
    O(keep) newest, or younger than O(max_age_days). The newest backup that verifies always
    stays.
  - V(verify) checks a backup without touching anything. V(restore) verifies it, then puts every
    file and volume back. Both name the member that fails.
  - Before its first write or docker call, V(restore) refuses, naming the value, a file member outside
    O(paths) (default the paths the backup covered), a path that is not plain and absolute, a setuid,
    setgid or sticky file, a member this module never writes, a volume that is not a docker volume
    name, and an O(volume_image) that is not on the host.
  - V(restore) unpacks each volume into a staging volume C(<volume>-nextgen-restore) before any file is
    written, so a backup that cannot be unpacked changes nothing. Files then go back atomically, and
    each volume is swapped with its staged copy while the containers that use it are stopped; they are
    started again, and one that does not start fails the restore, naming it.
  - V(list) returns the complete backups; V(prune) applies the retention only.
  - Archives and manifests are mode 0600 in a directory of mode 0700.
options:
  action:
    description: What to do.
    type: str
    choices: [create, verify, restore, list, prune]
    default: create
  service:
    description: Service the backups belong to; they live in O(backup_dir)/C(<service>).
    type: str
    required: true
  backup_dir:
    description: Parent directory of the backups.
    type: path
    default: /var/backups/nextgen-rollout
  backup_id:
    description: Backup to verify or restore; default the newest one that verifies.
    type: str
  paths:
    description:
      - With V(create), files and directories to archive; missing ones are skipped and reported.
      - With V(restore), where the restore may write; a backup holding anything else is refused. Empty means the
        paths the backup covered.
    type: list
    elements: path
    default: []
  volumes:
    description: Docker named volumes to archive or restore.
    type: list
    elements: str
    default: []
  volume_image:
    description:
      - Local image with C(tar) and C(sh) used to read and write volumes.
      - With V(create) and O(project_dir), the image the live colour runs when not given.
    type: str
  project_dir:
    description:
      - With V(create), the directory of the service's compose projects on the host (C(<colour>.compose.yml),
        C(accessories.compose.yml)); the named volumes they declare, as C(docker compose config) reads them, are
        archived besides O(volumes).
      - A project that compose cannot read fails the backup before anything is written, naming it.
    type: path
  live_colour:
    description: With V(create) and O(project_dir), the colour whose image reads the volumes when O(volume_image) is not given.
    type: str
  stop_containers:
    description:
      - Containers stopped while the volumes are read, and started again after; one that does not start again
        fails the backup, naming it.
    type: list
    elements: str
    default: []
  pre_backup_command:
    description:
      - Command (argv) whose standard output is archived byte for byte (streamed, never decoded), for example a
        database dump.
      - Treated as a secret (it may carry credentials) and never shown in output.
    type: list
    elements: str
  live_version:
    description: Version live when the backup is taken, recorded in the manifest.
    type: str
  exact:
    description:
      - With V(restore), also remove the files that appeared under the backed-up O(paths) after the
        backup (and the paths that did not exist then), so that they are exactly as they were.
    type: bool
    default: false
  keep_paths:
    description:
      - With V(restore), files left as they are although the backup holds them (the release ledger
        and the nginx site, which a restore brings back through the gated release path instead).
    type: list
    elements: path
    default: []
  min_free_mb:
    description: Space that must stay free on the backup disk besides the backup itself.
    type: int
    default: 0
  keep:
    description: Keep the newest this many backups (more stay when O(max_age_days) keeps them).
    type: int
  max_age_days:
    description: Keep the backups younger than this many days (older ones stay when O(keep) keeps them).
    type: float
attributes:
  check_mode:
    support: full
    description: V(create) and V(prune) report what they would do; V(restore) reports what it would change after verifying.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: partial
    description: V(create) makes a new backup each time; V(restore) of the same backup twice changes nothing the second time.
author:
  - nextgen.rollout developers (@nextgen-rollout)
"""

EXAMPLES = r"""
- name: Back up the service before a deploy, keep the last 10
  nextgen.rollout.backup:
    service: agent-loop
    paths: [/opt/nextgen-rollout/agent-loop, /etc/nginx/conf.d/agent-loop.conf]
    volumes: [agent-loop-data]
    volume_image: agent-loop:1.0.0
    live_version: 1.0.0
    keep: 10
  register: backup

- name: Restore the latest good backup
  nextgen.rollout.backup:
    service: agent-loop
    action: restore
    volume_image: agent-loop:1.0.0
"""

RETURN = r"""
backup_id:
  description: The backup created, verified or restored.
  returned: when a backup was chosen
  type: str
archive:
  description: Path of its archive.
  returned: when a backup was chosen
  type: str
live_version:
  description: Version live when the backup was taken.
  returned: when a backup was chosen
  type: str
members:
  description: Number of members.
  returned: when a backup was chosen
  type: int
total_size:
  description: Bytes of all members.
  returned: when a backup was chosen
  type: int
skipped_paths:
  description: Paths asked for that did not exist.
  returned: with O(action=create)
  type: list
  elements: str
absent_volumes:
  description:
    - Volumes of O(volumes) that did not exist. They are archived empty, without being created (compose creates
      them with the service's own driver and options); a restore of the backup empties them if they exist by then.
  returned: with O(action=create)
  type: list
  elements: str
restored:
  description: Files whose content was put back (or that O(exact) removed), and volumes restored.
  returned: with O(action=restore)
  type: list
  elements: str
removed:
  description: Backups removed by the retention policy.
  returned: with O(action=create) and O(action=prune)
  type: list
  elements: str
backups:
  description: Complete backups, oldest first.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nextgen.rollout.plugins.module_utils._backup import (
    BackupError, BackupStore, chosen_backup, restore_backup, summary, take_backup)
from ansible_collections.nextgen.rollout.plugins.module_utils._files import refuse_unsafe_name


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", choices=["create", "verify", "restore", "list", "prune"], default="create"),
            service=dict(type="str", required=True),
            backup_dir=dict(type="path", default="/var/backups/nextgen-rollout"),
            backup_id=dict(type="str"),
            paths=dict(type="list", elements="path", default=[]),
            volumes=dict(type="list", elements="str", default=[]),
            volume_image=dict(type="str"),
            project_dir=dict(type="path"),
            live_colour=dict(type="str"),
            stop_containers=dict(type="list", elements="str", default=[]),
            pre_backup_command=dict(type="list", elements="str", no_log=True),
            live_version=dict(type="str"),
            exact=dict(type="bool", default=False),
            keep_paths=dict(type="list", elements="path", default=[]),
            min_free_mb=dict(type="int", default=0),
            keep=dict(type="int"),
            max_age_days=dict(type="float"),
        ),
        supports_check_mode=True,
    )
    refuse_unsafe_name(module, "service")
    p = module.params
    if p["keep"] is not None and p["keep"] < 1:
        module.fail_json(msg="keep must be at least 1 (got %d): a retention that keeps nothing would delete "
                             "the backup just taken" % p["keep"])
    store = BackupStore(os.path.join(p["backup_dir"], p["service"]))

    def run(argv):
        return module.run_command(argv)

    try:
        if p["action"] == "create":
            result = take_backup(store, p, run, module.check_mode)
        elif p["action"] == "restore":
            result = restore_backup(store, p, run, module.check_mode)
        elif p["action"] == "verify":
            ident = chosen_backup(store, p)
            result = dict(changed=False, **summary(store, ident, store.verify(ident)))
        elif p["action"] == "prune":
            newest_good = store.latest_good()
            removed = store.expired(p["keep"], p["max_age_days"], protect=[newest_good] if newest_good else [])
            if not module.check_mode:
                for old in removed:
                    store.remove(old)
            result = dict(changed=bool(removed), removed=removed)
        else:
            result = dict(changed=False)
    except BackupError as exc:
        module.fail_json(msg=str(exc), backups=store.complete_ids())
    module.exit_json(backups=store.complete_ids(), **result)


if __name__ == "__main__":
    main()
