"""A backup of what a rollback needs exists, verifies against its manifest, and is private."""
import json

BACKUPS = "/var/backups/nextgen-rollout/agent-loop"


def manifests(host):
    names = host.check_output("ls %s" % BACKUPS).split()
    return [json.loads(host.file("%s/%s" % (BACKUPS, n)).content_string) for n in names if n.endswith(".manifest.json")]


def test_the_backup_holds_what_a_rollback_needs(host):
    docs = manifests(host)
    assert 1 <= len(docs) <= 2
    names = [m["name"] for m in docs[-1]["members"]]
    for wanted in ("files/opt/nextgen-rollout/agent-loop/blue.compose.yml", "files/etc/nginx/conf.d/agent-loop.conf",
                   "files/var/lib/nextgen-rollout/agent-loop/ledger.json", "commands/pre-backup.out"):
        assert wanted in names
    assert docs[-1]["live_version"] == "1.0.0"


def test_the_archive_matches_its_manifest(host):
    doc = manifests(host)[-1]
    digest = host.check_output("sha256sum %s/%s.tar.gz" % (BACKUPS, doc["id"])).split()[0]
    assert digest == doc["archive_sha256"]


def test_backups_are_readable_by_root_only(host):
    assert host.file(BACKUPS).mode == 0o700
    for name in host.check_output("ls %s" % BACKUPS).split():
        assert host.file("%s/%s" % (BACKUPS, name)).mode == 0o600
