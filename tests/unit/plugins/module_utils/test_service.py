import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._service import (
    container_report, env_file_text, named_volumes, pinned_image, pinned_images, plain_copy, references_to_pull, released_images,
    repository_of, service_projects)


def settings(**overrides):
    base = {"service": "shop", "image_repository": "registry.example/shop", "ports": {"blue": 8101, "green": 8102},
            "container_port": 8080, "memory_limit": "1g", "environment": {"MODE": "prod"}, "service_dir": "/opt/x/shop",
            "project": {"services": {"app": {"command": ["serve"], "volumes": ["data:/var/lib/shop", "/etc/ssl:/ssl:ro"],
                                             "environment": ["LOG=debug"], "healthcheck": {"test": ["CMD", "true"]}}}},
            "accessories": {}}
    base.update(overrides)
    return base


def test_a_colour_gets_the_managed_keys_over_the_operators_definition():
    blue = service_projects(settings(), "2.4.1")["blue"]
    app = blue["services"]["app"]
    assert app["image"] == "registry.example/shop:2.4.1" and app["ports"] == ["127.0.0.1:8101:8080"]
    assert app["command"] == ["serve"] and app["healthcheck"] == {"test": ["CMD", "true"]}
    assert app["environment"] == {"LOG": "debug", "MODE": "prod"}
    assert app["env_file"] == [{"path": "/opt/x/shop/blue.env", "required": False}]
    assert app["mem_limit"] == "1g" and app["restart"] == "unless-stopped"
    assert app["labels"] == {"nextgen.rollout.service": "shop", "nextgen.rollout.colour": "blue",
                             "nextgen.rollout.version": "2.4.1"}
    # the volume is shared by both colours: one docker name per service, created by the collection
    assert blue["volumes"] == {"data": {"name": "shop_data", "external": True}}
    green = service_projects(settings(), "2.4.1")["green"]
    assert green["services"]["app"]["ports"] == ["127.0.0.1:8102:8080"] and green["volumes"] == blue["volumes"]


def test_a_pinned_image_is_what_the_colour_runs():
    pinned = "registry.example/shop@sha256:" + "a" * 64
    app = service_projects(settings(image=pinned), "2.4.1")["green"]["services"]["app"]
    assert app["image"] == pinned and app["labels"]["nextgen.rollout.version"] == "2.4.1"


def test_the_operators_memory_limit_wins():
    project = {"services": {"app": {"deploy": {"resources": {"limits": {"memory": "256m"}}}}}}
    assert "mem_limit" not in service_projects(settings(project=project), "1")["blue"]["services"]["app"]
    project = {"services": {"app": {"mem_limit": "2g"}}}
    assert service_projects(settings(project=project), "1")["blue"]["services"]["app"]["mem_limit"] == "2g"


def test_accessories_have_their_project_network_and_volumes():
    outcome = service_projects(settings(accessories={"redis": {"image": "redis:7", "volumes": ["cache:/data"]}}), "1")
    accessories = outcome["accessories"]
    assert accessories["services"]["redis"]["labels"] == {"nextgen.rollout.accessory-of": "shop"}
    assert accessories["networks"] == {"default": {"name": "shop_accessories"}}
    assert accessories["volumes"] == {"cache": {"name": "shop_cache"}}
    app = outcome["blue"]["services"]["app"]
    assert app["networks"] == {"default": None, "accessories": None}
    assert outcome["blue"]["networks"] == {"accessories": {"name": "shop_accessories", "external": True}}
    assert outcome["volumes"] == ["shop_cache", "shop_data"]


@pytest.mark.parametrize("overrides, problem", [
    ({"project": {"services": {"app": {"comand": ["x"]}}}}, "rollout_compose has 'comand', which is not a compose service key"),
    ({"project": {"services": {"app": {"image": "x:1"}}}}, "rollout_compose sets 'image', which the collection manages"),
    ({"project": {"services": {"app": {"ports": ["80:80"]}}}}, "use rollout_ports and rollout_container_port"),
    ({"project": {"services": {"web": {}}}}, "must have a compose service named 'app'"),
    ({"accessories": {"redis": {"volumes": []}}}, "rollout_accessories.redis has no image"),
    ({"accessories": {"db": {"image": "pg", "restart_policy": "x"}}}, "rollout_accessories.db has 'restart_policy'"),
    ({"ports": {"blue": 8101, "green": 8101}}, "rollout_ports.blue and rollout_ports.green are both 8101"),
    ({"ports": {"blue": 70000, "green": 8101}}, "rollout_ports.blue = 70000 is not a port"),
    ({"container_port": "http"}, "rollout_container_port = 'http' is not a port"),
    ({"service": "Shop!"}, "rollout_service 'Shop!'"),
])
def test_a_bad_definition_names_the_variable_and_the_value(overrides, problem):
    outcome = service_projects(settings(**overrides), "1")
    assert outcome["blue"] is None and any(problem in p for p in outcome["problems"]), outcome["problems"]


def test_ports_given_as_text_are_ports():
    outcome = service_projects(settings(ports={"blue": "8101", "green": "8102"}, container_port="8080"), "1")
    assert outcome["problems"] == [] and outcome["green"]["services"]["app"]["ports"] == ["127.0.0.1:8102:8080"]


def test_named_volumes_skip_bind_mounts():
    assert named_volumes({"volumes": ["a:/x", "./b:/y", "/c:/z", {"type": "volume", "source": "d", "target": "/w"},
                                      {"type": "bind", "source": "/e", "target": "/v"}, "/anon"]}) == ["a", "d"]


def test_the_projects_never_share_a_container_with_the_operator_definition():
    given = settings(accessories={"db": {"image": "postgres:16", "environment": {"A": "1"}}})
    outcome = service_projects(given, "1.0.0")
    outcome["blue"]["services"]["app"]["command"].append("--debug")
    outcome["accessories"]["services"]["db"]["environment"]["A"] = "2"
    assert given["project"]["services"]["app"]["command"] == ["serve"]
    assert given["accessories"]["db"]["environment"] == {"A": "1"}
    assert "labels" not in given["project"]["services"]["app"]


def test_plain_copy_gives_plain_dicts_and_lists():
    copied = plain_copy({"a": ({"b": [1, 2]},), "c": "x"})
    assert copied == {"a": [{"b": [1, 2]}], "c": "x"} and isinstance(copied["a"], list)


def test_the_env_file_quotes_and_escapes_every_value():
    text = env_file_text({"TOKEN": 'pa$HOME"\\x', "MULTI": "one\nINJECTED=1", "EMPTY": None, "N": 3, "ON": True}, "secrets of shop")
    assert text.splitlines() == ["# secrets of shop", 'EMPTY=""', 'MULTI="one\\nINJECTED=1"', 'N="3"', 'ON="true"',
                                 'TOKEN="pa\\$HOME\\"\\\\x"']


def test_names_that_are_not_variable_names_are_problems_without_their_values():
    problems = service_projects(settings(environment={"GOOD": "1", "BAD NAME": "x"},
                                         secret_env_names=["TOKEN", "2FA", "A=B"]), "1")["problems"]
    assert problems == [
        "rollout_env: 'BAD NAME' is not a variable name (letters, digits, '_', '.' or '-', not starting with a digit)",
        "rollout_secret_env: '2FA' is not a variable name (letters, digits, '_', '.' or '-', not starting with a digit)",
        "rollout_secret_env: 'A=B' is not a variable name (letters, digits, '_', '.' or '-', not starting with a digit)"]


def inspected(status="running", exit_code=0, health=None, restarts=0, oom=False):
    state = {"Status": status, "Running": status == "running", "Restarting": status == "restarting",
             "ExitCode": exit_code, "OOMKilled": oom}
    if health:
        state["Health"] = health
    return {"Name": "/shop-green-app-1", "State": state, "RestartCount": restarts}


def test_container_report_names_the_healthcheck_that_fails_and_the_last_output():
    health = {"Status": "unhealthy", "FailingStreak": 3, "Log": [
        {"ExitCode": 1, "Output": "old"},
        {"ExitCode": 126, "Output": 'OCI runtime exec failed: exec: "wget":\nexecutable file not found in $PATH\n'}]}
    report = container_report(inspected(health=health), "booting\n\nlistening on 5000\n")
    assert report == ('container shop-green-app-1 is running; healthcheck unhealthy, its last check exited 126: '
                      'OCI runtime exec failed: exec: "wget": executable file not found in $PATH; '
                      'its last output: booting | listening on 5000')


def test_container_report_says_how_the_container_ended():
    crashed = container_report(inspected("restarting", 1, restarts=2), ["starting\nstarting\n", "no redis\nno redis\n"])
    assert crashed == ("container shop-green-app-1 exited with code 1 (restarted 2 times); "
                       "its last output: starting (2 times) | no redis (2 times)")
    assert container_report(inspected("exited", 137, oom=True), "").startswith(
        "container shop-green-app-1 was killed for want of memory (rollout_memory_limit); it wrote nothing")
    assert container_report(inspected(health={"Status": "healthy", "Log": []}), "ok") == (
        "container shop-green-app-1 is running; its last output: ok")
    assert container_report(None, "anything") == ""


def test_container_report_keeps_the_last_lines_cut_to_width():
    report = container_report(inspected(), "\n".join("line %d %s" % (n, "x" * 300) for n in range(30)), log_lines=2, width=20)
    assert report == "container shop-green-app-1 is running; its last output: line 28 xxxxxxxxx... | line 29 xxxxxxxxx..."
    assert container_report(inspected(), ["out\n", "", "err\n"]) == "container shop-green-app-1 is running; its last output: out | err"
    # 0 lines: a service that may print a secret as it starts keeps its output out of messages
    assert container_report(inspected("restarting", 1, restarts=2), "TOKEN=s3cret\n", log_lines=0) == (
        "container shop-green-app-1 exited with code 1 (restarted 2 times)")


def test_probe_paths_that_are_not_url_paths_are_problems():
    problems = service_projects(settings(probe_paths={"rollout_ready_path": "login", "rollout_smoke_path": "/a b"}), "1")["problems"]
    assert problems == ["rollout_ready_path 'login' must be a path starting with / (empty for none), with no spaces",
                        "rollout_smoke_path '/a b' must be a path starting with / (empty for none), with no spaces"]
    fine = {"rollout_ready_path": "", "rollout_smoke_path": "/health?full=1"}
    assert service_projects(settings(probe_paths=fine), "1")["problems"] == []


def test_environment_values_reach_the_container_as_written():
    app = service_projects(settings(environment={"DEBUG": True, "WORKERS": 4, "EMPTY": None, "PATTERN": "p$word ${HOME}"}),
                           "1")["blue"]["services"]["app"]
    # compose reads $$ as one $: the container gets "p$word ${HOME}", not "p " and the host's home
    assert app["environment"] == {"LOG": "debug", "DEBUG": "true", "WORKERS": 4, "EMPTY": "", "PATTERN": "p$$word $${HOME}"}


def test_the_shared_volumes_are_created_as_the_operators_project_says_and_external_to_each_colour():
    project = {"services": {"app": {"volumes": ["files:/srv/files", "own:/srv/own", "cache:/cache", "theirs:/t"]},
                            "sidecar": {"image": "tool:1", "volumes": ["files:/files"]}},
               "volumes": {"files": {"driver": "local", "driver_opts": {"type": "none", "o": "bind", "device": "/srv/x"},
                                     "labels": ["team=web"]},
                           "own": {"external": True, "name": "preexisting"}, "theirs": {"external": True}}}
    outcome = service_projects(settings(project=project), "1.0.0")
    assert outcome["colour_volumes"] == [
        {"name": "shop_cache", "driver": "local", "driver_options": {}, "labels": {"nextgen.rollout.service": "shop"}},
        {"name": "shop_files", "driver": "local", "driver_options": {"type": "none", "o": "bind", "device": "/srv/x"},
         "labels": {"team": "web", "nextgen.rollout.service": "shop"}}]
    for colour in ("blue", "green"):
        assert outcome[colour]["volumes"] == {"files": {"name": "shop_files", "external": True},
                                              "cache": {"name": "shop_cache", "external": True},
                                              "own": {"external": True, "name": "preexisting"},
                                              "theirs": {"external": True, "name": "theirs"}}
    assert outcome["volumes"] == ["preexisting", "shop_cache", "shop_files", "theirs"]
    assert outcome["other_images"] == ["tool:1"]
    assert project["volumes"]["files"]["driver"] == "local"  # the operator's project is not changed


def test_a_sidecar_needs_an_image_and_publishes_no_port():
    project = {"services": {"app": {}, "worker": {"command": ["work"]}, "proxy": {"image": "px:1", "ports": ["9000:9000"]}}}
    problems = service_projects(settings(project=project), "1.0.0")["problems"]
    assert problems == [
        "services.proxy of rollout_compose_template sets 'ports', which the collection manages: use expose: both colours run"
        " the service, so a port published on the host would be taken twice; or rollout_accessories, for one copy both share",
        "services.worker of rollout_compose_template has no image: give the image reference (repository:tag) of the service"]
    fine = dict(project, services=dict(project["services"], worker={"image": "w:2"}, proxy={"image": "px:1", "expose": [9000]}))
    outcome = service_projects(settings(project=fine, accessories={"redis": {"image": "redis:7"}}), "1.0.0")
    assert outcome["problems"] == [] and outcome["other_images"] == ["px:1", "redis:7", "w:2"]
    assert outcome["colour_images"] == ["px:1", "w:2"]


def test_the_other_services_run_their_pinned_images_and_the_accessories_their_own():
    project = {"services": {"app": {}, "proxy": {"image": "px:1", "expose": [9000]}, "worker": {"image": "w:2"}}}
    pins = {"px:1": "px@sha256:aa", "redis:7": "redis@sha256:bb"}
    outcome = service_projects(settings(project=project, accessories={"redis": {"image": "redis:7"}}, pinned_images=pins,
                                        image="registry.example/shop@sha256:cc"), "1.0.0")
    for colour in ("blue", "green"):
        services = outcome[colour]["services"]
        assert (services["app"]["image"], services["proxy"]["image"], services["worker"]["image"]) == (
            "registry.example/shop@sha256:cc", "px@sha256:aa", "w:2")
    assert outcome["accessories"]["services"]["redis"]["image"] == "redis:7"  # shared by every release: not pinned
    assert outcome["colour_images"] == ["px:1", "w:2"] and project["services"]["proxy"]["image"] == "px:1"


@pytest.mark.parametrize("reference, repository", [
    ("redis:7.0", "redis"), ("docker.io/library/redis:7.0", "redis"), ("index.docker.io/library/redis", "redis"),
    ("docker.io/grafana/loki:3", "grafana/loki"), ("registry.test:5000/team/app:1.0", "registry.test:5000/team/app"),
    ("localhost:5000/app", "localhost:5000/app"), ("app@sha256:abc", "app"), ("reg:5000/a/b:1@sha256:abc", "reg:5000/a/b"),
])
def test_the_repository_of_a_reference_is_named_as_docker_names_it_in_its_digests(reference, repository):
    assert repository_of(reference) == repository


def test_a_reference_is_pinned_to_the_digest_of_its_own_repository():
    image = {"RepoDigests": ["mirror.test:5000/ops/redis@sha256:11", "redis@sha256:22"]}
    assert pinned_image(image, "docker.io/library/redis:7.0") == "redis@sha256:22"
    assert pinned_image(image, "mirror.test:5000/ops/redis:7.0") == "mirror.test:5000/ops/redis@sha256:11"
    # already a digest; built or loaded on the host (no digest); not on the host: as it is
    assert pinned_image(image, "redis@sha256:33") == "redis@sha256:33"
    assert pinned_image({"RepoDigests": []}, "tool:1") == "tool:1" and pinned_image({}, "tool:1") == "tool:1"
    assert pinned_image(None, "tool:1") == "tool:1" and pinned_image(image, "other:1") == "other:1"


def test_the_images_a_loop_pulled_or_read_are_pinned_under_the_references_the_project_names():
    pulled = [{"item": "px@sha256:aa", "image": {"RepoDigests": ["px@sha256:aa"]}},
              {"item": "w:2", "image": {"RepoDigests": ["w@sha256:dd"]}}, {"item": "t:1", "image": None}]
    assert pinned_images(pulled, ["px:1", "w:2", "t:1"]) == {"px:1": "px@sha256:aa", "w:2": "w@sha256:dd", "t:1": "t:1"}
    read = [{"item": "w:2", "images": [{"RepoDigests": ["w@sha256:dd"]}]}, {"item": "t:1", "images": []}]
    assert pinned_images(read, ["w:2", "t:1"]) == {"w:2": "w@sha256:dd", "t:1": "t:1"}
    assert pinned_images(None, ["w:2"]) == {}


def test_what_an_earlier_release_ran_is_pulled_by_its_digest():
    recorded = {"px:1": "px@sha256:aa", "w:2": "w:2"}
    assert references_to_pull(["px:1", "w:2", "redis:7"], recorded) == ["px@sha256:aa", "w:2", "redis:7"]
    assert references_to_pull(["px:1"], None) == ["px:1"]


def test_the_images_a_version_ran_are_those_its_last_release_recorded():
    history = [
        {"version": "1.0.0", "details": {"image": "reg:5000/shop@sha256:01", "colour_images": {"px:1": "px@sha256:aa"}}},
        {"version": "1.1.0", "details": {"image": "reg:5000/shop@sha256:11", "colour_images": {"px:1": "px@sha256:bb"}}},
        {"version": "1.0.0", "action": "rollback", "details": {"image": None, "colour_images": None}},
        {"version": "1.0.0", "details": {"image": "reg:5000/shop@sha256:02", "colour_images": {"px:1": "px@sha256:cc"}}},
        {"version": "1.0.0", "details": {"image": "other/shop@sha256:99"}},
        {"version": "1.0.0"},
    ]
    assert released_images(history, "1.0.0", "reg:5000/shop") == {
        "image": "reg:5000/shop@sha256:02", "colour_images": {"px:1": "px@sha256:cc"}}
    assert released_images(history, "1.1.0", "reg:5000/shop") == {
        "image": "reg:5000/shop@sha256:11", "colour_images": {"px:1": "px@sha256:bb"}}
    # A release that ran no other service records {}: the latest record stands, not an older one.
    assert released_images(history + [{"version": "1.1.0", "details": {"colour_images": {}}}], "1.1.0", "reg:5000/shop")[
        "colour_images"] == {}
    assert released_images([], "1.0.0", "shop") == released_images(None, "2.0.0", "shop") == {"image": "", "colour_images": {}}


def test_rollout_volumes_give_the_driver_of_the_named_volumes_each_project_mounts():
    bind = {"driver": "local", "driver_opts": {"type": "none", "o": "bind", "device": "/srv/pg"}}
    outcome = service_projects(settings(
        volumes={"pgdata": bind, "data": {"driver_opts": {"type": "tmpfs", "device": "tmpfs"}}, "unused": {"driver": "x"}},
        accessories={"db": {"image": "postgres:16", "volumes": ["pgdata:/var/lib/postgresql/data"]}}), "1")
    assert outcome["problems"] == []
    assert outcome["accessories"]["volumes"] == {"pgdata": dict(bind, name="shop_pgdata")}
    assert outcome["blue"]["volumes"] == {"data": {"name": "shop_data", "external": True}}
    assert outcome["colour_volumes"] == [{"name": "shop_data", "driver": "local", "driver_options": {"type": "tmpfs", "device": "tmpfs"},
                                          "labels": {"nextgen.rollout.service": "shop"}}]
    # What the service's definition makes, which the pre-checks compare with the volumes on the host.
    assert outcome["made_volumes"] == [
        {"name": "shop_data", "driver": "local", "driver_options": {"type": "tmpfs", "device": "tmpfs"}},
        {"name": "shop_pgdata", "driver": "local", "driver_options": {"type": "none", "o": "bind", "device": "/srv/pg"}}]
    # A template's own top-level volume wins over rollout_volumes.
    own = {"services": {"app": {"volumes": ["data:/d"]}}, "volumes": {"data": {"driver": "mine"}}}
    assert service_projects(settings(project=own, volumes={"data": {"driver": "theirs"}}), "1")["colour_volumes"][0]["driver"] == "mine"


@pytest.mark.parametrize("volumes, message", [
    ("data", "rollout_volumes must map volume names to their definitions (driver, driver_opts, labels), got 'data'"),
    ({"data": {"drivr": "local"}}, "rollout_volumes.data has 'drivr', which is not a volume key (driver, driver_opts, external, labels, name)"),
    ({"data": "local"}, "rollout_volumes.data must be a mapping of volume keys, got 'local'"),
    ({"/srv/x": {}}, "rollout_volumes: '/srv/x' is not a volume name (letters, digits, '_', '.' or '-')"),
])
def test_rollout_volumes_that_compose_would_not_take_are_refused(volumes, message):
    assert service_projects(settings(volumes=volumes), "1")["problems"] == [message]
