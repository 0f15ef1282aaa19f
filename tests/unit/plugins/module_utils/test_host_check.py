import os
import threading

from ansible_collections.nextgen.rollout.plugins.module_utils._host_check import (
    compose_status, disk_free_mb, engine_status, foreign_listeners, foreign_port_holders, listening_sockets, memory_available_mb, nearest_existing,
    nginx_config_status, process_command, read_host, tcp_sockets, unit_state, volume_changes)

MEMINFO = """MemTotal:        8000000 kB
MemFree:          102400 kB
MemAvailable:    2048000 kB
Buffers:           51200 kB
Cached:           512000 kB
"""


TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def tcp_row(local, state, inode):
    return "   0: %s 00000000:0000 %s 00000000:00000000 00:00000000 00000000     0        0 %s 1 0000000000000000 100 0 0 10 0\n" % (
        local, state, inode)


def fake_proc(tmp_path):
    """A /proc where python3 (pid 900) listens on 127.0.0.1:8001, something /proc does not show on [::]:8003,
    and 8002 listens (a docker-proxy); 8004 has only an established connection."""
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "net" / "tcp").write_text(TCP_HEADER + tcp_row("0100007F:1F41", "0A", "12345") + tcp_row("0100007F:1F42", "0A", "777")
                                      + tcp_row("0100007F:1F44", "01", "888"))
    (proc / "net" / "tcp6").write_text(TCP_HEADER + tcp_row("00000000000000000000000000000000:1F43", "0A", "999"))
    (proc / "900" / "fd").mkdir(parents=True)
    (proc / "900" / "comm").write_text("python3\n")
    os.symlink("socket:[12345]", str(proc / "900" / "fd" / "3"))
    os.symlink("/dev/null", str(proc / "900" / "fd" / "0"))
    (proc / "self").mkdir()
    return str(proc)


def scripted(answers):
    def run(argv):
        answer = answers[argv[0]]
        if isinstance(answer, Exception):
            raise answer
        return answer
    return run


def test_memory_is_what_the_kernel_says_is_available():
    assert memory_available_mb(MEMINFO) == 2000


def test_without_memavailable_memory_is_free_plus_buffers_plus_cache():
    old_kernel = "\n".join(line for line in MEMINFO.splitlines() if not line.startswith("MemAvailable"))
    assert memory_available_mb(old_kernel) == (102400 + 51200 + 512000) // 1024


def test_disk_is_measured_on_the_nearest_directory_that_exists(tmp_path):
    missing = tmp_path / "docker" / "not-yet"
    assert nearest_existing(str(missing)) == str(tmp_path)

    class Stats(object):
        f_bavail, f_frsize = 3 * 1024, 1024 * 1024

    seen = []
    disk = disk_free_mb(str(missing), statvfs=lambda path: seen.append(path) or Stats())
    assert disk == {"path": str(tmp_path), "free_mb": 3 * 1024} and seen == [str(tmp_path)]
    assert disk_free_mb(str(tmp_path))["free_mb"] == os.statvfs(str(tmp_path)).f_bavail * os.statvfs(str(tmp_path)).f_frsize // 1048576


def test_compose_says_its_version_or_why_not():
    assert compose_status(scripted({"docker": (0, "2.40.3\n", "")})) == {"ok": True, "version": "2.40.3", "error": ""}
    no_plugin = compose_status(scripted({"docker": (1, "", "docker: 'compose' is not a docker command.\n")}))
    assert no_plugin == {"ok": False, "version": "", "error": "docker: 'compose' is not a docker command."}
    no_docker = compose_status(scripted({"docker": OSError("docker is not on the PATH")}))
    assert no_docker["ok"] is False and "docker not found" in no_docker["error"]


def test_the_engine_says_its_version_only_when_it_runs():
    seen = []

    def run(argv):
        seen.append(argv)
        return (0, "20.10.24\n", "")
    assert engine_status(run) == {"ok": True, "version": "20.10.24", "error": ""}
    assert seen == [["docker", "version", "--format", "{{.Server.Version}}"]]
    down = engine_status(scripted({"docker": (1, "Client: 20.10.24\n", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n")}))
    assert down["ok"] is False and "Cannot connect to the Docker daemon" in down["error"]


def test_the_state_of_nginx_is_systemds():
    assert unit_state(scripted({"systemctl": (0, "active\n", "")}), "nginx") == "active"
    assert unit_state(scripted({"systemctl": (3, "inactive\n", "")}), "nginx") == "inactive"
    assert unit_state(scripted({"systemctl": OSError("no systemctl")}), "nginx") == "unknown"


def test_one_call_reads_everything(tmp_path):
    run = scripted({"docker": (0, "2.40.3\n", ""), "systemctl": (3, "failed\n", ""), "nginx": (0, "", "syntax is ok\n")})
    host = read_host(run, str(tmp_path / "docker"), "nginx", MEMINFO, service="shop", ports={"blue": 8001}, proc=fake_proc(tmp_path))
    assert host["compose"]["ok"] and host["engine"]["ok"] and host["memory_available_mb"] == 2000
    assert host["disk"]["path"] == str(tmp_path) and host["disk"]["free_mb"] > 0 and host["nginx_state"] == "failed"
    assert host["nginx_config"] == {"tested": True, "ok": True, "error": ""}
    assert host["port_holders"] == {"blue": "python3 (pid 900)"}


def test_the_commands_run_side_by_side_not_one_after_another(tmp_path):
    """The first four commands all wait until the four are running: one after another, they never would."""
    together = threading.Barrier(4, timeout=5)
    calls = []
    lock = threading.Lock()

    def run(argv):
        with lock:
            calls.append(argv)
            first_four = len(calls) <= 4
        if first_four:
            together.wait()
        return {"docker": (0, "2.40.3\n", ""), "systemctl": (0, "active\n", ""), "nginx": (0, "", "")}[argv[0]]

    host = read_host(run, "", "nginx", MEMINFO, service="shop", ports={"blue": 8001}, proc=fake_proc(tmp_path),
                     volumes=[{"name": "shop-data", "driver": "local", "driver_options": {}}])
    assert not together.broken and len(calls) == 7
    assert host["engine"]["ok"] and host["nginx_state"] == "active" and host["volume_changes"] == []


def test_a_config_nginx_rejects_is_named_by_its_emerg_lines():
    refused = nginx_config_status(scripted({"nginx": (1, "", (
        "nginx: 2026/12/04 23:50:39 [emerg] 9662#9662: unknown directive \"broken\" in /etc/nginx/conf.d/other.conf:1\n"
        "nginx: configuration file /etc/nginx/nginx.conf test failed\n"))}), ["nginx", "-t"])
    assert refused == {"tested": True, "ok": False,
                       "error": 'unknown directive "broken" in /etc/nginx/conf.d/other.conf:1'}
    silent = nginx_config_status(scripted({"nginx": (1, "", "")}), ["nginx", "-t"])
    assert silent["ok"] is False and silent["error"] == "nginx -t exited with 1"
    # nginx not installed yet, or no test asked for: nothing to judge.
    assert nginx_config_status(scripted({"nginx": OSError("no nginx")}), ["nginx", "-t"]) == {
        "tested": False, "ok": True, "error": ""}
    assert nginx_config_status(scripted({}), [])["tested"] is False


def test_without_a_docker_root_the_disk_is_that_of_the_engines_data_directory(tmp_path):
    data_root = tmp_path / "data" / "docker"
    data_root.mkdir(parents=True)

    def run(argv):
        if argv[:2] == ["docker", "info"]:
            return (0, "%s\n" % data_root, "")
        return (0, "2.40.3\n", "")
    assert read_host(run, "", "nginx", MEMINFO)["disk"]["path"] == str(data_root)
    # An engine that does not answer: Docker's default directory (or the nearest one above it that exists).
    down = scripted({"docker": (1, "", "Cannot connect to the Docker daemon"), "systemctl": (0, "active\n", ""),
                     "nginx": (0, "", "")})
    assert read_host(down, "", "nginx", MEMINFO)["disk"]["path"] in ("/var/lib/docker", "/var/lib", "/var", "/")


def test_listening_sockets_are_read_from_the_tcp_tables(tmp_path):
    assert listening_sockets(fake_proc(tmp_path)) == {8001: ["12345"], 8002: ["777"], 8003: ["999"]}
    assert listening_sockets(str(tmp_path / "nowhere")) == {}


def test_tcp_sockets_are_every_row_of_both_tables_and_a_process_that_ended_has_no_command(tmp_path):
    proc = fake_proc(tmp_path)
    rows = list(tcp_sockets(os.path.join(proc, "net")))
    assert [(state, port, inode) for state, port, _address, _remote_port, inode in rows] == [
        ("0A", 8001, "12345"), ("0A", 8002, "777"), ("01", 8004, "888"), ("0A", 8003, "999")]
    assert (process_command("900", proc), process_command("901", proc)) == ("python3", None)


def test_a_colour_port_is_foreign_unless_a_container_of_the_service_publishes_it(tmp_path):
    proc = fake_proc(tmp_path)
    seen = []

    def run(argv):
        seen.append(argv)
        return 0, "127.0.0.1:8002->8000/tcp\n", ""
    holders = foreign_port_holders(run, "shop", {"blue": 8001, "green": 8002, "other": 8003, "free": 8004}, proc)
    assert holders == {"blue": "python3 (pid 900)", "green": "", "other": "a process that /proc does not show", "free": ""}
    assert seen == [["docker", "ps", "--filter", "label=nextgen.rollout.service=shop", "--format", "{{.Ports}}"]]


def test_free_ports_ask_nothing_of_docker(tmp_path):
    def run(argv):
        raise AssertionError("docker was asked %s" % argv)
    assert foreign_port_holders(run, "shop", {"blue": 8101, "green": 8102}, fake_proc(tmp_path)) == {"blue": "", "green": ""}


def test_without_docker_a_listened_colour_port_is_foreign(tmp_path):
    holders = foreign_port_holders(scripted({"docker": OSError("docker is not on the PATH")}), "shop", {"blue": 8001},
                                   fake_proc(tmp_path))
    assert holders == {"blue": "python3 (pid 900)"}


def test_the_listeners_of_a_host_are_foreign_but_those_of_the_services_own_containers(tmp_path):
    def run(argv):
        return 0, "127.0.0.1:8002->8000/tcp, [::1]:8002->8000/tcp\n", ""
    assert sorted(foreign_listeners(run, "shop", proc=fake_proc(tmp_path))) == [8001, 8003]


def test_a_volume_made_with_other_options_than_its_definition_gives_now_is_named():
    """docker volume inspect prints the volumes that exist (rc 1 when one does not)."""
    inspected = "\n".join([
        '{"Name": "shop_data", "Driver": "local", "Options": null, "Mountpoint": "/var/lib/docker/volumes/shop_data/_data"}',
        '{"Name": "shop_cache", "Driver": "local", "Options": {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}}',
        '{"Name": "shop_pg", "Driver": "local", "Options": {"type": "none", "o": "bind", "device": "/srv/pg"}}'])
    asked = []

    def run(argv):
        asked.append(argv)
        return 1, inspected + "\n", "Error response from daemon: get shop_new: no such volume"

    wanted = [{"name": "shop_data", "driver": "local", "driver_options": {"type": "none", "o": "bind", "device": "/srv/shop"}},
              {"name": "shop_cache", "driver": "local", "driver_options": {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}},
              {"name": "shop_pg", "driver": "nfs", "driver_options": {"type": "none", "o": "bind", "device": "/srv/pg"}},
              {"name": "shop_new", "driver": "local", "driver_options": {"o": "uid=1000"}}]
    assert volume_changes(run, wanted) == [
        "volume shop_data was made with driver local and no options, and the service's definition now gives it driver local"
        " with options device=/srv/shop, o=bind, type=none",
        "volume shop_pg was made with driver local with options device=/srv/pg, o=bind, type=none, and the service's"
        " definition now gives it driver nfs with options device=/srv/pg, o=bind, type=none"]
    assert asked == [["docker", "volume", "inspect", "--format", "{{json .}}", "shop_data", "shop_cache", "shop_pg", "shop_new"]]
    # Options docker keeps as text match a definition that gives numbers; no volume asks nothing.
    assert volume_changes(lambda argv: (0, '{"Name": "v", "Driver": "local", "Options": {"size": "10"}}', ""),
                          [{"name": "v", "driver": "local", "driver_options": {"size": 10}}]) == []
    assert volume_changes(None, []) == []
