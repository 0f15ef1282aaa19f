"""The nginx role's routing, run in a real nginx (Debian's, with its njs module): the shared config
and the site rendered from the role's templates, two colours as local HTTP servers, and route
files written by the same code as the nginx_site module. Proves that a switch and a canary share
take effect at the next request without a reload and without closing a client's connection."""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.nextgen.rollout.plugins.module_utils._files import atomic_write_text
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import build_route, read_route

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "nginx")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
JS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"


def free_port():
    """A free port below the kernel's ephemeral range: a port bind(0) hands out can be taken as the
    source port of an outgoing connection (a load running beside the suite) before nginx binds it."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        low = int(ranges.read().split()[0])
    for port in random.sample(range(20000, min(low, 30000)), 200):
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            sock.close()
        return int(port)
    raise RuntimeError("no free port between 20000 and %d" % min(low, 30000))


class Colour(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        body = self.server.colour.encode()
        self.send_response(200)
        self.send_header("X-Upstream-Got-Forwarded-For", self.headers.get("X-Forwarded-For", ""))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def render(name, variables):
    with open(os.path.join(ROLE, "templates", name)) as handle:
        return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(handle.read()))


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    assert os.path.exists(NGINX) and os.path.exists(JS_MODULE), "nginx and its njs module: run make setup"
    root = tmp_path_factory.mktemp("nginx")
    servers = {}
    for colour in ("blue", "green"):
        server = ThreadingHTTPServer(("127.0.0.1", free_port()), Colour)
        server.colour = colour
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[colour] = server
    ports = dict((colour, server.server_address[1]) for colour, server in servers.items())
    listen = free_port()
    (root / "routes").mkdir()
    (root / "logs").mkdir()
    shutil.copy(os.path.join(ROLE, "files", "nextgen_rollout.js"), str(root))
    variables = {
        "ansible_managed": "test", "nginx_js_dir": str(root), "nginx_route_dir": str(root / "routes"),
        "nginx_service_name": "agent-loop", "nginx_site_base": "agent_loop", "nginx_colour_ports": ports,
        "nginx_upstream_keepalive_timeout": 2, "nginx_tls_certificate": "", "nginx_tls_key": "",
        "nginx_tls_port": 443, "nginx_tls_redirect": True, "nginx_server_name": "", "nginx_path_prefix": "/",
        "nginx_listen_port": "127.0.0.1:%d" % listen, "nginx_access_log_dir": str(root / "logs"),
        "nginx_client_max_body_size": "1m", "nginx_websocket": True, "nginx_proxy_connect_timeout": 5,
        "nginx_proxy_read_timeout": 60, "nginx_proxy_send_timeout": 60, "nginx_served_header": "X-Served-By",
        "nginx_served_header_public": True,
        # The test is the load balancer in front of nginx: without an X-Forwarded-For, nothing changes.
        "nginx_real_ip_from": ["127.0.0.1"], "nginx_real_ip_header": "X-Forwarded-For",
    }
    (root / "nginx.conf").write_text(
        "user root;\nload_module %s;\npid %s/nginx.pid;\nerror_log %s/logs/error.log;\nevents {}\nhttp {\n%s\n%s\n}\n"
        % (JS_MODULE, root, root, render("log-format.conf.j2", variables), render("site.conf.j2", variables)))
    env = {"root": root, "ports": ports, "url": "127.0.0.1", "listen": listen,
           "route_file": str(root / "routes" / "agent-loop.json")}
    route(env, "blue")
    subprocess.run([NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "logs/error.log")],
                   check=True)
    time.sleep(0.3)
    yield env
    os.kill(int((root / "nginx.pid").read_text()), signal.SIGQUIT)
    for server in servers.values():
        server.shutdown()


def route(env, live, canary=None, share=0, hash_key="$remote_addr"):
    wanted = {"live": live, "live_version": "v-" + live, "canary": canary, "canary_version": "v-%s" % canary,
              "share": share, "hash_key": hash_key, "ports": env["ports"], "upstream_prefix": "agent_loop"}
    document = build_route("agent-loop", wanted, read_route(env["route_file"]))
    atomic_write_text(env["route_file"], json.dumps(document), 0o644)


def get(connection, headers=None):
    connection.request("GET", "/", headers=headers or {})
    response = connection.getresponse()
    return response.read().decode(), response.getheader("X-Served-By")


def workers(env):
    master = (env["root"] / "nginx.pid").read_text().strip()
    return subprocess.run(["pgrep", "-P", master], capture_output=True, text=True, check=True).stdout.split()


def test_a_switch_moves_the_next_request_on_the_same_connection_without_a_reload(nginx):
    route(nginx, "blue")
    before = workers(nginx)
    connection = http.client.HTTPConnection("127.0.0.1", nginx["listen"], timeout=5)
    assert get(connection) == ("blue", "blue/v-blue")
    sock = connection.sock
    route(nginx, "green")
    assert get(connection) == ("green", "green/v-green")
    assert connection.sock is sock, "the client's connection was closed"
    route(nginx, "blue")
    access_log = nginx["root"] / "logs" / "agent-loop.access.json"
    logged = len(access_log.read_text().splitlines())
    assert get(connection) == ("blue", "blue/v-blue") and connection.sock is sock
    assert workers(nginx) == before, "nginx was reloaded"
    # nginx logs a request after its response is sent: the client can read the answer first.
    deadline = time.monotonic() + 5
    while len(access_log.read_text().splitlines()) == logged and time.monotonic() < deadline:
        time.sleep(0.05)
    record = json.loads(access_log.read_text().splitlines()[-1])
    assert (record["colour"], record["version"]) == ("blue", "v-blue")


def test_a_canary_share_splits_clients_and_each_client_stays_on_its_side(nginx):
    route(nginx, "blue", canary="green", share=25, hash_key="$http_x_client_id")
    connection = http.client.HTTPConnection("127.0.0.1", nginx["listen"], timeout=5)
    sides = {}
    for client in range(400):
        seen = set(get(connection, {"X-Client-Id": "client-%d" % client})[0] for _request in range(2))
        assert len(seen) == 1, "client-%d moved between colours" % client
        sides[client] = seen.pop()
    canary = sum(1 for side in sides.values() if side == "green")
    assert 60 <= canary <= 140, canary  # 25 % of 400 is 100
    route(nginx, "blue", canary="green", share=0, hash_key="$http_x_client_id")
    assert set(get(connection, {"X-Client-Id": "client-%d" % c})[0] for c in range(50)) == {"blue"}


def test_a_hash_key_of_several_variables_uses_them_all(nginx):
    route(nginx, "blue", canary="green", share=50, hash_key="${http_x_a}$http_x_b")
    connection = http.client.HTTPConnection("127.0.0.1", nginx["listen"], timeout=5)
    sides = set(get(connection, {"X-A": "same", "X-B": str(n)})[0] for n in range(60))
    assert sides == {"blue", "green"}


def test_without_a_route_file_nginx_answers_502_and_says_why(nginx):
    os.rename(nginx["route_file"], nginx["route_file"] + ".away")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", nginx["listen"], timeout=5)
        connection.request("GET", "/")
        assert connection.getresponse().status == 502
    finally:
        os.rename(nginx["route_file"] + ".away", nginx["route_file"])
    assert "cannot read the route file %s" % nginx["route_file"] in (nginx["root"] / "logs" / "error.log").read_text()


def logged_clients(nginx, expected):
    """remote_addr of the last requests in the access log, once they are ``expected`` or after 2 s
    (nginx writes a line just after its response: the last one may be a moment late)."""
    path = nginx["root"] / "logs" / "agent-loop.access.json"
    deadline = time.monotonic() + 2
    while True:
        addresses = [json.loads(line)["remote_addr"] for line in path.read_text().splitlines()][-len(expected):]
        if addresses == expected or time.monotonic() > deadline:
            return addresses
        time.sleep(0.05)


def test_behind_a_trusted_load_balancer_each_client_is_known_by_its_own_address(nginx):
    route(nginx, "blue", canary="green", share=50, hash_key="$remote_addr")
    connection = http.client.HTTPConnection("127.0.0.1", nginx["listen"], timeout=5)
    clients = ["203.0.113.%d" % n for n in range(1, 201)]
    sides = dict((client, get(connection, {"X-Forwarded-For": client})[0]) for client in clients)
    assert 70 <= sum(1 for side in sides.values() if side == "green") <= 130  # 50 % of 200
    assert logged_clients(nginx, clients) == clients

    def forwarded(headers):
        connection.request("GET", "/", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.getheader("X-Upstream-Got-Forwarded-For")

    # The colour gets the chain as it came, then the address that connected (not the client's twice).
    assert forwarded({"X-Forwarded-For": "203.0.113.7"}) == "203.0.113.7, 127.0.0.1"
    assert forwarded({}) == "127.0.0.1"
    # A client that claims an address in front of the balancer is known by the one the balancer saw.
    connection.request("GET", "/", headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.8"})
    connection.getresponse().read()
    assert logged_clients(nginx, ["203.0.113.8"]) == ["203.0.113.8"]
    route(nginx, "blue")
