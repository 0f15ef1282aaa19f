"""Real hosts and a real registry: the simulated hosts are reached over SSH only, as the user deploy
with a sudo password (inventories/example's way; root cannot log in), and get their
images from Debian's docker-registry (distribution 2.8) with htpasswd authentication and TLS,
running on a docker network this test made. Deploy from the registry, canary and a rollback to a
named version by its digest, under load with 0 failed requests; a wrong password, an unknown tag
and a stopped registry are refused before any change; a warm rollback needs no registry."""
import json
import os
import re
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from support.load import Load
from support.receiver import Receiver
from support.playbook import ROOT, SUDO_PASSWORD, SUDO_USER, host_exec, ledger, must, run_playbook, simulated_hosts, wait_until

PREFIX = "nr-e2e-reg"
HOST = PREFIX + "-1"
NETWORK = PREFIX + "-net"
REGISTRY_CONTAINER = PREFIX + "-registry"
BASE_PORT, REGISTRY_PORT = 19400, 19450
URL = "http://127.0.0.1:%d/" % (BASE_PORT + 1)
REGISTRY = "registry.test:5000"
REPOSITORY = REGISTRY + "/team/agent-loop"
USER, PASSWORD = "deployer", "s3cret-registry-pass"
# The same registry under a second name, as a second private registry with a user of its own: an
# accessory's image comes from there.
MIRROR = "mirror.test:5000"
MIRROR_IMAGE = MIRROR + "/ops/redis:7.0"
MIRROR_USER, MIRROR_PASSWORD = "ops", "m1rror-registry-pass"
CACHE = {"rollout_accessories": {"cache": {"image": MIRROR_IMAGE}}}
FILES = os.path.join(os.path.dirname(__file__), "files")
VARS = {"rollout_image": REPOSITORY, "rollout_registry_username": USER, "rollout_registry_password": PASSWORD,
        "rollout_image_pull": "missing", "blue_green_smoke_samples": 5, "blue_green_drain_seconds": 0}
REGISTRY_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  tls:
    certificate: /certs/registry.test.crt
    key: /certs/registry.test.key
auth:
  htpasswd:
    realm: nextgen-rollout-tests
    path: /auth/htpasswd
"""


def docker(*args, **kwargs):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, **kwargs).stdout.strip()


def start_registry(directory):
    subprocess.run(["docker", "rm", "-f", REGISTRY_CONTAINER], capture_output=True, check=False)
    htpasswd = [docker("run", "--rm", "nextgen/registry:2.8", "htpasswd", "-Bbn", user, password)
                for user, password in ((USER, PASSWORD), (MIRROR_USER, MIRROR_PASSWORD))]
    (directory / "auth").mkdir(exist_ok=True)
    (directory / "auth" / "htpasswd").write_text("\n".join(htpasswd) + "\n")
    (directory / "config.yml").write_text(REGISTRY_CONFIG)
    docker("run", "-d", "--name", REGISTRY_CONTAINER, "--network", NETWORK, "--network-alias", "registry.test",
           "--network-alias", "mirror.test",
           "-p", "127.0.0.1:%d:5000" % REGISTRY_PORT,
           "-v", "%s:/etc/docker/registry/config.yml:ro" % (directory / "config.yml"),
           "-v", "%s:/auth:ro" % (directory / "auth"), "-v", "%s:/certs:ro" % directory, "nextgen/registry:2.8")
    wait_until(registry_answers, 30, "the registry answers on 127.0.0.1:%d" % REGISTRY_PORT)


def start_stopped_registry():
    """Start the registry a test stopped, and wait until it answers: the next test logs in or pulls at once."""
    subprocess.run(["docker", "start", REGISTRY_CONTAINER], capture_output=True, check=True)
    wait_until(registry_answers, 30, "the registry answers again on 127.0.0.1:%d" % REGISTRY_PORT)


def registry_answers():
    """The registry's API answers (401 without credentials) on its loopback port."""
    context = ssl._create_unverified_context()  # only: is it up yet? The hosts check its certificate.
    try:
        urllib.request.urlopen("https://127.0.0.1:%d/v2/" % REGISTRY_PORT, timeout=2, context=context)
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except OSError:
        return False
    return False


def push(directory, versions):
    """Push the reference images through the registry's loopback port (docker trusts 127.0.0.1
    without a certificate check), under a docker config of the test's own."""
    config = str(directory / "docker-config")
    pushed = "127.0.0.1:%d/team/agent-loop" % REGISTRY_PORT
    docker("--config", config, "login", "-u", USER, "--password-stdin", "127.0.0.1:%d" % REGISTRY_PORT, input=PASSWORD)
    digests = {}
    for version in versions:
        docker("tag", "agent-loop:" + version, "%s:%s" % (pushed, version))
        out = docker("--config", config, "push", "%s:%s" % (pushed, version))
        digests[version] = out.split("digest: ")[1].split()[0]
        docker("rmi", "%s:%s" % (pushed, version))
    return digests


def push_mirror_image(directory):
    """The accessory's image, pushed as the mirror's (the test's docker config is logged in already)."""
    pushed = "127.0.0.1:%d/ops/redis:7.0" % REGISTRY_PORT
    docker("tag", "redis:7.0", pushed)
    docker("--config", str(directory / "docker-config"), "push", pushed)
    docker("rmi", pushed)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    directory = tmp_path_factory.mktemp("registry")
    subprocess.run(["docker", "network", "create", NETWORK], capture_output=True, check=False)
    try:
        with simulated_hosts(PREFIX, 1, BASE_PORT, directory, connection="ssh-sudo", network=NETWORK,
                             no_images=True) as inventory:
            os.environ["TLS_WORK_DIR"] = str(directory)
            # The registry's certificate, and the hosts' docker trusting it for registry.test:5000 and mirror.test:5000.
            must(run_playbook(os.path.join(FILES, "tls-cert.yml"), inventory, {
                "tls_name": "registry.test", "tls_alt_names": ["mirror.test"], "tls_dest_dir": "/etc/docker/certs.d/" + REGISTRY,
                "tls_copy_key": False}))
            trusted = "/etc/docker/certs.d/%s/registry.test.crt"
            assert host_exec(HOST, "install", "-D", "-m", "0644", trusted % REGISTRY, trusted % MIRROR).returncode == 0
            start_registry(directory)
            digests = push(directory, ["1.0.0", "1.1.0", "1.2.0"])
            push_mirror_image(directory)
            yield {"inventory": inventory, "digests": digests}
    finally:
        subprocess.run(["docker", "rm", "-f", REGISTRY_CONTAINER], capture_output=True, check=False)
        subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True, check=False)


def running_image(colour):
    return host_exec(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", "agent-loop-%s-app-1" % colour).stdout.strip()


def deploy(fleet, **extra):
    return run_playbook("blue-green-deploy.yml", fleet["inventory"], dict(VARS, **extra))


def test_the_host_is_reached_over_ssh_as_a_sudo_user_and_has_no_image_of_its_own(fleet):
    with open(fleet["inventory"]) as handle:
        inventory = json.load(handle)["all"]
    assert inventory["hosts"][HOST]["ansible_connection"] == "ssh" and inventory["hosts"][HOST]["ansible_host"] == "127.0.0.1"
    assert inventory["vars"]["ansible_user"] == SUDO_USER and inventory["vars"]["ansible_become"] is True
    assert host_exec(HOST, "test", "-e", "/root/.ssh/authorized_keys").returncode != 0  # root cannot log in
    needs_password = host_exec(HOST, "su", SUDO_USER, "-c", "sudo -n true")
    assert needs_password.returncode != 0 and "password is required" in needs_password.stderr, needs_password
    assert host_exec(HOST, "docker", "images", "-q").stdout.strip() == ""


@pytest.mark.parametrize("case, extra, message", [
    ("a wrong password", {"rollout_registry_password": "wrong-Pa55-x7"},
     "cannot log in to registry.test:5000 as deployer"),
    ("an unknown tag", {"target_version": "9.9.9"},
     "image registry.test:5000/team/agent-loop:9.9.9 cannot be pulled"),
    ("an accessory from another registry without its login", CACHE,
     "does not have every image of the other services of rollout_compose_template and of rollout_accessories (%s)" % MIRROR_IMAGE),
    ("a wrong password for another registry",
     dict(CACHE, rollout_registry_logins=[{"registry": MIRROR, "username": MIRROR_USER, "password": "wrong-Pa55-x7"}]),
     "cannot log in to %s (rollout_registry_logins): the registry refused the username and password given for it" % MIRROR),
])
def test_bad_registry_input_is_refused_before_anything_changes(fleet, case, extra, message):
    result = deploy(fleet, **dict({"target_version": "1.0.0"}, **extra))
    assert result.rc != 0 and message in " ".join(result.output.split()), (case, result.output[-2500:])
    assert "Nothing was changed" in result.output
    assert PASSWORD not in result.output and "wrong-Pa55-x7" not in result.output  # credentials never shown
    assert SUDO_PASSWORD not in result.output
    assert ledger(HOST) is None or ledger(HOST)["live"] is None


def test_an_accessory_from_another_private_registry_is_pulled_with_its_own_login(fleet):
    cache = dict(CACHE, rollout_service="cache", rollout_server_name="cache.test", target_version="1.0.0",
                 rollout_registry_logins=[{"registry": MIRROR, "username": MIRROR_USER, "password": MIRROR_PASSWORD}])
    result = must(deploy(fleet, **cache))
    assert MIRROR_PASSWORD not in result.output
    image = host_exec(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", "cache-accessories-cache-1").stdout.strip()
    assert image == MIRROR_IMAGE
    assert ledger(HOST, "cache")["live"]["version"] == "1.0.0"
    # Its containers go: an image a container uses is one maintenance keeps, which the retention test counts.
    containers = host_exec(HOST, "docker", "ps", "-aq", "--filter", "name=^cache-").stdout.split()
    assert len(containers) == 2 and host_exec(HOST, "docker", "rm", "-f", *containers).returncode == 0


def test_deploy_canary_and_rollback_by_digest_over_ssh_under_load(fleet):
    digests = fleet["digests"]
    must(deploy(fleet, target_version="1.0.0"))
    assert running_image(ledger(HOST)["live"]["colour"]) == "%s@%s" % (REPOSITORY, digests["1.0.0"])
    load = Load(URL, rate_per_s=60, max_seconds=240, key_header="X-Client-Id").start()
    # The webhooks are told from the controller, which has no sudo: with the inventory's
    # ansible_become for every host, those tasks must still not become.
    receiver = Receiver()
    try:
        must(deploy(fleet, target_version="1.1.0"))
        canary = {"target_version": "1.2.0", "rollout_strategy": "canary", "canary_interval": 2,
                  "canary_max_extensions": 1, "canary_hash_key": "$http_x_client_id",
                  "canary_steps": [{"share": 50, "pause": 6}, {"share": 100, "pause": 0}],
                  "canary_policy": {"min_requests": 10, "rules": {"error_rate": {"for": "4s"}}},
                  "rollout_webhooks": [{"url": receiver.url}]}
        must(deploy(fleet, **canary))
        # 1.0.0 is not warm any more (1.1.0 is): the rollback starts the digest the ledger recorded.
        must(run_playbook("rollback.yml", fleet["inventory"], dict(VARS, target_version="1.0.0")))
    finally:
        summary = load.stop()
        receiver.close()
    assert [(doc["event"], doc["version"]) for doc in receiver.received] == [
        ("started", "1.2.0"), ("step_passed", "1.2.0"), ("step_passed", "1.2.0"), ("completed", "1.2.0")], receiver.received
    print("load summary: %s" % summary)
    assert summary["failed"] == 0 and summary["requests"] > 500, summary
    assert summary["versions"] == ["1.0.0", "1.1.0", "1.2.0"]
    live = ledger(HOST)["live"]
    assert live["version"] == "1.0.0" and running_image(live["colour"]) == "%s@%s" % (REPOSITORY, digests["1.0.0"])
    images = [e["details"].get("image") for e in ledger(HOST)["history"] if e["action"] in ("deploy", "canary")]
    assert "%s@%s" % (REPOSITORY, digests["1.2.0"]) in images


def test_a_stopped_registry_stops_a_deploy_but_not_a_warm_rollback(fleet):
    subprocess.run(["docker", "stop", REGISTRY_CONTAINER], capture_output=True, check=True)
    try:
        live = ledger(HOST)["live"]
        result = deploy(fleet, target_version="1.1.0", rollout_image_pull="always")
        assert result.rc != 0 and "cannot be pulled" in " ".join(result.output.split()), result.output[-2500:]
        assert ledger(HOST)["live"] == live
        # The warm colour runs 1.2.0: going back to it is a switch, no registry involved.
        warm = run_playbook("rollback.yml", fleet["inventory"], dict(VARS, target_version="1.2.0"))
        assert warm.rc == 0, warm.output[-2500:]
        assert ledger(HOST)["live"]["version"] == "1.2.0" and ledger(HOST)["history"][-1]["details"]["warm_switch"]
    finally:
        start_stopped_registry()


def test_image_retention_keeps_what_a_rollback_needs(fleet):
    # A retention that would remove the live version's image is refused before the backup.
    backups = host_exec(HOST, "ls", "/var/backups/nextgen-rollout/agent-loop").stdout
    images = sorted(host_exec(HOST, "docker", "images", "-q").stdout.split())
    refused = run_playbook("maintenance.yml", fleet["inventory"], dict(VARS, rollout_keep_images=0))
    said = " ".join(refused.output.split())
    assert refused.rc != 0 and "a whole number from 1 (the live version) up (got 0)" in said, said[-2500:]
    assert host_exec(HOST, "ls", "/var/backups/nextgen-rollout/agent-loop").stdout == backups
    # docker lists images of the same second in no fixed order: compare the sets.
    assert sorted(host_exec(HOST, "docker", "images", "-q").stdout.split()) == images
    # Live 1.2.0 and warm 1.0.0 are in use; with one release kept, only 1.1.0 may go.
    must(run_playbook("maintenance.yml", fleet["inventory"], dict(VARS, rollout_keep_images=1)))
    left = host_exec(HOST, "docker", "images", "--digests", "--format", "{{.Digest}}").stdout.split()
    digests = fleet["digests"]
    assert digests["1.0.0"] in left and digests["1.2.0"] in left and digests["1.1.0"] not in left, left
    again = must(run_playbook("maintenance.yml", fleet["inventory"], dict(VARS, rollout_keep_images=1)))
    assert "0 image(s) removed" in " ".join(again.output.split()), again.output[-2500:]


def build_reference(version):
    """The reference service at a version the image builder does not make (only what changes is built)."""
    docker("build", "-q", "--build-arg", "BASE_IMAGE=nextgen/base:bookworm", "--build-arg", "APP_VERSION=" + version,
           "-t", "agent-loop:" + version, os.path.join(ROOT, "examples", "agent-loop"))


def repository_digests():
    """The digests of the service's images on the host."""
    listed = host_exec(HOST, "docker", "images", "--digests", "--format", "{{.Repository}} {{.Digest}}").stdout.split("\n")
    return sorted(line.split()[1] for line in listed if line.startswith(REPOSITORY + " "))


def test_maintenance_after_five_releases_keeps_exactly_what_a_rollback_may_need(fleet, tmp_path):
    for version in ("1.3.0", "1.4.0"):
        build_reference(version)
    digests = dict(fleet["digests"], **push(tmp_path, ["1.3.0", "1.4.0"]))
    for version in ("1.3.0", "1.4.0"):
        # A 1 kB rotation size (the nginx installation follows it) so that maintenance has a log to rotate.
        must(deploy(fleet, target_version=version, nginx_access_log_rotate_size="1k"))
    releases = [e["version"] for e in ledger(HOST)["history"] if e["result"] == "succeeded" and e["action"] in (
        "deploy", "canary", "rollback")]
    assert len(set(releases)) == 5, releases
    result = must(run_playbook("maintenance.yml", fleet["inventory"], dict(VARS, rollout_keep_images=3)))
    # The last three releases stay (the live one, the warm one and one more); 1.0.0 and 1.1.0 go.
    assert repository_digests() == sorted(digests[v] for v in ("1.2.0", "1.3.0", "1.4.0")), repository_digests()
    said = " ".join(result.output.split())
    assert "image(s) removed" in said and "healthy: " in said and "1.4.0" in said, said[-2500:]
    listed = host_exec(HOST, "ls", "/var/backups/nextgen-rollout/agent-loop").stdout
    assert listed.strip(), "maintenance left no backup"
    assert re.search(r"[1-9][0-9]* log\(s\) rotated", said) and host_exec(HOST, "test", "-s", "/var/log/nginx/agent-loop.access.json.1").returncode == 0
    # With the registry gone, a rollback to each kept release still works; to a pruned one it is refused.
    subprocess.run(["docker", "stop", REGISTRY_CONTAINER], capture_output=True, check=True)
    try:
        for version in ("1.3.0", "1.2.0", "1.4.0"):
            must(run_playbook("rollback.yml", fleet["inventory"], dict(VARS, target_version=version)))
            assert ledger(HOST)["live"]["version"] == version
        refused = run_playbook("rollback.yml", fleet["inventory"], dict(VARS, target_version="1.1.0"))
        assert refused.rc != 0 and "cannot be pulled" in " ".join(refused.output.split()), refused.output[-2500:]
        assert "never ran as" not in refused.output  # 1.1.0 ran there: its image was pruned, the version is right
        assert ledger(HOST)["live"]["version"] == "1.4.0"
        # nginx reopened its log after the rotation: the rollbacks' checks went to the new file.
        assert host_exec(HOST, "test", "-s", "/var/log/nginx/agent-loop.access.json").returncode == 0
    finally:
        start_stopped_registry()


HELPER_REPOSITORY = REGISTRY + "/team/helper"
HELPER_TEMPLATE = """services:
  app: {}
  helper:
    image: %s:1
    command: [sleep, infinity]
    init: true
    healthcheck: {disable: true}
""" % HELPER_REPOSITORY


def push_helper(directory, label):
    """A sidecar's image under the tag helper:1, made anew each time (the tag moves); its digest."""
    config, pushed = str(directory / "docker-config"), "127.0.0.1:%d/team/helper:1" % REGISTRY_PORT
    docker("--config", config, "login", "-u", USER, "--password-stdin", "127.0.0.1:%d" % REGISTRY_PORT, input=PASSWORD)
    docker("build", "-q", "-t", pushed, "-", input="FROM agent-loop:1.0.0\nLABEL nextgen.test.helper=%s\n" % label)
    out = docker("--config", config, "push", pushed)
    docker("rmi", pushed)
    return out.split("digest: ")[1].split()[0]


def test_a_rollback_runs_the_sidecar_its_release_ran_after_the_sidecars_tag_moved(fleet, tmp_path):
    template = tmp_path / "compose.yml.j2"
    template.write_text(HELPER_TEMPLATE)
    helper = {"rollout_service": "helper", "rollout_server_name": "helper.test", "rollout_compose_template": str(template)}
    first = push_helper(tmp_path, "first")
    try:
        must(deploy(fleet, target_version="1.0.0", **helper))
        moved = push_helper(tmp_path, "moved")
        # The tag names another image now: a deploy that pulls every time takes it.
        must(deploy(fleet, target_version="1.1.0", rollout_image_pull="always", **helper))
        must(deploy(fleet, target_version="1.2.0", **helper))
        # 1.0.0 is not warm (1.1.0 is): its colour starts again, with the sidecar 1.0.0 ran, pulled by its digest.
        must(run_playbook("rollback.yml", fleet["inventory"], dict(VARS, target_version="1.0.0", **helper)))
        doc = ledger(HOST, "helper")
        sidecar = host_exec(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", "helper-%s-helper-1" % doc["live"]["colour"])
        assert doc["live"]["version"] == "1.0.0" and sidecar.stdout.strip() == "%s@%s" % (HELPER_REPOSITORY, first), sidecar
        pins = [(entry["action"], entry["version"], (entry["details"].get("colour_images") or {}).get(HELPER_REPOSITORY + ":1"))
                for entry in doc["history"]]
        assert pins == [("deploy", "1.0.0", "%s@%s" % (HELPER_REPOSITORY, first)),
                        ("deploy", "1.1.0", "%s@%s" % (HELPER_REPOSITORY, moved)),
                        ("deploy", "1.2.0", "%s@%s" % (HELPER_REPOSITORY, moved)),
                        ("rollback", "1.0.0", "%s@%s" % (HELPER_REPOSITORY, first))], pins
    finally:
        containers = host_exec(HOST, "docker", "ps", "-aq", "--filter", "name=^helper-").stdout.split()
        if containers:
            host_exec(HOST, "docker", "rm", "-f", *containers)
