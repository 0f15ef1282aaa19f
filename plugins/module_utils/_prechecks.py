# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""The pre-checks of a version that is not running yet, judged on what host_check read from the host:
every problem at once, each a sentence that says what is wrong and what to do, so that an operator
fixes them all before the next run instead of meeting them one run at a time."""

from __future__ import annotations

from ansible_collections.nextgen.rollout.plugins.module_utils._decision import PolicyError, effective_policy
from ansible_collections.nextgen.rollout.plugins.module_utils._lease import parse_iso, utc_now
from ansible_collections.nextgen.rollout.plugins.module_utils._ledger import active_freeze
from ansible_collections.nextgen.rollout.plugins.module_utils._release_command import release_command_problems
from ansible_collections.nextgen.rollout.plugins.module_utils._staging import gate_problem
from ansible_collections.nextgen.rollout.plugins.module_utils._versions import version_problem

# A deploy changes the site (a reload); a rollback or a restore moves a route file and needs none.
ACTIONS_THAT_RELOAD = ("deploy", "preflight")


def settings_problems(strategy, canary_action, staging_gate, guard_window, guard_interval, guard_policy,
                      after_switch_tasks="", after_switch_found=None, release_command="", release_command_timeout=300,
                      guard_report_every=0):
    """Every reason the settings of a release cannot be right, whatever the host: the strategy, the
    staging gate, the guard, the after-switch checks (``after_switch_found``: controller_file's
    answer for ``after_switch_tasks``) and the release command. Each a sentence."""
    problems = []
    if strategy not in ("blue-green", "canary") or canary_action not in ("start", "resume", "abort"):
        problems.append("rollout_strategy %s / canary_action %s is unknown: use blue-green (the default) or canary, and canary_action "
                        "start (the default), resume or abort" % (strategy, canary_action))
    problems.append(gate_problem(staging_gate))
    window = _number(guard_window)
    if window is None or window < 0:
        problems.append("rollout_guard_window is %s: use 0 (no guard) or more seconds" % (guard_window,))
    interval = _number(guard_interval)
    if interval is None or interval <= 0:
        problems.append("rollout_guard_interval is %s: use more than 0 s" % (guard_interval,))
    report_every = _number(guard_report_every)
    if report_every is None or report_every < 0:
        problems.append("rollout_guard_report_every is %s: use 0 (figures when the guard ends) or the seconds between them"
                        % (guard_report_every,))
    if window is not None and window > 0:
        try:
            effective_policy(guard_policy)
        except (PolicyError, TypeError, ValueError) as exc:
            problems.append("rollout_guard_policy: %s" % exc)
    if after_switch_tasks and not after_switch_found["found"]:
        problems.append("rollout_after_switch_tasks %s is not a file on the controller (looked for %s): give an absolute path, or one "
                        "relative to the playbook's directory or to the directory ansible-playbook runs from" % (
                            after_switch_tasks, " and ".join(after_switch_found["tried"])))
    problems.extend(release_command_problems(release_command, release_command_timeout))
    return numbered(problems)


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def freeze_problem(freeze, service, hostname, now=None):
    """Why no new version of ``service`` may start on this host ('' when it may): a deploy freeze
    (the ledger's ``freeze``) that still holds, with who set it, why, and how to go on."""
    holding = active_freeze(freeze, now or utc_now())
    if not holding:
        return ""
    return ("deploys of %s are frozen on %s since %s by %s%s: %s. A deploy or a canary waits until the freeze is lifted "
            "(ansible-playbook playbooks/freeze.yml -e freeze_action=lift, with the same hosts), or goes ahead with "
            "-e freeze_override='<why it cannot wait>' (kept in the ledger); rollbacks, restores and canary "
            "aborts still run" % (service, hostname, _moment(holding.get("since")), holding.get("by") or "?",
                                  (", until %s" % _moment(holding["until"])) if holding.get("until") else "", holding.get("reason")))


def _moment(iso_text):
    try:
        return parse_iso(iso_text).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError):
        return str(iso_text)


def room_problem(host, hostname, min_free_memory_mb, min_free_disk_mb):
    memory, disk = host["memory_available_mb"], host["disk"]
    if memory >= min_free_memory_mb and disk["free_mb"] >= min_free_disk_mb:
        return ""
    return ("not enough room on %s: %s MB memory available (need %s), %s MB free on the filesystem of %s (need %s). Free some "
            "(docker system prune) or lower blue_green_min_free_*_mb" % (
                hostname, memory, min_free_memory_mb, disk["free_mb"], disk["path"], min_free_disk_mb))


def nginx_problems(host, hostname, service, live_version, action):
    problems = []
    if live_version is not None and host["nginx_state"] != "active":
        problems.append("nginx is %s on %s although %s %s is live behind it: start it (systemctl start nginx) and check why it "
                        "stopped" % (host["nginx_state"], hostname, service, live_version))
    if action in ACTIONS_THAT_RELOAD and not host["nginx_config"]["ok"]:
        problems.append("nginx rejects its config on %s as it is now, before any change (%s): a reload would fail. Fix or remove "
                        "what nginx -t names on the host, then run again" % (hostname, host["nginx_config"]["error"]))
    return problems


def tls_problems(tls_files, missing_files, hostname):
    """``tls_files``: {variable: path} of the TLS settings given; ``missing_files``: the paths not on the host."""
    if not tls_files:
        return []
    if len([path for path in tls_files.values() if path]) != 2:
        return ["rollout_tls_certificate (%s) and rollout_tls_key (%s) go together: give both paths, or neither" % (
            tls_files.get("rollout_tls_certificate") or "empty", tls_files.get("rollout_tls_key") or "empty")]
    missing = ["%s = %s does not exist on %s" % (name, path, hostname) for name, path in sorted(tls_files.items())
               if path in missing_files]
    if not missing:
        return []
    return ["; ".join(missing) + "; put the certificate and the key there first (for example with community.crypto), or leave both unset"]


def release_problems(host, target_version, hostname, service, action, ledger, ports, nginx_address,
                     min_free_memory_mb, min_free_disk_mb):
    """Every reason not to start ``target_version`` of ``service`` on this host, each a sentence.

    ``host`` is host_check's answer (with ``missing_files`` for the TLS files), ``ledger`` the
    reconciled ledger (live version, live and idle colours), ``ports`` the colour ports,
    ``nginx_address`` the nginx role's address fact (its ``problems`` and ``tls_files``)."""
    problems = [version_problem(target_version)]
    problems += list(nginx_address.get("problems") or [])
    if host.get("volume_changes"):
        problems.append("%s, on %s: docker never changes a volume once made, so the data would stay where it is while the definition "
                        "says otherwise. Give the volume the definition it was made with (rollout_volumes, or your template's volumes; "
                        "docker volume inspect shows it), or move the data yourself: with the containers that use the volume stopped, "
                        "copy it out, docker volume rm it, and deploy (the volume is made again with the new definition, empty), then "
                        "copy it in" % ("; ".join(host["volume_changes"]), hostname))
    problems.append(room_problem(host, hostname, int(min_free_memory_mb), int(min_free_disk_mb)))
    live_version = ledger.get("live_version") if ledger.get("live_colour") is not None else None
    problems += nginx_problems(host, hostname, service, live_version, action)
    idle = ledger.get("idle_colour")
    holder = (host.get("port_holders") or {}).get(idle) or ""
    if holder:
        problems.append("port %s of the %s colour of %s, where %s would start, is held on %s by %s: stop that process or move it to "
                        "another port (the colour ports are the service's claim on the host, rollout_ports), then run again" % (
                            ports.get(idle), idle, service, target_version, hostname, holder))
    problems += tls_problems(nginx_address.get("tls_files") or {}, host.get("missing_files") or [], hostname)
    return numbered(problems)


def sentence(text):
    return text.rstrip(". ") + "."


def numbered(problems):
    """The non-empty ``problems`` as sentences, numbered (1), (2)... when there are several, so that a
    refusal that joins them on one line reads as a list."""
    found = [sentence(problem) for problem in problems if problem]
    if len(found) < 2:
        return found
    return ["(%d) %s" % (number, problem) for number, problem in enumerate(found, 1)]
