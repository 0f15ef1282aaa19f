"""A bare Debian host (systemd, sshd and Python; no Docker engine, no nginx), reached over SSH as
the user deploy with a sudo password (inventories/example's way), once for each release the host
role supports, Debian 12 (bookworm, Docker 20.10) and Debian 13 (trixie, Docker 26):
a deploy is refused and pointed to the preparation; playbooks/prepare-hosts.yml makes it a target;
a second run changes nothing; then a deploy, a second one and a warm rollback succeed, and preparing
it again while it serves restarts nothing and keeps the operator's Docker settings."""
import collections
import json
import re
import subprocess

import pytest

from support.playbook import host_exec, ledger, must, run_playbook, simulated_hosts

# Debian release: the base port of its host (nr-e2e-<release>-1), and the Docker engine it installs.
RELEASES = {"bookworm": (19500, "20.10."), "trixie": (19510, "26.")}
FAST = {"blue_green_smoke_samples": 5}
BareHost = collections.namedtuple("BareHost", "name inventory engine")


@pytest.fixture(scope="module", params=sorted(RELEASES))
def bare(request, tmp_path_factory):
    release = request.param
    prefix = "nr-e2e-" + release
    base_port, engine = RELEASES[release]
    with simulated_hosts(prefix, 1, base_port, tmp_path_factory.mktemp(release), connection="ssh-sudo",
                         bare=release) as path:
        yield BareHost(prefix + "-1", path, engine)


def recap_changed(host, output):
    return int(re.search(r"%s\s+: ok=\d+\s+changed=(\d+)" % re.escape(host), output).group(1))


def test_a_bare_host_is_refused_and_pointed_to_the_preparation(bare):
    release = host_exec(bare.name, "sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME").stdout.strip()
    assert release == bare.name.split("-")[2], release
    assert host_exec(bare.name, "sh", "-c", "command -v docker nginx").returncode != 0
    result = run_playbook("blue-green-deploy.yml", bare.inventory, dict(FAST, target_version="1.0.0"))
    assert result.rc != 0 and "prepare it with playbooks/prepare-hosts.yml" in " ".join(result.output.split())


def test_preparation_makes_a_target_and_a_second_run_changes_nothing(bare, tmp_path):
    ca = tmp_path / "registry-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot checked by the copy\n-----END CERTIFICATE-----\n")
    escaping = run_playbook("prepare-hosts.yml", bare.inventory, {"host_registry_cas": {"../../etc/ssl": str(ca)}})
    assert escaping.rc != 0 and "host_registry_cas: ../../etc/ssl must be a registry" in " ".join(escaping.output.split())
    assert host_exec(bare.name, "sh", "-c", "command -v docker").returncode != 0  # nothing was installed
    trusted = {"host_registry_cas": {"registry.example.com:5000": str(ca)}}
    first = must(run_playbook("prepare-hosts.yml", bare.inventory, trusted))
    assert recap_changed(bare.name, first.output) > 0
    second = must(run_playbook("prepare-hosts.yml", bare.inventory, trusted))
    assert recap_changed(bare.name, second.output) == 0, second.output[-2000:]
    placed = "/etc/docker/certs.d/registry.example.com:5000/ca.crt"
    assert host_exec(bare.name, "cat", placed).stdout == ca.read_text()
    assert host_exec(bare.name, "stat", "-c", "%a %U", placed).stdout.strip() == "644 root"
    assert host_exec(bare.name, "docker", "compose", "version", "--short").returncode == 0
    engine = host_exec(bare.name, "docker", "version", "--format", "{{.Server.Version}}").stdout.strip()
    assert engine.startswith(bare.engine), engine
    assert host_exec(bare.name, "systemctl", "is-active", "nginx").stdout.strip() == "active"
    assert host_exec(bare.name, "stat", "-c", "%a %U", "/var/lib/nextgen-rollout").stdout.strip() == "700 root"


def test_a_deploy_to_the_prepared_host_succeeds(bare):
    # No registry here: the image is loaded as on an air-gapped host.
    save = subprocess.Popen(["docker", "save", "agent-loop:1.0.0", "agent-loop:1.1.0"], stdout=subprocess.PIPE)
    subprocess.run(["docker", "exec", "-i", bare.name, "docker", "load", "-q"], stdin=save.stdout, check=True,
                   capture_output=True)
    save.stdout.close()
    assert save.wait() == 0
    must(run_playbook("blue-green-deploy.yml", bare.inventory, dict(FAST, target_version="1.0.0", rollout_image_pull="never")))
    assert ledger(bare.name)["live"]["version"] == "1.0.0"
    served = host_exec(bare.name, "curl", "-fsS", "-D-", "-o", "/dev/null", "http://127.0.0.1/").stdout
    assert "X-Served-By: blue/1.0.0" in served
    # The next release and a warm rollback to the first, on this release's engine.
    must(run_playbook("blue-green-deploy.yml", bare.inventory, dict(FAST, target_version="1.1.0", rollout_image_pull="never")))
    assert "X-Served-By: green/1.1.0" in host_exec(bare.name, "curl", "-fsS", "-D-", "-o", "/dev/null", "http://127.0.0.1/").stdout
    rollback = must(run_playbook("rollback.yml", bare.inventory, {}))
    assert "agent-loop 1.0.0 is live on blue" in " ".join(rollback.output.split()), rollback.output[-2000:]
    assert ledger(bare.name)["live"]["version"] == "1.0.0"
    assert "X-Served-By: blue/1.0.0" in host_exec(bare.name, "curl", "-fsS", "-D-", "-o", "/dev/null", "http://127.0.0.1/").stdout


def running_containers(host):
    return host_exec(host, "sh", "-c", "docker ps -q | xargs docker inspect -f '{{.Name}} {{.State.StartedAt}}'").stdout


def test_preparing_a_host_that_serves_again_restarts_nothing_and_keeps_its_docker_settings(bare):
    before = running_containers(bare.name)
    engine = host_exec(bare.name, "systemctl", "show", "-p", "ExecMainPID", "docker").stdout
    assert "agent-loop-blue" in before
    # The operator's own daemon.json: its keys stay, the collection's defaults fill in what it does not set.
    assert host_exec(bare.name, "sh", "-c", "echo '{\"labels\": [\"team=web\"], \"log-opts\": {\"max-size\": \"5m\"}}' "
                     "> /etc/docker/daemon.json").returncode == 0
    result = must(run_playbook("prepare-hosts.yml", bare.inventory))
    said = " ".join(result.output.split())
    assert "/etc/docker/daemon.json changed on %s, but 2 container(s) run there and restarting the engine now would stop " \
        "them" % bare.name in said and "Nothing was restarted." in said, said[-2000:]
    assert json.loads(host_exec(bare.name, "cat", "/etc/docker/daemon.json").stdout) == {
        "labels": ["team=web"], "log-opts": {"max-size": "5m"}, "log-driver": "json-file"}
    assert (running_containers(bare.name), host_exec(bare.name, "systemctl", "show", "-p", "ExecMainPID", "docker").stdout) == (before, engine)
    # An engine is there: docker.io, which would replace another engine (docker-ce), is not asked for.
    apt_task = next(line for line in result.output.splitlines() if "Install the Debian packages of a target - " in line)
    assert "docker.io" not in apt_task and "python3-requests" in apt_task, apt_task
    served = host_exec(bare.name, "curl", "-fsS", "-D-", "-o", "/dev/null", "http://127.0.0.1/").stdout
    assert "X-Served-By: blue/1.0.0" in served
