# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""The compose projects of a service: one per colour, and one for its accessories.

The operator describes the service's container with compose keys (``rollout_compose``, or the
service ``app`` of their own template). The collection owns what makes blue-green work and adds
it to each colour: the image (repository and version), the loopback port of the colour, the
labels the reconciliation reads, and a memory limit unless one is given. Named volumes get one
name per service (``<service>_<volume>``), so both colours and the backups see the same data.

Accessories (a database, a cache...) are services both colours share. They live in the project
``<service>-accessories`` and on the network ``<service>_accessories``, which each colour joins,
so a colour reaches an accessory by its name.
"""

from __future__ import annotations

import re

from ansible_collections.nextgen.rollout.plugins.module_utils._backup import VOLUME_NAME

# The service keys of the compose specification (https://github.com/compose-spec/compose-spec).
COMPOSE_SERVICE_KEYS = frozenset("""
annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs
container_name cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares
cpus cpuset credential_spec depends_on deploy develop device_cgroup_rules devices dns dns_opt
dns_search domainname entrypoint env_file environment expose extends external_links extra_hosts
gpus group_add healthcheck hostname image init ipc isolation label_file labels links logging
mac_address mem_limit mem_reservation mem_swappiness memswap_limit network_mode networks
oom_kill_disable oom_score_adj pid pids_limit platform ports post_start pre_stop privileged
profiles pull_policy read_only restart runtime scale secrets security_opt shm_size stdin_open
stop_grace_period stop_signal storage_opt sysctls tmpfs tty ulimits user userns_mode uts volumes
volumes_from working_dir""".split())
# Keys of the app that the collection sets, and the variable to use instead.
MANAGED_APP_KEYS = {
    "image": "rollout_image_repository and target_version",
    "ports": "rollout_ports and rollout_container_port",
    "container_name": "nothing (each colour needs its own container)",
    "build": "an image built beforehand",
    "network_mode": "nothing (each colour publishes its own port)",
}
ACCESSORY_FORBIDDEN_KEYS = {"container_name": "nothing (compose names it)", "build": "an image built beforehand"}
# Each colour runs its own copy of the template's other services (sidecars).
SIDECAR_FORBIDDEN_KEYS = dict(ACCESSORY_FORBIDDEN_KEYS, ports="expose: both colours run the service, so a port "
                              "published on the host would be taken twice; or rollout_accessories, for one copy both share")
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
# The keys of a top-level compose volume that rollout_volumes takes.
VOLUME_KEYS = frozenset(["driver", "driver_opts", "labels", "external", "name"])
APP = "app"
LABEL_SERVICE, LABEL_COLOUR, LABEL_VERSION = "nextgen.rollout.service", "nextgen.rollout.colour", "nextgen.rollout.version"
LABEL_ACCESSORY_OF = "nextgen.rollout.accessory-of"


def plain_copy(value):
    """A deep copy made of plain dicts and lists. copy.deepcopy of the lazy containers that
    ansible-core 2.19 hands to filters takes about half a second each (measured in a deploy)."""
    if isinstance(value, dict):
        return dict((key, plain_copy(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [plain_copy(item) for item in value]
    return value


def volume_name(service, volume):
    return "%s_%s" % (service, volume)


def accessories_network(service):
    return "%s_accessories" % service


def named_volumes(definition):
    """Names of the named volumes a compose service mounts (short and long syntax)."""
    names = []
    for entry in definition.get("volumes") or []:
        if isinstance(entry, dict):
            source = entry.get("source") if entry.get("type", "volume") == "volume" else None
        else:
            parts = str(entry).split(":")
            source = parts[0] if len(parts) > 1 else None
        if source and not source.startswith(("/", ".", "~", "$")) and source not in names:
            names.append(source)
    return names


def _key_problems(variable, definition, forbidden):
    problems = []
    if not isinstance(definition, dict):
        return ["%s must be a mapping of compose service keys, got %r" % (variable, definition)]
    for key in sorted(definition):
        if key.startswith("x-"):
            continue
        if key not in COMPOSE_SERVICE_KEYS:
            problems.append("%s has %r, which is not a compose service key (see the compose specification, "
                            "https://github.com/compose-spec/compose-spec/blob/main/spec.md)" % (variable, key))
        elif key in forbidden:
            problems.append("%s sets %r, which the collection manages: use %s" % (variable, key, forbidden[key]))
    return problems


# A variable name compose's env file reads (it refuses spaces, '=', quotes...).
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# In double quotes, compose's env file reads these escapes and expands $VAR: a value is written escaped.
ENV_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("$", "\\$"), ("\n", "\\n"), ("\r", "\\r"))


def env_name_problems(variable, names):
    """The names of ``variable`` (rollout_env, rollout_secret_env) that are not variable names; the
    names only, never a value (a secret's value must not reach a message)."""
    return ["%s: %r is not a variable name (letters, digits, '_', '.' or '-', not starting with a digit)" % (variable, name)
            for name in names if not ENV_NAME.match(str(name))]


def probe_path_problems(paths):
    """The paths probed on a colour's port ({variable: path}) that are not URL paths: each starts with
    ``/`` (empty: none) and has no white space or control character."""
    return ["%s %r must be a path starting with / (empty for none), with no spaces" % (variable, path)
            for variable, path in sorted((paths or {}).items())
            if path and (not str(path).startswith("/") or re.search(r"[\s\x00-\x1f\x7f]", str(path)))]


def env_value(value):
    """A value of rollout_env or rollout_secret_env as the container gets it: YAML's yes/true arrive
    as booleans and become true/false (not Python's True), and an empty value (None) is an empty
    string (compose would take a None from its own process's environment, or leave it unset)."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else value


def compose_literal(value):
    """A value written into a compose file that compose must not interpolate: ``$`` doubled (compose
    would put the host's ``$HOME`` there, or nothing for an unset variable)."""
    return value.replace("$", "$$") if isinstance(value, str) else value


def env_file_text(env, header):
    """The text of an env file for compose's ``env_file``: each value in double quotes, escaped, so that
    it reaches the container as it is (a ``$`` is not expanded, a line break does not start a new
    variable). The names must pass env_name_problems first."""
    lines = ["# %s" % header]
    for name, value in sorted((env or {}).items()):
        text = str(env_value(value))
        for plain, escaped in ENV_ESCAPES:
            text = text.replace(plain, escaped)
        lines.append('%s="%s"' % (name, text))
    return "\n".join(lines) + "\n"


def volume_problems(volumes):
    """What is wrong with rollout_volumes: named volume to its top-level compose definition."""
    if not isinstance(volumes, dict):
        return ["rollout_volumes must map volume names to their definitions (driver, driver_opts, labels), got %r" % (volumes,)]
    problems = []
    for name, definition in sorted(volumes.items()):
        if not VOLUME_NAME.match(str(name)):
            problems.append("rollout_volumes: %r is not a volume name (letters, digits, '_', '.' or '-')" % (name,))
        if definition is not None and not isinstance(definition, dict):
            problems.append("rollout_volumes.%s must be a mapping of volume keys, got %r" % (name, definition))
            continue
        unknown = sorted(set(definition or {}) - VOLUME_KEYS)
        if unknown:
            problems.append("rollout_volumes.%s has %s, which %s not a volume key (%s)" % (
                name, ", ".join(repr(key) for key in unknown), "is" if len(unknown) == 1 else "are", ", ".join(sorted(VOLUME_KEYS))))
    return problems


def definition_problems(service, project, accessories, ports, container_port, env_names=(), secret_env_names=(),
                        probe_paths=None, volumes=None):
    """Everything wrong with a service definition, each naming the variable and the value."""
    problems = env_name_problems("rollout_env", env_names) + env_name_problems("rollout_secret_env", secret_env_names)
    problems += probe_path_problems(probe_paths) + volume_problems({} if volumes is None else volumes)
    if not NAME.match(service or ""):
        problems.append("rollout_service %r must be lower-case letters, digits, '_', '.' or '-'" % (service,))
    services = (project or {}).get("services") if isinstance(project, dict) else None
    if not isinstance(services, dict) or not isinstance(services.get(APP), dict):
        problems.append("the service definition must have a compose service named %r (rollout_compose, or "
                        "services.%s in rollout_compose_template), got %r" % (APP, APP, project))
    else:
        for name, definition in sorted(services.items()):
            variable = "rollout_compose" if name == APP else "services.%s of rollout_compose_template" % name
            problems.extend(_key_problems(variable, definition, MANAGED_APP_KEYS if name == APP else SIDECAR_FORBIDDEN_KEYS))
            if name != APP and isinstance(definition, dict) and not definition.get("image"):
                problems.append("%s has no image: give the image reference (repository:tag) of the service" % variable)
    if not isinstance(accessories, dict):
        problems.append("rollout_accessories must map accessory names to compose services, got %r" % (accessories,))
    else:
        for name, definition in sorted(accessories.items()):
            variable = "rollout_accessories.%s" % name
            if not NAME.match(str(name)) or name == APP:
                problems.append("%s: the name must be lower-case letters, digits, '_', '.' or '-', and not %r" % (variable, APP))
            problems.extend(_key_problems(variable, definition, ACCESSORY_FORBIDDEN_KEYS))
            if isinstance(definition, dict) and not definition.get("image"):
                problems.append("%s has no image: give the image reference (repository:tag) of the accessory" % variable)
    problems.extend(port_problems(ports, container_port))
    return problems


def as_port(value):
    """A port given as text (from -e or a template) as an int; anything else unchanged."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def port_problems(ports, container_port):
    problems = []
    if not isinstance(ports, dict) or set(ports) != {"blue", "green"}:
        return ["rollout_ports must give a port for blue and one for green, got %r" % (ports,)]
    for colour in ("blue", "green"):
        value = ports[colour]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            problems.append("rollout_ports.%s = %r is not a port (1-65535)" % (colour, value))
    if ports["blue"] == ports["green"]:
        problems.append("rollout_ports.blue and rollout_ports.green are both %r: each colour needs its own port" % ports["blue"])
    if not isinstance(container_port, int) or not 1 <= container_port <= 65535:
        problems.append("rollout_container_port = %r is not a port (1-65535)" % (container_port,))
    return problems


def _with_shared_volumes(service, project, definitions):
    volumes = project.setdefault("volumes", None) or {}
    for definition in definitions:
        for name in named_volumes(definition):
            if not isinstance(volumes.get(name), dict) or "name" not in volumes[name]:
                given = volumes.get(name) or {}
                # compose's own rule: an external volume without a name is the docker volume of that name
                volumes[name] = dict(given, name=name if given.get("external") else volume_name(service, name))
    if volumes:
        project["volumes"] = volumes
    else:
        project.pop("volumes")
    return project


def _declared_volumes(declared, definitions, given=None):
    """The top-level volumes of a project: ``given`` (a template's own), plus the rollout_volumes entries
    of the other named volumes its services mount."""
    volumes = dict(given or {})
    for definition in definitions:
        for name in named_volumes(definition):
            if name not in volumes and name in declared:
                volumes[name] = plain_copy(declared[name] or {})
    return volumes


def colour_volumes(service, project):
    """The named volumes both colours share, as the collection creates them (community.docker.docker_volume)
    before a colour starts: [{name, driver, driver_options, labels}], the driver and its options as the
    operator's project gives them. Compose would create such a volume for the first colour's project, then
    warn in the other's that it belongs to another project; and one that exists already (made by a
    ``docker run -v``) it keeps, whatever driver options the project gives. A volume the project marks
    ``external`` is the operator's own and is not created."""
    shared = _with_shared_volumes(service, plain_copy(project), project["services"].values()).get("volumes") or {}
    return [dict(_volume_spec(volume), labels=dict(_as_mapping(volume.get("labels")), **{LABEL_SERVICE: service}))
            for _key, volume in sorted(shared.items()) if not volume.get("external")]


def _volume_spec(volume):
    """{name, driver, driver_options} of a named compose volume (with its docker name), as docker makes it."""
    return {"name": volume["name"], "driver": volume.get("driver") or "local",
            "driver_options": dict(volume.get("driver_opts") or {})}


def colour_project(service, colour, version, image, project, port, container_port,
                   memory_limit=None, environment=None, env_file=None, with_accessories=False):
    """The compose project of one colour running ``image`` (repository:tag or repository@digest),
    from the operator's ``project`` (which has a service ``app``)."""
    result = plain_copy(project)
    app = result["services"][APP]
    app["image"] = image
    app["ports"] = ["127.0.0.1:%d:%d" % (port, container_port)]
    app.setdefault("restart", "unless-stopped")
    app.setdefault("stop_grace_period", "30s")
    if environment:
        merged = dict(_as_mapping(app.get("environment")))
        merged.update((name, compose_literal(env_value(value))) for name, value in environment.items())
        app["environment"] = merged
    if env_file:
        app["env_file"] = list(app.get("env_file") or []) + [{"path": env_file, "required": False}]
    limits = ((app.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if memory_limit and not app.get("mem_limit") and not limits.get("memory"):
        app["mem_limit"] = memory_limit
    labels = dict(_as_mapping(app.get("labels")))
    labels.update({LABEL_SERVICE: service, LABEL_COLOUR: colour, LABEL_VERSION: version})
    app["labels"] = labels
    if with_accessories:
        networks = app.get("networks") or ["default"]
        if isinstance(networks, list):
            networks = dict((name, None) for name in networks)
        networks.setdefault("default", None)
        networks["accessories"] = None
        app["networks"] = networks
        result.setdefault("networks", {})
        result["networks"] = dict(result["networks"] or {}, accessories={"name": accessories_network(service), "external": True})
    result = _with_shared_volumes(service, result, result["services"].values())
    for key, volume in (result.get("volumes") or {}).items():
        if not volume.get("external"):  # created by the collection (colour_volumes)
            result["volumes"][key] = {"name": volume["name"], "external": True}
    return result


def accessories_project(service, accessories, declared=None):
    """The compose project of the accessories, or None when there are none; ``declared`` is
    rollout_volumes (the driver and options of their named volumes)."""
    if not accessories:
        return None
    services = {}
    for name, definition in accessories.items():
        accessory = plain_copy(definition)
        accessory.setdefault("restart", "unless-stopped")
        labels = dict(_as_mapping(accessory.get("labels")))
        labels[LABEL_ACCESSORY_OF] = service
        accessory["labels"] = labels
        services[name] = accessory
    project = {"services": services, "networks": {"default": {"name": accessories_network(service)}},
               "volumes": _declared_volumes(declared or {}, services.values())}
    return _with_shared_volumes(service, project, services.values())


def made_volumes(shared, accessories):
    """The named volumes the service's definition makes, as it gives them now: [{name, driver,
    driver_options}] of the ``shared`` ones (colour_volumes) and of the ``accessories`` project's own,
    which compose makes (not those marked external)."""
    own = sorted(((accessories or {}).get("volumes") or {}).values(), key=lambda volume: volume["name"])
    return ([dict((key, volume[key]) for key in ("name", "driver", "driver_options")) for volume in shared]
            + [_volume_spec(volume) for volume in own if not volume.get("external")])


def project_volumes(project):
    """Docker names of the named volumes a project declares."""
    return [v["name"] for v in ((project or {}).get("volumes") or {}).values()]


def _as_mapping(value):
    """Compose accepts environment and labels as a mapping or as a list of KEY=VALUE."""
    if isinstance(value, dict):
        return value
    mapping = {}
    for item in value or []:
        key, _sep, val = str(item).partition("=")
        mapping[key] = val
    return mapping


def repository_of(reference):
    """The repository of an image reference, without its tag or digest, as docker writes it in an image's
    RepoDigests (Docker Hub's docker.io/ and library/ left out)."""
    name = str(reference).split("@", 1)[0]
    head, _sep, last = name.rpartition("/")
    name = (head + "/" if head else "") + last.split(":", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if name.startswith("library/") and name.count("/") == 1:
        name = name[len("library/"):]
    return name


def pinned_image(image, reference):
    """``reference`` as the exact image the host has: as it is when it names a digest already, else the
    repository@digest of ``image`` (docker's inspection of it: an image pulled from a registry has one), else as
    it is (an image built or loaded on the host has none)."""
    if not reference or "@" in reference:
        return reference
    wanted = repository_of(reference)
    for entry in (image or {}).get("RepoDigests") or []:
        if repository_of(entry) == wanted:
            return entry
    return reference


def pinned_images(results, references):
    """{reference: pinned reference} of the ``references`` whose images were pulled or read in this order:
    ``results`` are the results of a loop of community.docker.docker_image_pull (each with its ``image``) or
    of docker_image_info (each with its ``images``)."""
    pinned = {}
    for reference, result in zip(references, results or []):
        image = result.get("image") or (result.get("images") or [None])[0]
        pinned[reference] = pinned_image(image, result.get("item") or reference)
    return pinned


def released_images(history, version, repository):
    """What the last release of ``version`` in the ledger's ``history`` recorded that it ran:
    {"image": the app's repository@digest in ``repository`` (or ""), "colour_images": {reference: exact image} of
    the template's other services (or {})}. A rollback or a new release of that version runs them again."""
    image, colour_images = "", {}
    for entry in history or []:
        details = entry.get("details") if entry.get("version") == version else None
        if not isinstance(details, dict):
            continue
        if isinstance(details.get("image"), str) and details["image"].startswith(repository + "@"):
            image = details["image"]
        if isinstance(details.get("colour_images"), dict):
            colour_images = details["colour_images"]
    return {"image": image, "colour_images": colour_images}


def references_to_pull(references, recorded):
    """What to pull for ``references``: the digest ``recorded`` for one (what a release of this version ran
    under that reference), else the reference."""
    recorded = recorded if isinstance(recorded, dict) else {}
    return [recorded[ref] if "@" in str(recorded.get(ref) or "") else ref for ref in references]


def service_projects(settings, version):
    """What a release of ``version`` runs, from the release settings (see the service_projects filter).

    ``settings["pinned_images"]`` ({reference: repository@digest}) gives the exact image of each other service of
    the project (the app's is ``settings["image"]``). Returns {problems, blue, green, accessories, volumes,
    colour_images (the other services' images as the project names them), other_images (those and the
    accessories'), ...}; with problems, the projects are None."""
    service, project = settings.get("service"), settings.get("project")
    accessories = settings.get("accessories") or {}
    ports, container_port = settings.get("ports"), as_port(settings.get("container_port"))
    if isinstance(ports, dict):
        ports = dict((colour, as_port(port)) for colour, port in ports.items())
    declared = settings.get("volumes") or {}
    problems = definition_problems(service, project, accessories, ports, container_port,
                                   env_names=list(settings.get("environment") or {}),
                                   secret_env_names=settings.get("secret_env_names") or [],
                                   probe_paths=settings.get("probe_paths"), volumes=declared)
    outcome = {"problems": problems, "blue": None, "green": None, "accessories": None, "volumes": [], "colour_volumes": [],
               "made_volumes": [], "other_images": [], "colour_images": [], "waits_for_health": {}}
    if problems:
        return outcome
    if declared:
        project = dict(project, volumes=_declared_volumes(declared, project["services"].values(), project.get("volumes")))
    pinned = settings.get("pinned_images") or {}
    colour_services = dict((name, dict(definition, image=pinned.get(definition["image"]) or definition["image"])
                            if name != APP and definition.get("image") else definition)
                           for name, definition in project["services"].items())
    for colour in ("blue", "green"):
        outcome[colour] = colour_project(
            service, colour, version, settings.get("image") or "%s:%s" % (settings["image_repository"], version),
            dict(project, services=colour_services), ports[colour], container_port,
            memory_limit=settings.get("memory_limit"), environment=settings.get("environment"),
            env_file="%s/%s.env" % (settings["service_dir"], colour) if settings.get("service_dir") else None,
            with_accessories=bool(accessories))
    outcome["accessories"] = accessories_project(service, accessories, declared)
    outcome["colour_volumes"] = colour_volumes(service, project)
    outcome["made_volumes"] = made_volumes(outcome["colour_volumes"], outcome["accessories"])
    # Pulled by the pre-checks with the app's image, so that a missing one stops the release before it starts.
    outcome["colour_images"] = sorted(set(definition["image"] for name, definition in project["services"].items() if name != APP))
    outcome["other_images"] = sorted(set(outcome["colour_images"] + [definition["image"] for definition in accessories.values()]))
    outcome["volumes"] = sorted(set(project_volumes(outcome["blue"]) + project_volumes(outcome["accessories"])))
    return outcome


def one_line(text, width):
    line = " ".join(str(text or "").split())
    return line if len(line) <= width else line[:width - 3] + "..."


def container_report(container, logs="", log_lines=10, width=200):
    """What a colour's container says about why it did not start: its state, its healthcheck's
    last answer and its last log lines, on one line; '' when there is no such container.
    ``container`` is community.docker.docker_container_info's ``container``; ``logs`` its output
    (a text, or texts such as its stdout and stderr)."""
    if not container:
        return ""
    state = container.get("State") or {}
    name = str(container.get("Name") or "").lstrip("/") or "the container"
    if state.get("OOMKilled"):
        status = "was killed for want of memory (rollout_memory_limit)"
    elif state.get("Restarting") or (state.get("Status") == "exited"):
        status = "exited with code %s" % state.get("ExitCode")
    else:
        status = "is %s" % (state.get("Status") or "in an unknown state")
    restarts = container.get("RestartCount") or 0
    if restarts:
        status += " (restarted %d time%s)" % (restarts, "" if restarts == 1 else "s")
    parts = ["container %s %s" % (name, status)]
    health = state.get("Health") or {}
    checks = health.get("Log") or []
    if health.get("Status") and health.get("Status") != "healthy":
        said = "healthcheck %s" % health["Status"]
        if checks:
            last = checks[-1]
            said += ", its last check exited %s: %s" % (last.get("ExitCode"), one_line(last.get("Output"), width) or "(no output)")
        parts.append(said)
    if log_lines > 0:  # rollout_failure_log_lines 0: a service that may print a secret at start
        parts.append(last_output(logs, log_lines, width))
    return "; ".join(parts)


def last_output(logs, log_lines=10, width=200):
    """``its last output: a | b``: the last ``log_lines`` distinct lines of ``logs`` (a text, or
    texts such as stdout and stderr), or ``it wrote nothing``."""
    text = "\n".join(str(part or "") for part in logs) if isinstance(logs, (list, tuple)) else str(logs or "")
    # A container that restarts writes the same lines each time: each is said once, with its count.
    counts = {}
    for line in text.splitlines():
        if line.strip():
            line = one_line(line, width)
            counts[line] = counts.get(line, 0) + 1
    lines = ["%s (%d times)" % (line, n) if n > 1 else line for line, n in counts.items()][-log_lines:]
    return "its last output: " + " | ".join(lines) if lines else "it wrote nothing"
