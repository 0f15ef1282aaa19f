"""A run killed at any point is finished or undone by the next plain run.

The kill matrix: a playbook is SIGKILLed (with its module processes on the host, as a lost SSH
connection does) at each point of a release, under load through nginx from 127.0.0.1; then the
command an operator would run next must converge: ledger, nginx and containers agree, the lock is
free, and no request failed. The simulated host is also restarted during a warm window: it comes
back serving, and the persistent timer still retires the warm colour when its window ends.
"""
import json
import subprocess
import time

import pytest

from support.load import Load
from support.playbook import (
    BackgroundRun, host_exec, ledger, ledger_time, must, run_playbook, run_playbook_until, simulated_hosts, wait_until)

PREFIX = "nr-e2e-kill"
HOST = PREFIX + "-1"
BASE_PORT = 19000
URL = "http://127.0.0.1:%d/" % (BASE_PORT + 1)
PORTS = {"blue": 8001, "green": 8002}
FAST = {
    "blue_green_backup_before_change": False, "blue_green_smoke_samples": 3, "blue_green_warm_seconds": 600,
    "blue_green_retire_check_interval": 2, "blue_green_drain_seconds": 1,
}
CANARY = dict(FAST, rollout_strategy="canary", canary_interval=1, canary_hash_key="$http_x_client_id",
              canary_policy={"min_requests": 0})
ROWS = []


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    with simulated_hosts(PREFIX, 1, BASE_PORT, tmp_path_factory.mktemp("inv"), first_version="1.0.0",
                         extra_vars=FAST) as path:
        yield path
    print_table()


def print_table():
    header = ("kill point", "killed", "next command", "converged", "requests", "failed")
    print("\n%-44s %-8s %-44s %-10s %8s %6s" % header)
    for row in ROWS:
        print("%-44s %-8s %-44s %-10s %8d %6d" % row)


def banner(text):
    def seen(output):
        return any(text in line for line in output.splitlines() if line.startswith("TASK ["))
    return seen


def site_route():
    """Where nginx sends the traffic: the service's route file, which its workers read at every request."""
    route = json.loads(host_exec(HOST, "cat", "/etc/nginx/nextgen-rollout/routes/agent-loop.json").stdout)
    return {"live_port": route["ports"][route["live"]], "share": route["share"] if route["canary"] else 0}


def running_colours():
    """{colour: version} of the colours' own containers (not a release command's one-off container)."""
    out = host_exec(HOST, "docker", "ps", "--filter", "label=nextgen.rollout.service=agent-loop",
                    "--filter", "label=com.docker.compose.oneoff=False",
                    "--format", '{{.Label "nextgen.rollout.colour"}} {{.Label "nextgen.rollout.version"}}').stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def serving_versions():
    load = Load(URL, rate_per_s=50, max_requests=20, max_seconds=5, workers=2, key_header="X-Client-Id").start()
    return load.stop()["versions"]


def converged(version, canary=None):
    """Ledger, nginx and containers agree, nothing is pending, the lock is free."""
    doc = ledger(HOST)
    route = site_route()
    running = running_colours()
    live = doc["live"]["colour"]
    wanted = {live} | set(c for c, f in doc["colours"].items() if f["state"] == "warm")
    if doc["canary"]:
        wanted.add(doc["canary"]["colour"])
    problems = []
    if doc["live"]["version"] != version:
        problems.append("ledger live %s, wanted %s" % (doc["live"]["version"], version))
    if route["live_port"] != PORTS[live]:
        problems.append("nginx serves port %s, ledger says %s" % (route["live_port"], live))
    if running.get(live) != version:
        problems.append("live colour %s runs %s" % (live, running.get(live)))
    if set(running) != wanted:
        problems.append("running %s, ledger keeps %s" % (sorted(running), sorted(wanted)))
    if (doc["canary"] or {}).get("share", 0) != (canary or 0) or float(route["share"]) != float(canary or 0):
        problems.append("canary ledger %s nginx %s wanted %s" % (doc["canary"], route["share"], canary))
    if doc.get("pending"):
        problems.append("pending %s" % doc["pending"])
    if host_exec(HOST, "test", "-e", "/var/lib/nextgen-rollout/agent-loop/lock.json").returncode == 0:
        problems.append("the lock is held")
    stamp = host_exec(HOST, "cat", "/etc/nginx/conf.d/agent-loop.conf.loaded").stdout.strip()
    digest = host_exec(HOST, "sha256sum", "/etc/nginx/conf.d/agent-loop.conf").stdout.split()[0]
    if stamp != digest:
        problems.append("nginx has not loaded the site file")
    if serving_versions() != [version] and not canary:
        problems.append("nginx answers with %s" % serving_versions())
    return problems


def kill_and_recover(inventory, point, playbook, extra, trigger, next_playbook, next_extra, version, canary=None,
                     status_says=None):
    load = Load(URL, rate_per_s=60, max_requests=20000, max_seconds=400, workers=6, key_header="X-Client-Id").start()
    try:
        output, killed = run_playbook_until(playbook, inventory, extra, trigger, HOST)
        if status_says:
            before = ledger(HOST)
            status = must(run_playbook("status.yml", inventory, {}))
            said = " ".join(status.output.replace("'", "").split())  # the YAML callback folds long lines
            assert all(text in said for text in status_says), status.output[-3000:]
            assert ledger(HOST) == before  # the status is read only
        recovered = run_playbook(next_playbook, inventory, next_extra)
        problems = converged(version, canary)
    finally:
        summary = load.stop()
    label = "%s %s" % (next_playbook.replace(".yml", ""), " ".join("%s=%s" % kv for kv in next_extra.items()
                                                                   if kv[0] in ("target_version", "canary_action")))
    ROWS.append((point, "yes" if killed else "NO", label[:44], "yes" if not problems and recovered.rc == 0 else "NO",
                 summary["requests"], summary["failed"]))
    assert killed, "the run ended before the kill point %r: %s" % (point, output[-2000:])
    assert recovered.rc == 0, recovered.output[-3000:]
    assert problems == [], problems
    assert summary["failed"] == 0, summary
    return recovered


def test_killed_after_the_idle_colour_starts_the_next_deploy_finishes_it(inventory):
    out = kill_and_recover(inventory, "after the idle colour starts", "blue-green-deploy.yml",
                           dict(FAST, target_version="1.1.0"), banner("Wait until the colour is ready"),
                           "blue-green-deploy.yml", dict(FAST, target_version="1.1.0"), "1.1.0")
    assert "ended before traffic moved" in out.output


def test_killed_between_the_site_write_and_the_reload_the_next_rollback_converges(inventory):
    # A switch alone rewrites only the route file; a changed setting makes the site change (and reload)
    # too, which the one-call warm rollback never does: the full path is asked for.
    slow_test = dict(FAST, target_version="1.0.0", nginx_test_command=["sh", "-c", "sleep 5; nginx -t"],
                     rollout_proxy_read_timeout=61, blue_green_one_call_rollback=False)

    def site_written(output):
        site = host_exec(HOST, "cat", "/etc/nginx/conf.d/agent-loop.conf").stdout
        return banner("Point nginx at colour")(output) and "proxy_read_timeout 61s" in site
    out = kill_and_recover(inventory, "site written, before the reload", "rollback.yml", slow_test, site_written,
                           "rollback.yml", dict(FAST, target_version="1.0.0"), "1.0.0",
                           status_says=["nginx_loaded: false", "consistent: false"])
    # The route moves only after the site is loaded: the killed run never moved traffic.
    assert "ended before traffic moved" in out.output


def test_killed_right_after_the_route_moved_a_rollback_goes_back(inventory):
    seen = {}

    def new_version_answers(output):
        if "Point nginx at colour" not in output:
            return False
        seen.setdefault("versions", serving_versions())
        seen["versions"] = serving_versions()
        return seen["versions"] == ["1.1.0"]
    kill_and_recover(inventory, "right after the route moved", "blue-green-deploy.yml", dict(FAST, target_version="1.1.0"),
                     new_version_answers, "rollback.yml", dict(FAST), "1.0.0")


def test_killed_during_the_verification_the_next_deploy_converges(inventory):
    kill_and_recover(inventory, "during the verification through nginx", "blue-green-deploy.yml",
                     dict(FAST, target_version="1.1.0", blue_green_verify_timeout=30),
                     banner("Wait until every answer through nginx"), "blue-green-deploy.yml",
                     dict(FAST, target_version="1.1.0"), "1.1.0")


def test_killed_during_a_canary_step_the_abort_knows_the_canary(inventory):
    steps = {"canary_steps": [{"share": 10, "pause": 30}, {"share": 100, "pause": 0}]}
    out = kill_and_recover(inventory, "during a canary step's analysis", "blue-green-deploy.yml",
                           dict(CANARY, target_version="1.2.0", **steps),
                           banner("Watch the step"),
                           "blue-green-deploy.yml", dict(CANARY, canary_action="abort"), "1.1.0")
    assert "aborted" in out.output
    assert ledger(HOST)["history"][-1]["result"] == "aborted"


def test_killed_right_after_a_verdict_of_rollback_sent_everyone_back_the_next_abort_finishes_it(inventory):
    # Judged on the candidate's extra latency itself (latency factor 1): under a busy machine the stable
    # version's p95 grows too, and 1.5 times it could hide 300 ms. A 20 % share of 60 requests/s is about
    # 12 candidate requests a second, and fewer on a busy machine: an interval judges from 3 of them.
    slow = {"blue_green_env": {"FAULT_LATENCY_MS": "400"}, "canary_latency_factor": 1.0, "canary_min_bucket_requests": 3,
            "canary_steps": [{"share": 20, "pause": 20}, {"share": 100, "pause": 0}],
            "canary_policy": {"min_requests": 5, "rules": {"p95_vs_baseline": {"metric": "p95_excess_s", "op": ">",
                                                                               "threshold": 0.1, "for": "2s"}}}}
    out = kill_and_recover(inventory, "after a rollback verdict's share 0", "blue-green-deploy.yml",
                           dict(CANARY, target_version="1.2.0", **slow),
                           banner("nextgen.rollout.canary : Note when the share reached 0"),
                           "blue-green-deploy.yml", dict(CANARY, canary_action="abort"), "1.1.0")
    history = ledger(HOST)["history"]
    step = [e for e in history if e["action"] == "canary-step"][-1]
    assert step["result"] == "rollback", "the step's verdict was %s: %s" % (step["result"], step["details"].get("last_sample"))
    assert "abort is finished" in out.output, out.output[-3000:]
    assert [e for e in history if e["action"] == "canary"][-1]["result"] == "aborted"


def test_killed_during_an_abort_the_next_abort_finishes_it(inventory):
    held = {"canary_steps": [{"share": 20, "pause": 2, "hold": True}, {"share": 100, "pause": 0}]}
    must(run_playbook("blue-green-deploy.yml", inventory, dict(CANARY, target_version="1.2.0", **held)))
    assert ledger(HOST)["canary"]["state"] == "held"
    out = kill_and_recover(inventory, "during an abort", "blue-green-deploy.yml",
                           dict(CANARY, canary_action="abort", blue_green_drain_seconds=20),
                           banner("Drain the candidate by connection"),
                           "blue-green-deploy.yml", dict(CANARY, canary_action="abort"), "1.1.0")
    assert "abort is finished" in out.output


def test_killed_during_a_restore_the_next_restore_converges(inventory):
    must(run_playbook("backup.yml", inventory, {}))
    ident = host_exec(HOST, "sh", "-c", "ls /var/backups/nextgen-rollout/agent-loop/*.manifest.json | tail -n 1"
                      ).stdout.strip().rsplit("/", 1)[1][:-len(".manifest.json")]
    assert ident.endswith("-1.1.0")
    must(run_playbook("blue-green-deploy.yml", inventory, dict(FAST, target_version="1.2.0")))
    kill_and_recover(inventory, "during a restore", "restore.yml", dict(FAST, backup_id=ident),
                     banner("Check that the warm colour is still ready"), "restore.yml",
                     dict(FAST, backup_id=ident), "1.1.0")


def lock():
    out = host_exec(HOST, "cat", "/var/lib/nextgen-rollout/agent-loop/lock.json")
    return json.loads(out.stdout) if out.returncode == 0 else None


def lock_time(lock_doc, field):
    return ledger_time(lock_doc[field])


def test_a_canary_longer_than_its_lease_keeps_its_lock_until_its_holder_is_gone(inventory):
    ttl = 6
    lease = {"blue_green_lease_ttl": ttl}
    steps = {"canary_steps": [{"share": 10, "pause": 25}, {"share": 100, "pause": 0}]}
    abort = dict(CANARY, canary_action="abort", **lease)
    canary = BackgroundRun("blue-green-deploy.yml", inventory, dict(CANARY, target_version="1.2.0", **lease, **steps))
    try:
        wait_until(lambda: banner("Watch the step")(canary.output()), 120, "the canary reaches its analysis")
        # The canary runs on past twice its lease, renewing it at every sample.
        wait_until(lambda: lock() and lock_time(lock(), "renewed") >= lock_time(lock(), "acquired") + 2 * ttl,
                   60, "the canary renews its lease past twice its length")
        refused = run_playbook("blue-green-deploy.yml", inventory, dict(abort, rollout_break_lock=True))
        assert refused.rc != 0 and "lease expires in" in refused.output, refused.output[-2000:]
        assert canary.running() and ledger(HOST)["canary"]["share"] == 10
    finally:
        canary.kill(HOST)
    # The holder is gone. Seen from another controller (an AWX job's), only the lease tells.
    host_exec(HOST, "sed", "-i", 's/"controller": "[^"]*"/"controller": "another-controller"/',
              "/var/lib/nextgen-rollout/agent-loop/lock.json")
    wait_until(lambda: lock_time(lock(), "expires") < time.time(), 3 * ttl, "the lease expires")
    plain = run_playbook("blue-green-deploy.yml", inventory, abort)
    assert plain.rc != 0 and "EXPIRED" in plain.output and "rollout_break_lock=true" in plain.output
    broken = must(run_playbook("blue-green-deploy.yml", inventory, dict(abort, rollout_break_lock=True)))
    assert "took over the deploy lock" in broken.output
    assert converged("1.1.0") == []
    ROWS.append(("canary past its lease, then holder gone", "yes", "abort, then rollout_break_lock=true", "yes",
                 0, 0))


def app_container(version):
    return host_exec(HOST, "docker", "ps", "-q", "--filter", "label=nextgen.rollout.version=" + version,
                     "--filter", "label=com.docker.compose.oneoff=False").stdout.strip()


def test_killed_during_the_release_command_the_warm_version_stays_the_way_back(inventory):
    for version in ("1.1.0", "1.0.0"):  # 1.0.0 live, 1.1.0 warm on the idle colour
        must(run_playbook("blue-green-deploy.yml", inventory, dict(FAST, target_version=version)))
    warm = [c for c, f in ledger(HOST)["colours"].items() if f["state"] == "warm"]
    assert [ledger(HOST)["colours"][c]["version"] for c in warm] == ["1.1.0"]
    container, compose_file = app_container("1.1.0"), "/opt/nextgen-rollout/agent-loop/%s.compose.yml" % warm[0]
    compose_before = host_exec(HOST, "cat", compose_file).stdout

    def release_command_runs(output):
        return banner("Run the release command")(output) and bool(host_exec(
            HOST, "docker", "ps", "-q", "--filter", "name=agent-loop-%s-release" % warm[0]).stdout.strip())
    # Killed while 1.2.0's migration runs on the colour where 1.1.0 is warm: the next run keeps 1.1.0 there (its
    # containers were never replaced, its files are put back), and a rollback to it is a switch, not a cold start.
    out = kill_and_recover(inventory, "during the release command", "blue-green-deploy.yml",
                           dict(FAST, target_version="1.2.0", rollout_release_command=["sleep", "90"]), release_command_runs,
                           "rollback.yml", dict(FAST, target_version="1.1.0"), "1.1.0")
    said = " ".join(out.output.split())
    assert "the deploy of 1.2.0 ended before traffic moved: undone, 1.0.0 keeps serving; 1.1.0 stays warm on %s" % warm[0] in said, \
        out.output[-3000:]
    assert app_container("1.1.0") == container  # the same container: never restarted
    assert host_exec(HOST, "cat", compose_file).stdout == compose_before
    # The killed run's migration would have gone on for 90 s: the next run's reconciliation removed it.
    assert "agent-loop-%s-release that a killed run left running are removed" % warm[0] in said, out.output[-3000:]
    assert not host_exec(HOST, "docker", "ps", "-aq", "--filter", "name=agent-loop-%s-release" % warm[0]).stdout.strip()
    assert not [n for n in host_exec(HOST, "ls", "/opt/nextgen-rollout/agent-loop").stdout.split() if n.endswith(".previous")]


def test_a_host_restart_in_the_warm_window_keeps_serving_and_still_retires(inventory):
    must(run_playbook("blue-green-deploy.yml", inventory, dict(FAST, target_version="1.2.0", blue_green_warm_seconds=45)))
    warm = [c for c, f in ledger(HOST)["colours"].items() if f["state"] == "warm"]
    assert len(warm) == 1 and running_colours()[warm[0]] == "1.1.0"
    restarted = time.monotonic()
    simhosts_restart()
    assert serving_versions() == ["1.2.0"]
    assert running_colours()[warm[0]] == "1.1.0"  # still warm after the reboot
    recovered = must(run_playbook("status.yml", inventory, {}))
    assert "consistent: true" in recovered.output, recovered.output[-2000:]
    retire_at = ledger(HOST)["colours"][warm[0]]["retire_at"]
    wait_until(lambda: warm[0] not in running_colours() and ledger(HOST)["colours"][warm[0]]["state"] == "retired",
               90, "the timer retires %s (retire at %s)" % (warm[0], retire_at), interval=2)
    assert ledger(HOST)["history"][-1]["action"] == "retire"
    assert converged("1.2.0") == []
    ROWS.append(("host restarted in the warm window", "reboot", "none (the timer retires)", "yes",
                 0, 0))
    print("host restart to serving again: %.1f s" % (time.monotonic() - restarted))


def simhosts_restart():
    subprocess.run(["docker", "restart", HOST], check=True, capture_output=True)
    wait_until(lambda: host_exec(HOST, "systemctl", "is-system-running").stdout.strip() in ("running", "degraded")
               and serving_versions(), 120, "the host comes back and serves", interval=1)
