"""Backups and restores on a simulated host: byte-identical restore, refusals, full disk,
retention, permissions and secrets."""
import json
import time

import pytest

from support.load import Load
from support.playbook import BackgroundRun, host_exec, ledger, must, run_playbook, simulated_hosts, wait_until

PREFIX = "nr-e2e-bk"
HOST = PREFIX + "-1"
BASE_PORT = 18960 - 10
URL = "http://127.0.0.1:%d/" % (BASE_PORT + 1)
BACKUPS = "/var/backups/nextgen-rollout/agent-loop"
DATA_DIR = "/srv/agent-data"
SECRET = "token-5f1d-never-shown"
DB_PASSWORD = "db-password-7c2e-never-shown"
VOLUME_IMAGE = "agent-loop:1.0.0"


def sh(script):
    result = host_exec(HOST, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    with simulated_hosts(PREFIX, 1, BASE_PORT, tmp_path_factory.mktemp("inv"), first_version="1.0.0",
                         extra_vars={"blue_green_secret_env": {"AGENT_API_TOKEN": SECRET}}) as path:
        prepare_data()
        yield path


def prepare_data():
    sh("mkdir -p %s/nested && head -c 200000 /dev/urandom > %s/blob.bin && echo config > %s/nested/app.conf"
       % (DATA_DIR, DATA_DIR, DATA_DIR))
    sh("docker volume create agent-data >/dev/null && docker run --rm --user 0 -v agent-data:/data --entrypoint sh %s -c "
       "'mkdir -p /data/db && head -c 100000 /dev/urandom > /data/db/table.dat && echo v1 > /data/version'"
       % VOLUME_IMAGE)


def backup_vars(**extra):
    values = {"backup_extra_paths": [DATA_DIR], "backup_volumes": ["agent-data"], "backup_keep": 3,
              "backup_pre_command": ["sh", "-c", "echo dump-with-%s" % DB_PASSWORD]}
    values.update(extra)
    return values


def state_digests():
    """sha256 of every backed-up file, and of every file in the volume, as the host sees them."""
    files = sh("find %s /opt/nextgen-rollout/agent-loop /etc/nginx/conf.d/agent-loop.conf "
               "/var/lib/nextgen-rollout/agent-loop/ledger.json -type f | sort | xargs sha256sum" % DATA_DIR)
    volume = sh("docker run --rm --user 0 -v agent-data:/data:ro --entrypoint sh %s -c "
                "'cd /data && find . -type f | sort | xargs sha256sum'" % VOLUME_IMAGE)
    return files, volume


def test_restore_brings_back_every_file_and_volume_byte_identical(inventory):
    result = must(run_playbook("backup.yml", inventory, backup_vars()))
    assert SECRET not in result.output and DB_PASSWORD not in result.output
    ident = json.loads(sh("ls %s/*.manifest.json | tail -n 1 | xargs cat" % BACKUPS))["id"]
    assert ident in result.output
    before = state_digests()
    sh("echo changed > %s/nested/app.conf && rm %s/blob.bin && rm /opt/nextgen-rollout/agent-loop/blue.env"
       % (DATA_DIR, DATA_DIR))
    sh("docker run --rm --user 0 -v agent-data:/data --entrypoint sh %s -c 'rm -r /data/db && echo v2 > /data/version "
       "&& echo extra > /data/new'" % VOLUME_IMAGE)
    changed = state_digests()
    assert changed != before
    # The restore writes only under the paths it is given: without backup_extra_paths, the backup's
    # files under DATA_DIR are refused, naming the path, and nothing changes.
    confined = run_playbook("restore.yml", inventory, {"backup_id": ident})
    assert confined.rc != 0 and "covers %s, outside the paths this restore may write" % DATA_DIR in confined.output, \
        confined.output[-2000:]
    assert "give them to the restore too" in confined.output and state_digests() == changed
    restored = must(run_playbook("restore.yml", inventory, {"backup_id": ident, "backup_extra_paths": [DATA_DIR]}))
    assert SECRET not in restored.output
    assert state_digests() == before
    manifest = json.loads(sh("cat %s/%s.manifest.json" % (BACKUPS, ident)))
    members = dict((m["name"], m["sha256"]) for m in manifest["members"])
    for line in before[0].splitlines():  # the test's checksums agree with the manifest's
        digest, path = line.split()
        assert members["files" + path] == digest
    assert "commands/pre-backup.out" in members and manifest["live_version"] == "1.0.0"


def test_a_corrupted_or_truncated_archive_is_refused_and_nothing_changes(inventory):
    must(run_playbook("backup.yml", inventory, backup_vars()))
    ident = sh("ls %s/*.manifest.json | tail -n 1" % BACKUPS).strip().rsplit("/", 1)[1][:-len(".manifest.json")]
    archive = "%s/%s.tar.gz" % (BACKUPS, ident)
    sh("cp %s /root/good.tar.gz" % archive)
    sh("echo changed-after-backup > %s/nested/app.conf" % DATA_DIR)
    before = state_digests()
    sh("size=$(stat -c %%s %s); head -c $((size / 2)) /root/good.tar.gz > %s" % (archive, archive))
    result = run_playbook("restore.yml", inventory, {"backup_id": ident})
    assert result.rc != 0 and "member files/" in result.output and "is corrupted or truncated" in result.output
    assert state_digests() == before
    sh("cp /root/good.tar.gz %s && printf 'X' | dd of=%s bs=1 seek=2000 conv=notrunc 2>/dev/null" % (archive, archive))
    result = run_playbook("restore.yml", inventory, {"backup_id": ident})
    assert result.rc != 0 and "member " in result.output, result.output[-2000:]
    assert state_digests() == before
    sh("cp /root/good.tar.gz %s" % archive)
    # An id that is a path names nothing outside the backup directory.
    result = run_playbook("restore.yml", inventory, {"backup_id": "../../../etc"})
    assert result.rc != 0 and "is not a backup id" in result.output, result.output[-2000:]
    assert state_digests() == before
    # An id that names no backup: the report (the artifact, the summary table) says why, with the backups there are.
    result = run_playbook("restore.yml", inventory, {"backup_id": "20990101T000000000000Z-9.9.9"})
    stats = " ".join(result.output[result.output.index("CUSTOM STATS"):].split())
    assert result.rc != 0 and "there is no backup 20990101T000000000000Z-9.9.9 of agent-loop in " in stats, stats
    assert "its backups are, oldest first, " in stats and ident in stats and "Nothing was changed." in stats
    assert "did not start" not in stats and state_digests() == before


def test_a_full_disk_fails_cleanly_and_the_latest_backup_stays(inventory):
    sh("mkdir -p /mnt/tiny && mount -t tmpfs -o size=2m tmpfs /mnt/tiny")
    try:
        small = {"backup_dir": "/mnt/tiny", "backup_extra_paths": [], "backup_volumes": [], "backup_min_free_mb": 0}
        must(run_playbook("backup.yml", inventory, small))
        latest = sh("ls /mnt/tiny/agent-loop")
        sh("head -c 3000000 /dev/urandom > %s/big.bin" % DATA_DIR)
        result = run_playbook("backup.yml", inventory, dict(small, backup_extra_paths=[DATA_DIR]))
        assert result.rc != 0 and "not enough space in /mnt/tiny/agent-loop" in result.output, result.output[-2000:]
        stats = " ".join(result.output[result.output.index("CUSTOM STATS"):].split())
        assert "not enough space in /mnt/tiny/agent-loop" in stats and "did not start" not in stats, stats
        assert sh("ls -a /mnt/tiny/agent-loop") == ".\n..\n" + latest  # no partial file, latest unchanged
        deploy = run_playbook("blue-green-deploy.yml", inventory, dict(small, target_version="1.1.0",
                                                                       backup_extra_paths=[DATA_DIR]))
        assert deploy.rc != 0 and "not enough space" in deploy.output
        assert ledger(HOST)["live"]["version"] == "1.0.0"  # the deploy changed nothing
    finally:
        sh("rm -f %s/big.bin; umount /mnt/tiny" % DATA_DIR)


def test_retention_keeps_exactly_the_newest_and_files_stay_private(inventory):
    for _run in range(4):
        must(run_playbook("backup.yml", inventory, {"backup_keep": 2}))
    names = sh("ls %s" % BACKUPS).split()
    assert len([n for n in names if n.endswith(".manifest.json")]) == 2
    assert len([n for n in names if n.endswith(".tar.gz")]) == 2
    assert sh("stat -c %%a %s" % BACKUPS).strip() == "700"
    assert set(sh("stat -c %%a %s/*" % BACKUPS).split()) == {"600"}
    denied = host_exec(HOST, "su", "nobody", "-s", "/bin/sh", "-c", "cat %s/*.manifest.json" % BACKUPS)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def test_a_deploy_names_its_backup_and_keeps_the_secret_environment_private(inventory, tmp_path):
    # A password with what an unquoted env file would mangle: a $ (expanded), quotes, a line break (a new variable).
    password = 'pa$HOME"q\'\\x\nINJECTED=1'
    # A key with what Ansible would read as a template, given from a vars file as the README says (!unsafe).
    api_key = "k{{ x }}{% y %}"
    secrets = tmp_path / "secrets.yml"
    secrets.write_text("blue_green_secret_env:\n  AGENT_API_TOKEN: %s\n  DB_PASSWORD: %s\n  API_KEY: !unsafe %s\n"
                       % (json.dumps(SECRET), json.dumps(password), json.dumps(api_key)))
    secret = {"target_version": "1.1.0"}
    previewed = must(run_playbook("blue-green-deploy.yml", inventory, secret, check=True, var_files=[str(secrets)]))
    assert "green.compose.yml" in previewed.output and SECRET not in previewed.output  # the diff shows the compose file only
    result = must(run_playbook("blue-green-deploy.yml", inventory, secret, var_files=[str(secrets)]))
    ident = sh("ls %s/*.manifest.json | tail -n 1" % BACKUPS).strip().rsplit("/", 1)[1][:-len(".manifest.json")]
    assert ident.endswith("-1.0.0") and "backup_id: %s" % ident in result.output
    assert SECRET not in result.output
    project_dir = "/opt/nextgen-rollout/agent-loop"
    assert sh("stat -c %%a %s %s/green.env %s/green.compose.yml" % ((project_dir,) * 3)).split() == ["700", "600", "600"]
    env = json.loads(sh("docker inspect -f '{{json .Config.Env}}' agent-loop-green-app-1"))
    assert "AGENT_API_TOKEN=%s" % SECRET in env and "DB_PASSWORD=%s" % password in env and "API_KEY=%s" % api_key in env, env
    assert not [item for item in env if item.startswith("INJECTED")], env


def test_a_restore_inside_the_warm_window_keeps_serving_for_twice_the_window(inventory):
    # Long enough for the restore to take the lock inside the window on a busy machine (ansible's
    # start, the backup's verification and the timer's installation come before the lock).
    window = 40
    fast = {"blue_green_warm_seconds": window, "blue_green_retire_check_interval": 2,
            "blue_green_backup_before_change": False, "blue_green_smoke_samples": 3}
    live = ledger(HOST)["live"]["version"]
    must(run_playbook("backup.yml", inventory, {}))
    ident = sh("ls %s/*.manifest.json | tail -n 1" % BACKUPS).strip().rsplit("/", 1)[1][:-len(".manifest.json")]
    target = "1.2.0" if live != "1.2.0" else "1.0.0"
    must(run_playbook("blue-green-deploy.yml", inventory, dict(fast, target_version=target)))
    # The load's own bound must outlast the restore (its time varies with the machine's load) plus
    # twice the window; it is stopped as soon as the watch below is over.
    load = Load(URL, rate_per_s=50, max_requests=30000, max_seconds=500, workers=4).start()
    try:
        restored = must(run_playbook("restore.yml", inventory, dict(fast, backup_id=ident)))
        restored_at = time.time()
        # Traffic is watched until the timer retired the other colour (the old timer would have taken
        # the restored one down at the end of the old window, before that) and for twice the window.
        wait_until(lambda: ledger(HOST)["history"][-1]["action"] == "retire"
                   and time.time() >= restored_at + 2 * window, 4 * window,
                   "the other colour retired and traffic watched for twice the window", interval=1)
    finally:
        summary = load.stop()
    doc = ledger(HOST)
    assert "warm_switch: true" in restored.output  # the warm colour went back to traffic, nothing restarted
    assert doc["live"]["version"] == live and summary["failed"] == 0, summary
    after = [r for r in load.snapshot() if r[0] > restored_at]
    assert len(after) > 40 * window and set(r[2] for r in after) == {live}
    other = "green" if doc["live"]["colour"] == "blue" else "blue"
    assert doc["colours"][other]["state"] == "retired"  # the timer retired the other colour, not the restored one
    assert doc["history"][-1]["action"] == "retire" and doc["history"][-1]["version"] == target


def test_a_backup_started_during_a_deploy_is_refused_and_nothing_is_half_written(inventory):
    before = sh("ls %s" % BACKUPS).split()
    target = "1.1.0" if ledger(HOST)["live"]["version"] != "1.1.0" else "1.0.0"
    # The new colour answers ready after 8 s: the deploy holds its lock while backup.yml starts and asks for it.
    deploy = BackgroundRun("blue-green-deploy.yml", inventory,
                           {"target_version": target, "blue_green_backup_before_change": False,
                            "blue_green_env": {"READY_DELAY_S": "8"}})
    try:
        wait_until(lambda: host_exec(HOST, "test", "-s", "/var/lib/nextgen-rollout/agent-loop/lock.json").returncode == 0
                   or not deploy.running(), 120, "the deploy holds its lock", interval=0.2)
        assert deploy.running(), deploy.output()[-2000:]
        refused = run_playbook("backup.yml", inventory, {})
        deploy.proc.wait(timeout=300)
    finally:
        deploy.kill(HOST)
    assert refused.rc != 0 and "deploy lock of agent-loop is held" in refused.output, refused.output[-2000:]
    assert "Another deploy, rollback, restore or backup is running" in refused.output
    assert deploy.proc.returncode == 0, deploy.output()[-2000:]
    assert ledger(HOST)["live"]["version"] == target
    assert sh("ls -a %s" % BACKUPS).split() == [".", ".."] + before  # no backup written, none half-written
    # Once the deploy is over, the same backup runs and leaves the lock free.
    taken = must(run_playbook("backup.yml", inventory, {}))
    assert "backup_id" in taken.output and host_exec(HOST, "test", "-s", "/var/lib/nextgen-rollout/agent-loop/lock.json").returncode != 0
