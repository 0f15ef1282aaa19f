"""Services we did not write, side by side on one host, with only the documented variables
(examples/*/rollout.yml): a static site on Debian's lighttpd (no version header of its own, its
own port and health path, served over TLS) and a counter whose data lives in a redis accessory.
Deploy, canary and rollback under load on both at once with 0 failed requests; the accessory's
data survives deploy, rollback and a restore; bad definitions are refused before any change;
the seed 001 layout (three agents on one host) deploys from its example files."""
import concurrent.futures
import json
import os
import re
import ssl
import urllib.request

import pytest
import yaml

from support.load import Load
from support.playbook import host_exec, ledger, must, run_playbook, simulated_hosts

PREFIX = "nr-e2e-own"
HOST = PREFIX + "-1"
BASE_PORT, TLS_BASE_PORT = 19300, 19340
HTTP, HTTPS = "http://127.0.0.1:%d" % (BASE_PORT + 1), "https://127.0.0.1:%d" % (TLS_BASE_PORT + 1)
STATIC, COUNTER = "examples/static-site/rollout.yml", "examples/counter/rollout.yml"
OWN_COMPOSE = "examples/own-compose/rollout.yml"
SEED_001 = ["examples/seed-001/agent-maintenance-%s.yml" % n for n in ("01", "02", "03")]
IMAGES = ["static-site:1.0.0", "static-site:1.1.0", "counter:1.0.0", "counter:1.1.0", "redis:7.0",
          "agent-loop:1.0.0", "agent-loop:1.1.0"]
FILES = os.path.join(os.path.dirname(__file__), "files")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(FILES)))
with open(os.path.join(ROOT, COUNTER)) as handle:
    COUNTER_ACCESSORIES = yaml.safe_load(handle)["rollout_accessories"]
# Seconds, not minutes: short warm window, short canary steps, no drain pause.
FAST = {"blue_green_smoke_samples": 5, "blue_green_drain_seconds": 0}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    directory = tmp_path_factory.mktemp("own")
    with simulated_hosts(PREFIX, 1, BASE_PORT, directory, images=IMAGES,
                         publish=["%d:443" % TLS_BASE_PORT]) as inventory:
        os.environ["TLS_WORK_DIR"] = str(directory)
        must(run_playbook(os.path.join(FILES, "tls-cert.yml"), inventory, {"tls_name": "static.local"}))
        ca_file = str(directory / "static.local.crt")
        must(run_playbook("blue-green-deploy.yml", inventory, dict(FAST, target_version="1.0.0"), var_files=[STATIC]))
        must(run_playbook("blue-green-deploy.yml", inventory, dict(FAST, target_version="1.0.0"), var_files=[COUNTER]))
        yield {"inventory": inventory, "ca_file": ca_file, "redis_started": redis_started()}


def get(url, host_header, ca_file=None):
    """(status, headers, body) of one GET through nginx on 127.0.0.1, redirects not followed."""
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    if context:
        context.check_hostname = False  # 127.0.0.1 is not the certificate's name; the CA check stays
    request = urllib.request.Request(url, headers={"Host": host_header})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def sh(*cmd):
    """Output of a command on the simulated host."""
    return host_exec(HOST, *cmd).stdout.strip()


def redis_started():
    return sh("docker", "inspect", "-f", "{{.RestartCount}} {{.State.StartedAt}}", "counter-accessories-redis-1")


def count(name):
    return json.loads(get("%s/count/%s" % (HTTP, name), "counter.local")[2])["count"]


def loads(ca_file):
    """Load on both services at once: the static site over TLS, the counter writing to redis. The
    caller stops it; the bound is far above what the playbooks take, so that a slow machine never
    leaves a canary step without traffic (it did once at 240 s: an inconclusive step)."""
    return [Load(HTTPS + "/", rate_per_s=40, max_seconds=600, host_header="static.local", ca_file=ca_file).start(),
            Load(HTTP + "/hit/load", rate_per_s=40, max_seconds=600, host_header="counter.local").start()]


def stop(running):
    summaries = [load.stop() for load in running]
    print("load summaries: %s" % summaries)
    return summaries


def test_nginx_says_which_colour_and_version_served_each_service(host):
    status, headers, body = get(HTTPS + "/", "static.local", host["ca_file"])
    assert status == 200 and "static site 1.0.0" in body and headers["X-Served-By"] == "blue/1.0.0"
    assert "X-App-Version" not in headers  # lighttpd says nothing of a version: nginx does
    status, headers, _body = get(HTTP + "/", "static.local")
    assert status == 301 and headers["Location"] == "https://static.local/"
    # The counter's / redirects (as many apps' / goes to a login page): its smoke check and the
    # verification through nginx sample / and take the redirect as an answer.
    status, headers, _body = get(HTTP + "/", "counter.local")
    assert status == 302 and headers["Location"] == "/about" and headers["X-Served-By"] == "blue/1.0.0"
    status, headers, body = get(HTTP + "/about", "counter.local")
    assert status == 200 and headers["X-Served-By"] == "blue/1.0.0" and json.loads(body)["service"] == "counter"
    record = json.loads(sh("tail", "-n", "1", "/var/log/nginx/counter.access.json"))
    assert (record["colour"], record["version"], record["service"]) == ("blue", "1.0.0", "counter")
    ports = dict((s, json.loads(sh("cat", "/var/lib/nextgen-rollout/%s/claims.json" % s))["ports"])
                 for s in ("static-site", "counter"))
    assert len(set(ports["static-site"].values()) | set(ports["counter"].values())) == 4, ports
    limits = sh("docker", "inspect", "-f", "{{.HostConfig.Memory}}", "static-site-blue-app-1")
    assert int(limits) == 128 * 1024 * 1024


def test_deploy_canary_and_rollback_under_load_on_both_services_fail_no_request(host):
    inventory = host["inventory"]
    for _hit in range(5):
        get(HTTP + "/hit/keep", "counter.local")
    assert count("keep") == 5
    running = loads(host["ca_file"])
    try:
        must(run_playbook("blue-green-deploy.yml", inventory, dict(FAST, target_version="1.1.0"), var_files=[STATIC]))
        canary = dict(FAST, target_version="1.1.0", rollout_strategy="canary", canary_interval=2, canary_max_extensions=1,
                      canary_steps=[{"share": 50, "pause": 6}, {"share": 100, "pause": 0}], canary_hash_key="$request_id",
                      canary_policy={"min_requests": 10, "rules": {"error_rate": {"for": "4s"}}})
        must(run_playbook("blue-green-deploy.yml", inventory, canary, var_files=[COUNTER]))
        must(run_playbook("rollback.yml", inventory, dict(FAST, target_version="1.0.0"), var_files=[COUNTER]))
    finally:
        summaries = stop(running)
    assert [s["failed"] for s in summaries] == [0, 0], summaries
    assert all(s["requests"] > 100 for s in summaries), summaries
    assert summaries[0]["versions"] == ["1.0.0", "1.1.0"] and summaries[1]["versions"] == ["1.0.0", "1.1.0"]
    steps = [e for e in ledger(HOST, "counter")["history"] if e["action"] == "canary-step"]
    assert [(s["share"], s["result"], s["version"]) for s in steps] == [(50, "promote", "1.1.0"), (100, "promote", "1.1.0")]
    assert get(HTTPS + "/", "static.local", host["ca_file"])[1]["X-Served-By"].endswith("/1.1.0")
    assert get(HTTP + "/", "counter.local")[1]["X-Served-By"].endswith("/1.0.0")
    # The accessory was never restarted, and its data is all there.
    assert count("keep") == 5 and count("load") >= summaries[1]["requests"]
    assert redis_started() == host["redis_started"]


def test_the_operators_own_backup_holds_the_accessory_data_and_a_restore_puts_it_back(host):
    # backup.yml with the service's variables only: the named volumes come from its projects on the host.
    get(HTTP + "/hit/keep", "counter.local")
    taken = must(run_playbook("backup.yml", host["inventory"], FAST, var_files=[COUNTER]))
    backup_keep = count("keep")
    for _hit in range(3):
        get(HTTP + "/hit/keep", "counter.local")
    assert count("keep") == backup_keep + 3
    restored = must(run_playbook("restore.yml", host["inventory"], FAST, var_files=[COUNTER]))
    assert count("keep") == backup_keep
    assert get(HTTP + "/healthz", "counter.local")[0] == 200
    backup = re.search(r"backup summary\n.*\n.*\n\S+ +(\d{8}T\d+Z-\S+)\n", taken.output).group(1)
    assert re.search(r"succeeded +%s .*counter \S+ stays live on (blue|green); put back from %s: volume counter_data"
                     % (backup, backup), restored.output), restored.output[-2500:]


def migrations():
    return sh("docker", "exec", "counter-accessories-redis-1", "redis-cli", "lrange", "migrations", "0", "-1").split()


def test_the_release_command_runs_before_each_new_version_starts_and_not_on_a_rollback(host):
    live = ledger(HOST, "counter")["live"]
    target = "1.1.0" if live["version"] == "1.0.0" else "1.0.0"
    idle = "green" if live["colour"] == "blue" else "blue"
    # A run killed while the command ran leaves its one-off container running, holding the name.
    sh("docker", "run", "-d", "--name", "counter-%s-release" % idle, "counter:1.0.0")
    before = migrations()
    must(run_playbook("blue-green-deploy.yml", host["inventory"], dict(FAST, target_version=target), var_files=[COUNTER]))
    assert migrations() == before + [target]
    status, headers, body = get(HTTP + "/about", "counter.local")
    # The new version's process found the schema its release command made when it started.
    assert (status, headers["X-Served-By"], json.loads(body)["schema_at_start"]) == (200, "%s/%s" % (idle, target), target)
    release = ledger(HOST, "counter")["history"][-1]
    assert (release["action"], release["result"], release["details"]["release_command"]["command"]) == (
        "deploy", "succeeded", ["python3", "/opt/counter/migrate.py"])
    assert 0 < release["details"]["release_command"]["elapsed_s"] < 30
    assert not [name for name in sh("docker", "ps", "-a", "--format", "{{.Names}}").split() if name.endswith("-release")]
    must(run_playbook("rollback.yml", host["inventory"], FAST, var_files=[COUNTER]))
    assert get(HTTP + "/about", "counter.local")[1]["X-Served-By"] == "%s/%s" % (live["colour"], live["version"])
    assert migrations() == before + [target]
    # A third version whose release command fails: the warm colour it would replace keeps its version and files,
    # so a rollback to it is still one switch.
    sh("docker", "tag", "counter:1.1.0", "counter:1.2.0")
    failed = run_playbook("blue-green-deploy.yml", host["inventory"], dict(
        FAST, target_version="1.2.0", rollout_env={"COUNTER_MIGRATION_FAIL": "disk full"}), var_files=[COUNTER])
    assert failed.rc != 0
    assert "%s keeps serving every client on %s; %s stays warm on %s." % (live["version"], live["colour"], target, idle) in \
        " ".join(failed.output.split()), failed.output[-2500:]
    kept = ledger(HOST, "counter")["colours"][idle]
    assert (kept["state"], kept["version"]) == ("warm", target) and kept.get("retire_at")
    assert "image: counter:%s" % target in sh("cat", "/opt/nextgen-rollout/counter/%s.compose.yml" % idle)
    assert not [name for name in sh("ls", "/opt/nextgen-rollout/counter").split() if name.endswith(".previous")]
    back = must(run_playbook("rollback.yml", host["inventory"], dict(FAST, target_version=target), var_files=[COUNTER]))
    assert "counter %s is live on %s (%s kept warm on %s)" % (target, idle, live["version"], live["colour"]) in \
        " ".join(back.output.split()), back.output[-2500:]
    must(run_playbook("rollback.yml", host["inventory"], dict(FAST, target_version=live["version"]), var_files=[COUNTER]))
    assert get(HTTP + "/about", "counter.local")[1]["X-Served-By"] == "%s/%s" % (live["colour"], live["version"])


@pytest.mark.parametrize("case, extra, message", [
    ("a port another service claims", {"rollout_service": "clash", "rollout_server_name": "clash.local",
                                       "rollout_ports": "counter-blue"},
     "rollout_ports.blue = {port} is already taken by the blue colour of service counter"),
    ("an unknown compose key", {"rollout_compose": {"comand": ["serve"]}},
     "rollout_compose has 'comand', which is not a compose service key"),
    ("a TLS key that does not exist", {"rollout_tls_certificate": "/etc/nginx/tls/static.local.crt",
                                       "rollout_tls_key": "/etc/nginx/tls/missing.key"},
     "rollout_tls_key = /etc/nginx/tls/missing.key does not exist"),
    ("two services on one server name", {"rollout_service": "twin"},
     # A deploy of a new service: no "was never deployed on this host" hint, which is for a rollback of a misspelt name.
     "nginx already serves service counter on port 80 with server_name 'counter.local': give this service its own"
     " rollout_server_name or rollout_listen_port. Nothing was changed."),
    ("a readiness path that is not a path", {"rollout_ready_path": "healthz"},
     "rollout_ready_path 'healthz' must be a path starting with / (empty for none), with no spaces"),
    ("a release command of the wrong shape", {"rollout_release_command": ["python3", ""], "rollout_release_command_timeout": 0},
     "(1) rollout_release_command is ['python3', '']: give a command line (a string) or its arguments (a list of non-empty strings),"
     " such as [python3, manage.py, migrate]; '' for none. (2) rollout_release_command_timeout is 0: use more than 0 s. Nothing was changed."),
    ("a compose template that is not there", {"rollout_compose_template": "examples/counter/compose.yml.j2"},
     "rollout_compose_template examples/counter/compose.yml.j2 is not a file on the controller (looked for"),
    # Pulled by the pre-checks with the app's image; never here, so that nothing is asked of a registry.
    ("an accessory image that is not on the host", {"rollout_image_pull": "never", "rollout_accessories": dict(
        COUNTER_ACCESSORIES, queue={"image": "nextgen-missing/queue:1.0"})},
     "nextgen-missing/queue:1.0 not on the host, and rollout_image_pull is never"),
    ("a compose template that does not render", {"rollout_compose_template": "tests/e2e/files/undefined-variable-compose.yml.j2"},
     "does not render: 'counter_database_url' is undefined (it is rendered with target_version 1.1.0"),
    ("a volume key compose does not know", {"rollout_volumes": {"data": {"driver_options": {}}}},
     "rollout_volumes.data has 'driver_options', which is not a volume key (driver, driver_opts, external, labels, name)"),
    # redis's volume was made by the first deploy without options: docker would keep it as it is.
    ("a volume definition changed since the volume was made", {"rollout_volumes": {"data": {
        "driver": "local", "driver_opts": {"type": "none", "o": "bind", "device": "/srv/counter"}}}},
     "volume counter_data was made with driver local and no options, and the service's definition now gives it driver"
     " local with options device=/srv/counter, o=bind, type=none, on nr-e2e-own-1: docker never changes a volume once made"),
    ("an accessory that never becomes healthy", {"rollout_accessories": dict(COUNTER_ACCESSORIES, queue={
        "image": "redis:7.0", "healthcheck": {"test": ["CMD", "false"], "interval": "1s", "retries": 1}}),
        "rollout_accessory_timeout": 5},
     "did not all become healthy within 5 s: compose project counter-accessories is not healthy: container counter-accessories-queue-1"),
])
def test_a_bad_definition_is_refused_before_anything_changes(host, case, extra, message):
    claims = json.loads(sh("cat", "/var/lib/nextgen-rollout/counter/claims.json"))
    if extra.get("rollout_ports") == "counter-blue":
        extra = dict(extra, rollout_ports={"blue": claims["ports"]["blue"], "green": 8999})
    before = {"ledger": ledger(HOST, "counter")["live"], "site": sh("cat", "/etc/nginx/conf.d/counter.conf"),
              "route": sh("cat", "/etc/nginx/nextgen-rollout/routes/counter.json"),
              "containers": sh("docker", "ps", "--format", "{{.Names}} {{.Image}}")}
    result = run_playbook("blue-green-deploy.yml", host["inventory"], dict(FAST, target_version="1.1.0", **extra),
                          var_files=[COUNTER])
    assert result.rc != 0, case
    assert message.format(port=claims["ports"]["blue"]) in " ".join(result.output.split()), result.output[-2500:]
    assert "Nothing was changed" in result.output or "no traffic moved" in result.output
    assert ledger(HOST, "counter")["live"] == before["ledger"]
    assert sh("cat", "/etc/nginx/conf.d/counter.conf") == before["site"]
    assert sh("cat", "/etc/nginx/nextgen-rollout/routes/counter.json") == before["route"]
    containers = sh("docker", "ps", "--format", "{{.Names}} {{.Image}}")
    # An accessory the refused run created is removed with it.
    assert sorted(containers.splitlines()) == sorted(before["containers"].splitlines())
    assert get(HTTP + "/about", "counter.local")[0] == 200


@pytest.mark.parametrize("case, extra, fragments", [
    # The default timeout (60 s) is not waited: the path answers 404 to every check for 2 s.
    ("a readiness path the service does not have", {"rollout_ready_path": "/ready", "rollout_ready_not_found_timeout": 2},
     ["/ready answered 404 Not Found to every check for 2 s (", "the service answers, and this path is not one of its own."
      " rollout_ready_path (/ready; '' for none) and rollout_smoke_path (/) are the paths probed on the colour's port,"
      " rollout_container_port (9000) the port the service must listen on in its container, rollout_ready_timeout (60 s)"
      " the time it has"]),
    ("a readiness path the service does not have, waited for", {"rollout_ready_path": "/ready", "rollout_ready_timeout": 3,
                                                                "rollout_ready_not_found_timeout": 0},
     ["/ready not healthy within 3 s (", "status 404, expected 2xx or 3xx. rollout_ready_path (/ready; '' for none)"]),
    # nginx passes /shop/ on as it is: the smoke check asks the colour for it before any traffic moves.
    ("a path prefix the service does not serve", {"rollout_path_prefix": "/shop"},
     ["/shop/ not healthy: 5/5 answers failed: status 404, expected 2xx or 3xx", "(the smoke path under rollout_path_prefix /shop,"
      " as nginx passes it on)"]),
    ("a container that exits as it starts", {"rollout_ready_timeout": 3, "rollout_compose": {
        "command": ["python3", "-c", "import sys; sys.exit('no DATABASE_URL given')"]}},
     ["; container counter-", "its last output: no DATABASE_URL given"]),
    # Its output could hold a secret: with no lines asked for, the message has its state only.
    ("a container that exits as it starts, its output kept out", {
        "rollout_ready_timeout": 3, "rollout_failure_log_lines": 0,
        "rollout_compose": {"command": ["python3", "-c", "import sys; sys.exit('TOKEN=s3' + 'cret')"]}},
     ["; container counter-", "exited with code 1", "!s3cret"]),
    # The release command (the example's migrate.py) fails, or never ends: the colour never starts.
    ("a release command that fails", {"rollout_env": {"COUNTER_MIGRATION_FAIL": "column users.email already exists"}},
     ['at "Run the release command in a one-off container - 1.1.0": the release command (rollout_release_command) python3'
      " /opt/counter/migrate.py, run in a one-off container of 1.1.0 before it started, exited with code 1; its last output:"
      " migration to schema 1.1.0 failed: column users.email already exists."]),
    ("a release command that does not end", {
        "rollout_release_command": ["python3", "-c", "import threading; threading.Event().wait()"],
        "rollout_release_command_timeout": 2},
     ["the release command (rollout_release_command) python3 -c 'import threading; threading.Event().wait()', run in a one-off"
      " container of"
      " 1.1.0 before it started, did not finish within rollout_release_command_timeout (2 s); its container was removed."]),
    ("a release command that fails, its output kept out", {
        "rollout_failure_log_lines": 0, "rollout_release_command": ["python3", "-c", "import sys; sys.exit('TOKEN=s3' + 'cret')"]},
     ["run in a one-off container of 1.1.0 before it started, exited with code 1.", "!s3cret"]),
])
def test_a_colour_that_does_not_become_ready_is_removed_and_the_message_says_why(host, case, extra, fragments):
    live = ledger(HOST, "counter")["live"]
    site, route = sh("cat", "/etc/nginx/conf.d/counter.conf"), sh("cat", "/etc/nginx/nextgen-rollout/routes/counter.json")
    result = run_playbook("blue-green-deploy.yml", host["inventory"], dict(FAST, target_version="1.1.0", **extra),
                          var_files=[COUNTER])
    assert result.rc != 0, case
    said = " ".join(result.output.split())
    for fragment in fragments:
        if fragment.startswith("!"):
            assert fragment[1:] not in result.output, result.output[-2500:]
        else:
            assert fragment in said, result.output[-2500:]
    assert "%s keeps serving every client on %s" % (live["version"], live["colour"]) in said
    assert ledger(HOST, "counter")["live"] == live
    assert (sh("cat", "/etc/nginx/conf.d/counter.conf"), sh("cat", "/etc/nginx/nextgen-rollout/routes/counter.json")) == (site, route)
    running = sh("docker", "ps", "-a", "--format", "{{.Names}}").split()
    assert "counter-%s-app-1" % live["colour"] in running
    assert "counter-%s-app-1" % ("green" if live["colour"] == "blue" else "blue") not in running
    assert not [name for name in running if name.endswith("-release")]
    assert get(HTTP + "/about", "counter.local")[1]["X-Served-By"] == "%s/%s" % (live["colour"], live["version"])


def test_a_service_from_its_own_compose_file_runs_its_sidecar_in_each_colour_on_the_volume_it_defines(host):
    # The example as it is: the template found from the run's directory, its volume in memory.
    scratch = {"rollout_service": "gallery-scratch", "rollout_server_name": "scratch.local",
               "rollout_env": {"UPLOAD_NAME_PATTERN": "upload-$id ${HOME}"}}
    first = must(run_playbook("blue-green-deploy.yml", host["inventory"], dict(FAST, target_version="1.0.0", **scratch),
                              var_files=[OWN_COMPOSE]))
    assert "already exists but was" not in first.output  # compose made no volume of its own
    status, headers, body = get(HTTP + "/uploads/latest.txt", "scratch.local")
    assert (status, body, headers["X-Served-By"]) == (200, "published by 1.0.0\n", "blue/1.0.0")
    assert "tmpfs /uploads tmpfs rw" in sh("docker", "exec", "gallery-scratch-blue-publisher-1", "cat", "/proc/mounts")
    # rollout_env values reach the container as written: compose does not expand the $.
    assert sh("docker", "exec", "gallery-scratch-blue-app-1", "printenv", "UPLOAD_NAME_PATTERN") == "upload-$id ${HOME}"
    # With a directory of the host: the data is there, not in a volume docker made on its own (a backup
    # taken before the first start used to make a plain one, which compose then kept).
    uploads = "/srv/gallery-uploads"
    sh("install", "-d", "-o", "33", "-g", "33", uploads)
    for version, colour in (("1.0.0", "blue"), ("1.1.0", "green")):
        result = must(run_playbook("blue-green-deploy.yml", host["inventory"],
                                   dict(FAST, target_version=version, gallery_uploads_dir=uploads), var_files=[OWN_COMPOSE]))
        assert "already exists but was" not in result.output, version
        status, headers, body = get(HTTP + "/uploads/latest.txt", "gallery.local")
        assert (status, body, headers["X-Served-By"]) == (200, "published by %s\n" % version, "%s/%s" % (colour, version))
    options = json.loads(sh("docker", "volume", "inspect", "-f", "{{json .Options}}", "gallery_uploads"))
    assert options == {"type": "none", "o": "bind", "device": uploads}
    assert sh("cat", uploads + "/latest.txt") == "published by 1.1.0"
    # A restore renders the template for the version the backup recorded, and puts the volume back.
    restored = must(run_playbook("restore.yml", host["inventory"], dict(FAST, gallery_uploads_dir=uploads), var_files=[OWN_COMPOSE]))
    assert "gallery 1.0.0 is live on blue" in restored.output, restored.output[-2500:]
    assert get(HTTP + "/uploads/latest.txt", "gallery.local")[2] == "published by 1.0.0\n"
    assert sh("cat", uploads + "/latest.txt") == "published by 1.0.0"
    running = set(sh("docker", "ps", "--format", "{{.Names}}").split())
    assert {"gallery-blue-app-1", "gallery-blue-publisher-1", "gallery-green-app-1", "gallery-green-publisher-1"} <= running


def test_rollout_volumes_put_an_accessorys_data_on_a_directory_of_the_host(host):
    data = "/srv/counter-disk-redis"
    sh("install", "-d", "-m", "0777", data)  # the image's redis user writes there
    disk = {"rollout_service": "counter-disk", "rollout_server_name": "disk.local",
            "rollout_volumes": {"data": {"driver": "local", "driver_opts": {"type": "none", "o": "bind", "device": data}}}}
    result = must(run_playbook("blue-green-deploy.yml", host["inventory"], dict(FAST, target_version="1.0.0", **disk),
                               var_files=[COUNTER]))
    assert "already exists but was" not in result.output
    for _hit in range(3):
        get(HTTP + "/hit/disk", "disk.local")
    assert json.loads(get(HTTP + "/count/disk", "disk.local")[2])["count"] == 3
    options = json.loads(sh("docker", "volume", "inspect", "-f", "{{json .Options}}", "counter-disk_data"))
    assert options == {"type": "none", "o": "bind", "device": data}
    assert "appendonlydir" in sh("ls", data)  # redis's append-only file is on the host's directory


def test_an_app_version_header_that_disagrees_stops_the_deploy(host):
    # lighttpd's Server header is not a version: asked to check it, the smoke check refuses the colour.
    live = ledger(HOST, "static-site")["live"]
    result = run_playbook("blue-green-deploy.yml", host["inventory"],
                          dict(FAST, target_version="1.0.0", rollout_app_version_header="Server"), var_files=[STATIC])
    assert result.rc != 0 and "header server is 'lighttpd/" in result.output and "expected '1.0.0'" in result.output
    assert ledger(HOST, "static-site")["live"] == live
    assert get(HTTPS + "/", "static.local", host["ca_file"])[1]["X-Served-By"] == "%s/%s" % (live["colour"], live["version"])


def test_the_seed_001_layout_deploys_from_its_example_files(host):
    # The three agents' first deploys run at the same time: each takes its own ports, site and lock.
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda path: run_playbook(
            "blue-green-deploy.yml", host["inventory"], dict(FAST, target_version="1.0.0"), var_files=[path]), SEED_001))
    for result in results:
        must(result)
    claimed = [json.loads(sh("cat", "/var/lib/nextgen-rollout/agent-maintenance-%s/claims.json" % n))["ports"]
               for n in ("01", "02", "03")]
    assert len(set(p for ports in claimed for p in ports.values())) == 6, claimed
    site_01 = sh("cat", "/etc/nginx/conf.d/agent-maintenance-01.conf")
    must(run_playbook("blue-green-deploy.yml", host["inventory"], dict(FAST, target_version="1.1.0"), var_files=[SEED_001[1]]))
    for number, version in (("01", "1.0.0"), ("02", "1.1.0"), ("03", "1.0.0")):
        status, headers, body = get(HTTP + "/", "agent-%s.local" % number)
        assert status == 200 and headers["X-Served-By"].endswith("/" + version), (number, headers)
        assert headers["X-App-Version"] == version
    assert sh("cat", "/etc/nginx/conf.d/agent-maintenance-01.conf") == site_01
    # The other services were not touched either.
    assert get(HTTP + "/about", "counter.local")[0] == 200 and get(HTTPS + "/", "static.local", host["ca_file"])[0] == 200
    memory = sh("docker", "inspect", "-f", "{{.HostConfig.Memory}}", "agent-maintenance-02-green-app-1")
    assert int(memory) == 1024 ** 3
