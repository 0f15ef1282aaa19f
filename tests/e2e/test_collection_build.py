"""The collection builds into a tarball that installs, and ansible-doc renders every plugin from it."""
import glob
import os
import re
import shutil
import subprocess

import pytest
import yaml

from support.playbook import ROOT, ledger, simulated_hosts

BIN = os.path.join(ROOT, ".venv", "bin")
PREFIX, BASE_PORT = "nr-e2e-build", 19800
HOST = PREFIX + "-1"
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))
ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
               for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))
FILTERS = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.yml")))


def run(*cmd, **kwargs):
    result = subprocess.run(list(cmd), capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The collection built into its tarball and installed from it, as from Galaxy: its listing, where it
    is installed, and an environment that finds only that copy (an ansible.cfg of its own, no ANSIBLE_*)."""
    tmp_path = tmp_path_factory.mktemp("built")
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), ROOT)
    tarballs = glob.glob(str(tmp_path / "nextgen-rollout-1.0.0.tar.gz"))
    assert len(tarballs) == 1
    installed = tmp_path / "collections"
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\ncollections_path = %s\n" % installed)
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith("ANSIBLE_"))
    env.update(ANSIBLE_CONFIG=str(config), PAGER="cat", ANSIBLE_NOCOLOR="1")
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "--force",
        "-p", str(installed), tarballs[0], env=env, cwd=str(tmp_path))
    return run("tar", "-tzf", tarballs[0]), installed, env


def test_build_install_and_document_every_plugin(built, tmp_path):
    listing, installed, env = built
    assert "roles/blue_green/meta/argument_specs.yml" in listing and ".venv/" not in listing
    # AWX as code ships with the collection: its data and the playbook that configures a controller.
    assert "awx/controller.yml" in listing and "playbooks/awx-configure.yml" in listing
    assert (installed / "ansible_collections" / "nextgen" / "rollout" / "plugins" / "modules" / "http_probe.py").exists()
    assert MODULES == ["backup", "canary_analysis", "canary_sample", "config_files", "connection_drain", "container_health", "deploy_lock",
                       "fleet_status", "host_check",
                       "http_probe", "nginx_site",
                       "notify", "private_files", "release_command", "release_guard", "release_ledger", "service_claims", "staging_gate",
                       "warm_switch"]
    assert FILTERS == ["awx_artifact_answer", "awx_controller_problems", "awx_survey_spec", "awx_workflow_nodes",
                       "canary_plan", "canary_plan_problem", "canary_share_problem", "canary_steps_problems", "container_report", "controller_file", "env_file",
                       "fleet_canary_verdict", "fleet_rollback_plan",
                       "holder_gone", "images_to_prune",
                       "logging_peer_addresses", "logging_peer_ports", "logging_profile", "logging_service_config", "nginx_site_problems",
                       "pilot_first", "pinned_image", "pinned_images", "references_to_pull",
                       "release_alert_rules", "release_event", "release_freeze_problem", "release_problems", "release_settings_problems",
                       "released_images",
                       "rollback_decision", "rollback_target", "service_projects",
                       "staging_gate_problem", "version_problem", "wave_pilot_size", "wave_plan", "wave_settings_problems", "wave_sizes",
                       "wave_verdict"]
    for lookup in ("controller_run", "controller_dir"):
        doc = run(os.path.join(BIN, "ansible-doc"), "-t", "lookup", "nextgen.rollout." + lookup, env=env, cwd=str(tmp_path))
        assert "EXAMPLES" in doc and "RETURN VALUES" in doc
    doc = run(os.path.join(BIN, "ansible-doc"), "-t", "callback", "nextgen.rollout.summary", env=env, cwd=str(tmp_path))
    assert "At the end of a run, prints what the playbooks reported" in " ".join(doc.split())  # ansible-doc wraps lines
    doc = run(os.path.join(BIN, "ansible-doc"), "-t", "strategy", "nextgen.rollout.mitogen_linear", env=env, cwd=str(tmp_path))
    assert "each host's tasks run in one long-lived Python process on that host" in " ".join(doc.split())
    doc = run(os.path.join(BIN, "ansible-doc"), "-t", "strategy", "nextgen.rollout.linear", env=env, cwd=str(tmp_path))
    assert "a task whose action never reaches the host" in " ".join(doc.split())
    # The retirement timer installs these from the collection onto the hosts.
    for name in ("_files.py", "_lease.py", "_ledger.py", "_retire.py"):
        assert "plugins/module_utils/" + name in listing
    for module in MODULES:
        doc = run(os.path.join(BIN, "ansible-doc"), "-t", "module", "nextgen.rollout." + module, env=env, cwd=str(tmp_path))
        assert "EXAMPLES" in doc and "RETURN VALUES" in doc and str(installed) in doc
    for name in FILTERS:
        doc = run(os.path.join(BIN, "ansible-doc"), "-t", "filter", "nextgen.rollout." + name, env=env, cwd=str(tmp_path))
        assert "EXAMPLES" in doc
    assert ROLES == sorted(os.listdir(os.path.join(ROOT, "roles")))  # every role documents its inputs
    for role in ROLES:
        assert "ENTRY POINT" in run(os.path.join(BIN, "ansible-doc"), "-t", "role", "nextgen.rollout." + role,
                                    env=env, cwd=str(tmp_path))


def test_an_installed_collection_deploys_and_rolls_back_by_the_playbooks_fqcn(built, tmp_path):
    """An operator's own project (as an AWX project would be) with the collection installed from its
    tarball, not a clone: its playbooks import ours by FQCN, and ours run by FQCN from the shell."""
    _listing, installed, env = built
    found = run(os.path.join(BIN, "ansible-galaxy"), "collection", "list", "nextgen.rollout", env=env, cwd=str(tmp_path))
    assert str(installed) in found and ROOT not in found  # the tarball's copy, not this checkout
    project = tmp_path / "project"
    project.mkdir()
    (project / "deploy.yml").write_text("---\n- name: Deploy\n  ansible.builtin.import_playbook: nextgen.rollout.blue_green_deploy\n")
    # Every playbook an operator runs has a name a FQCN allows (no hyphen).
    shipped = [name for name in os.listdir(os.path.join(ROOT, "playbooks")) if name.endswith(".yml")]
    fqcn_names = sorted(name[:-4] for name in shipped if "-" not in name)
    internal = ("check-hosts.yml", "notify-outcome.yml")  # imported by the others, never run alone
    assert sorted(set(name.replace("-", "_")[:-4] for name in shipped if name not in internal)) == fqcn_names
    checked = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "--syntax-check"] + [
        "nextgen.rollout." + name for name in fqcn_names], capture_output=True, text=True, check=False, env=env, cwd=str(project))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The collection's own strategy (Mitogen), as the README advises a project's ansible.cfg to set.
    project_env = dict(env, ANSIBLE_STRATEGY="nextgen.rollout.mitogen_linear")
    with simulated_hosts(PREFIX, 1, BASE_PORT, tmp_path, first_version="1.0.0") as inventory:
        def play(*args):
            done = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", inventory] + list(args), capture_output=True,
                                  text=True, check=False, env=project_env, cwd=str(project))
            assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
            return done.stdout

        out = play("deploy.yml", "-e", "target_version=1.1.0")
        assert ledger(HOST)["live"]["version"] == "1.1.0"
        assert "nextgen.rollout release summary" in out  # the collection's callback, with no setting of the project
        play("nextgen.rollout.rollback")
        colours = ledger(HOST)["colours"]
        assert sorted((f["state"], f["version"]) for f in colours.values()) == [("live", "1.0.0"), ("warm", "1.1.0")]


def test_a_plain_clone_runs_the_playbooks_after_make_controller(tmp_path):
    """An operator's controller: a clone (what git tracks), no make setup, no Ansible on PATH."""
    clone = tmp_path / "clone"
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, tracked):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, name), str(clone / name))
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "MAKE")))
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    playbooks = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))

    def syntax_check(ansible_playbook, cwd, extra_env=None, names=playbooks):
        return subprocess.run([ansible_playbook, "-i", "localhost,", "--syntax-check"] + [
            os.path.join(str(clone), "playbooks", name) for name in names], cwd=str(cwd), capture_output=True,
            text=True, check=False, env=dict(env, **(extra_env or {})))

    before = syntax_check(os.path.join(BIN, "ansible-playbook"), clone, names=["blue-green-deploy.yml"])
    assert before.returncode != 0 and "couldn't resolve module/action 'nextgen.rollout." in before.stdout + before.stderr
    # An ansible-core without the community collections the roles use is named before anything is made.
    core = tmp_path / "core"
    run("python3", "-m", "venv", str(core))
    with open(os.path.join(ROOT, "requirements-dev.txt")) as handle:
        core_pin = [line.strip() for line in handle if line.startswith("ansible-core==")][0]
    run(str(core / "bin" / "pip"), "install", "-q", core_pin)
    refused = subprocess.run(["make", "controller"], cwd=str(clone), capture_output=True, text=True, check=False,
                             env=dict(env, PATH="%s:%s" % (core / "bin", env["PATH"])))
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert "this Ansible has no community.docker, community.crypto, which the roles use" in refused.stderr
    assert "ansible-galaxy collection install -r %s/collections/requirements.yml" % clone in refused.stderr
    assert not (clone / ".collections").exists()
    made = subprocess.run(["make", "controller"], cwd=str(clone), capture_output=True, text=True, check=False, env=env)
    assert made.returncode == 0 and "ready: from %s" % clone in made.stdout, made.stdout + made.stderr
    assert not (clone / "build").exists()  # nothing of the test bench: no image, no key
    ansible_playbook = str(clone / ".venv" / "bin" / "ansible-playbook")
    here = syntax_check(ansible_playbook, clone)
    assert here.returncode == 0, here.stdout + here.stderr
    elsewhere = syntax_check(ansible_playbook, tmp_path, {"ANSIBLE_CONFIG": str(clone / "ansible.cfg")})
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr


def used_collections():
    """Collections named by FQCN in what the collection ships (ansible.builtin and itself aside)."""
    found = set()
    for top in ("roles", "playbooks", "plugins"):
        for directory, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith((".yml", ".yaml", ".py", ".j2")):
                    with open(os.path.join(directory, name)) as handle:
                        found.update(re.findall(r"\b((?:community|ansible)\.[a-z_]+)\.[a-z_0-9]+", handle.read()))
    return found - {"ansible.builtin", "ansible.module_utils", "ansible.errors", "ansible.plugins", "ansible.utils",
                    "ansible.collections", "ansible.executor", "ansible._internal"}  # ansible-core's Python packages, not collections


def test_packaging_declares_what_the_collection_uses_and_the_execution_environment_builds(tmp_path):
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        galaxy = yaml.safe_load(handle)
    with open(os.path.join(ROOT, "collections", "requirements.yml")) as handle:
        requirements = yaml.safe_load(handle)
    used = used_collections()
    assert used == {"community.docker", "community.crypto"}, used
    assert set(galaxy["dependencies"]) == used
    assert set(entry["name"] for entry in requirements["collections"]) == used
    assert galaxy["license"] == ["GPL-3.0-or-later"] and os.path.exists(os.path.join(ROOT, "LICENSE"))
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path / "build"), ROOT)
    listing = run("tar", "-tzf", str(tmp_path / "build" / "nextgen-rollout-1.0.0.tar.gz")).split()
    assert "LICENSE" in listing and "requirements.txt" in listing and "bindep.txt" in listing
    assert not [name for name in listing if name.split("/")[0] in ("molecule", "scripts", "images", "benchmarks")]
    # ansible-builder reads the definition, the collection's runtime needs and the tarball, offline.
    work = tmp_path / "project"
    shutil.copytree(ROOT, str(work), ignore=shutil.ignore_patterns(".venv", ".collections", ".git", "build"))
    os.makedirs(str(work / "build"))
    shutil.copy(str(tmp_path / "build" / "nextgen-rollout-1.0.0.tar.gz"), str(work / "build"))
    run(os.path.join(BIN, "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", str(tmp_path / "ee"),
        cwd=str(work))
    dockerfile = (tmp_path / "ee" / "Dockerfile").read_text()
    assert "ansible-galaxy collection install --offline --no-deps" in dockerfile
    assert (tmp_path / "ee" / "_build" / "collections" / "nextgen-rollout-1.0.0.tar.gz").exists()
    assert "cryptography" in (tmp_path / "ee" / "_build" / "requirements.txt").read_text()
    assert "community.crypto" in (tmp_path / "ee" / "_build" / "requirements.yml").read_text()
