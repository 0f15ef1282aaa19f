"""A bare Debian 12 host (systemd, sshd and Python; no Docker engine, no nginx), reached over SSH as
the user deploy with a sudo password (inventories/example's way):
a deploy is refused and pointed to the preparation; playbooks/prepare-hosts.yml makes it a target;
a second run changes nothing; then a deploy to it succeeds, and preparing it again while it serves
restarts nothing and keeps the operator's Docker settings."""
import json
import re
import subprocess

import pytest

from support.playbook import host_exec, ledger, must, run_playbook, simulated_hosts

PREFIX = "nr-e2e-bare"
HOST = PREFIX + "-1"
BASE_PORT = 19500
FAST = {"blue_green_smoke_samples": 5}


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    with simulated_hosts(PREFIX, 1, BASE_PORT, tmp_path_factory.mktemp("bare"), connection="ssh-sudo", bare=True) as path:
        yield path


def recap_changed(output):
    return int(re.search(r"%s\s+: ok=\d+\s+changed=(\d+)" % re.escape(HOST), output).group(1))


def test_a_bare_host_is_refused_and_pointed_to_the_preparation(inventory):
    assert host_exec(HOST, "sh", "-c", "command -v docker nginx").returncode != 0
    result = run_playbook("blue-green-deploy.yml", inventory, dict(FAST, target_version="1.0.0"))
    assert result.rc != 0 and "prepare it with playbooks/prepare-hosts.yml" in " ".join(result.output.split())


def test_preparation_makes_a_target_and_a_second_run_changes_nothing(inventory, tmp_path):
    ca = tmp_path / "registry-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot checked by the copy\n-----END CERTIFICATE-----\n")
    escaping = run_playbook("prepare-hosts.yml", inventory, {"host_registry_cas": {"../../etc/ssl": str(ca)}})
    assert escaping.rc != 0 and "host_registry_cas: ../../etc/ssl must be a registry" in " ".join(escaping.output.split())
    assert host_exec(HOST, "sh", "-c", "command -v docker").returncode != 0  # nothing was installed
    trusted = {"host_registry_cas": {"registry.example.com:5000": str(ca)}}
    first = must(run_playbook("prepare-hosts.yml", inventory, trusted))
    assert recap_changed(first.output) > 0
    second = must(run_playbook("prepare-hosts.yml", inventory, trusted))
    assert recap_changed(second.output) == 0, second.output[-2000:]
    placed = "/etc/docker/certs.d/registry.example.com:5000/ca.crt"
    assert host_exec(HOST, "cat", placed).stdout == ca.read_text()
    assert host_exec(HOST, "stat", "-c", "%a %U", placed).stdout.strip() == "644 root"
    assert host_exec(HOST, "docker", "compose", "version", "--short").returncode == 0
    assert host_exec(HOST, "systemctl", "is-active", "nginx").stdout.strip() == "active"
    assert host_exec(HOST, "stat", "-c", "%a %U", "/var/lib/nextgen-rollout").stdout.strip() == "700 root"


def test_a_deploy_to_the_prepared_host_succeeds(inventory):
    # No registry here: the image is loaded as on an air-gapped host.
    save = subprocess.Popen(["docker", "save", "agent-loop:1.0.0"], stdout=subprocess.PIPE)
    subprocess.run(["docker", "exec", "-i", HOST, "docker", "load", "-q"], stdin=save.stdout, check=True,
                   capture_output=True)
    save.stdout.close()
    assert save.wait() == 0
    must(run_playbook("blue-green-deploy.yml", inventory, dict(FAST, target_version="1.0.0", rollout_image_pull="never")))
    assert ledger(HOST)["live"]["version"] == "1.0.0"
    served = host_exec(HOST, "curl", "-fsS", "-D-", "-o", "/dev/null", "http://127.0.0.1/").stdout
    assert "X-Served-By: blue/1.0.0" in served


def running_containers():
    return host_exec(HOST, "sh", "-c", "docker ps -q | xargs docker inspect -f '{{.Name}} {{.State.StartedAt}}'").stdout


def test_preparing_a_host_that_serves_again_restarts_nothing_and_keeps_its_docker_settings(inventory):
    before = running_containers()
    engine = host_exec(HOST, "systemctl", "show", "-p", "ExecMainPID", "docker").stdout
    assert "agent-loop-blue" in before
    # The operator's own daemon.json: its keys stay, the collection's defaults fill in what it does not set.
    assert host_exec(HOST, "sh", "-c", "echo '{\"labels\": [\"team=web\"], \"log-opts\": {\"max-size\": \"5m\"}}' "
                     "> /etc/docker/daemon.json").returncode == 0
    result = must(run_playbook("prepare-hosts.yml", inventory))
    said = " ".join(result.output.split())
    assert "/etc/docker/daemon.json changed on %s, but 1 container(s) run there and restarting the engine now would stop " \
        "them" % HOST in said and "Nothing was restarted." in said, said[-2000:]
    assert json.loads(host_exec(HOST, "cat", "/etc/docker/daemon.json").stdout) == {
        "labels": ["team=web"], "log-opts": {"max-size": "5m"}, "log-driver": "json-file"}
    assert (running_containers(), host_exec(HOST, "systemctl", "show", "-p", "ExecMainPID", "docker").stdout) == (before, engine)
    # An engine is there: docker.io, which would replace another engine (docker-ce), is not asked for.
    apt_task = next(line for line in result.output.splitlines() if "Install the Debian packages of a target - " in line)
    assert "docker.io" not in apt_task and "python3-requests" in apt_task, apt_task
    served = host_exec(HOST, "curl", "-fsS", "-D-", "-o", "/dev/null", "http://127.0.0.1/").stdout
    assert "X-Served-By: blue/1.0.0" in served
