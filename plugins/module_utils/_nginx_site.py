# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""Replace one nginx site file so that traffic never sees a broken config.

The new file is written atomically, the whole config is tested with ``nginx -t``, nginx is
reloaded, and the switch counts as done only once the master runs workers that were not there
before the reload (``nginx -s reload`` returns before the master applies the config, and a master
that cannot apply it keeps its old workers and only says so in its error log). When the test, the
reload or the hand-over fails, the previous file is put back (nginx never stopped serving it) and
the error says what failed. The previous content is kept next to the site as ``<name>.previous``,
which ``conf.d/*.conf`` does not include.

After a reload that took, the sha256 of the content nginx now runs is written to ``<name>.loaded``.
A site file whose content differs from that stamp was written by a run that died before its
reload finished: ``apply`` and ``ensure_loaded`` then test and reload it, so no later run leaves
nginx on a config other than the file.

Where traffic goes is not in the site but in the service's route file (JSON, ``ROUTE_DIR``), which
the site's njs handler reads at every request: a switch or a canary step rewrites that file
atomically and takes effect at the next request, with no reload, so no client connection is
closed. The site (upstreams per colour, server blocks) changes only when its settings do. Sites
written before the route files carried their routing on one comment line (``ROUTE_MARKER``); it is
still read when a service has no route file yet.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import time

from ansible_collections.nextgen.rollout.plugins.module_utils._files import atomic_write_text

SITE_MODE = 0o644
# What the site template puts in the config as it is: anything else (a space, ";", "{", a quote)
# would break the config or add directives to it.
SITE_SETTINGS = (
    ("server_name", "rollout_server_name", re.compile(r"^[A-Za-z0-9*_.-]*$"),
     "one host name: letters, digits, '.', '-', '_' and a '*' wildcard, or empty for the port's default server"),
    ("path_prefix", "rollout_path_prefix", re.compile(r"^/[A-Za-z0-9._~%/-]*$"),
     "a path that starts with '/', made of letters, digits and '.', '_', '~', '%', '-', '/'"),
    ("client_max_body_size", "rollout_client_max_body_size", re.compile(r"^[0-9]+[kKmMgG]?$"),
     "a size as nginx writes it: digits with k, m or g (1m, 512k)"),
    ("served_header", "rollout_served_header", re.compile(r"^[A-Za-z0-9-]*$"),
     "a header name (letters, digits, '-'), or empty for none"),
    ("real_ip_header", "rollout_real_ip_header", re.compile(r"^[A-Za-z0-9-]+$"),
     "the name of the header in which your load balancer gives the client's address, such as X-Forwarded-For or X-Real-IP"),
)
ROUTE_MARKER = "# nextgen-rollout-route: "
ROUTE_DIR = "/etc/nginx/nextgen-rollout/routes"


class SiteRefused(Exception):
    """The new site was not taken into service; the previous one is back and serving."""


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def digest(text):
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def site_route(text):
    """The routing a rollout site declares ({live_port, canary_port, share, hash_key}); None when
    there is no site. A site written before the route line existed is read from its upstreams."""
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith(ROUTE_MARKER):
            try:
                return json.loads(line[len(ROUTE_MARKER):])
            except ValueError:
                break
    live = re.search(r"upstream \S+_live \{\s*server 127\.0\.0\.1:(\d+)", text)
    canary = re.search(r"upstream \S+_canary \{\s*server 127\.0\.0\.1:(\d+)", text)
    share = re.search(r'"?([0-9.]+)%"?\s+\S+_canary;', text)
    return {"live_port": int(live.group(1)) if live else None,
            "canary_port": int(canary.group(1)) if canary else None,
            "share": float(share.group(1)) if canary and share else 0}


def read_route(path):
    """The route document of a service, or None when there is none (or it cannot be read)."""
    text = read_text(path)
    if text is None:
        return None
    try:
        route = json.loads(text)
    except ValueError:
        return None
    return route if isinstance(route, dict) and route.get("live") else None


def route_view(route):
    """A route document as the reconciliation reads a site: {live_port, canary_port, share, hash_key}."""
    ports = route.get("ports") or {}
    canary = route.get("canary") if float(route.get("share") or 0) > 0 else None
    return {"live_port": ports.get(route["live"]), "canary_port": ports.get(canary) if canary else None,
            "share": float(route.get("share") or 0) if canary else 0.0, "hash_key": route.get("hash_key")}


def routed(route):
    """What nginx sends every client (not in a canary share) to: {"colour", "version"}, or None without a route."""
    if not route or route.get("live") not in (route.get("ports") or {}):
        return None
    served = (route.get("served") or {}).get("127.0.0.1:%d" % int(route["ports"][route["live"]]), "")
    return {"colour": route["live"], "version": served.split("/", 1)[1] if "/" in served else None}


class RouteProblem(ValueError):
    """A route that cannot be written: it names a colour without a port or a share out of range."""


def build_route(service, wanted, previous):
    """The route document for ``wanted`` = {live, live_version, canary, canary_version, share,
    hash_key, ports: {colour: port}, upstream_prefix}; the site names each colour's upstream
    ``<upstream_prefix>_<colour>``.

    ``served`` maps each colour's address to "<colour>/<version>" for the access log and the
    X-Served-By header; a colour this switch does not name keeps what the previous route said,
    so that requests still in flight on it are logged with their version."""
    ports = dict((colour, int(port)) for colour, port in (wanted.get("ports") or {}).items())
    live, canary = wanted.get("live"), wanted.get("canary") or None
    share = float(wanted.get("share") or 0)
    if live not in ports:
        raise RouteProblem("the live colour %r has no port (ports: %s)" % (live, ports))
    if not 0 <= share <= 100:
        raise RouteProblem("a canary share is a percentage from 0 to 100, not %s" % share)
    if share > 0 and canary not in ports:
        raise RouteProblem("the canary colour %r has no port (ports: %s)" % (canary, ports))
    if share == 0 or canary == live:
        canary, share = None, 0.0
    served = dict((previous or {}).get("served") or {})
    known = set("127.0.0.1:%d" % port for port in ports.values())
    served = dict((address, value) for address, value in served.items() if address in known)
    served["127.0.0.1:%d" % ports[live]] = "%s/%s" % (live, wanted.get("live_version") or "")
    if canary:
        served["127.0.0.1:%d" % ports[canary]] = "%s/%s" % (canary, wanted.get("canary_version") or "")
    return {"service": service, "live": live, "canary": canary, "share": share,
            "hash_key": wanted.get("hash_key") or "$remote_addr", "ports": ports,
            "upstream_prefix": wanted["upstream_prefix"],
            "upstreams": dict((colour, "%s_%s" % (wanted["upstream_prefix"], colour)) for colour in ports),
            "served": served}


# The options of the modules that switch a service's traffic on a host (doc fragment nextgen.rollout.site_paths).
SITE_PATHS_SPEC = dict(route_dir=dict(type="path", default="/etc/nginx/nextgen-rollout/routes"),
                       site_conf_dir=dict(type="path", default="/etc/nginx/conf.d"))


def service_site(service, params, run, **options):
    """The SiteSwitch of ``service`` from a module's ``site_conf_dir`` and ``route_dir``."""
    return SiteSwitch(os.path.join(params["site_conf_dir"], service + ".conf"), run=run,
                      workers=lambda: nginx_workers("/run/nginx.pid"),
                      route_path=os.path.join(params["route_dir"], service + ".json"), **options)


def site_setting_problems(settings):
    """What is wrong with the site's settings ({server_name, path_prefix, client_max_body_size,
    served_header, real_ip_header, real_ip_from, listen_port, tls_port}), each naming its variable;
    [] when nginx can take them as they are."""
    problems = []
    for key, variable, pattern, expected in SITE_SETTINGS:
        if key in settings and not pattern.match(str(settings[key])):
            problems.append("%s (nginx_%s) %r is not %s" % (variable, key, settings[key], expected))
    return problems + listen_port_problems(settings) + real_ip_problems(settings.get("real_ip_from", []))


def listen_port_problems(settings):
    """What is wrong with the ports nginx listens on for the service (listen_port, and tls_port when
    the site has TLS): nginx -t would refuse them only once the new site is written."""
    problems, given = [], {}
    for key in ("listen_port", "tls_port"):
        if key not in settings:
            continue
        value = settings[key]
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= 65535:
            problems.append("rollout_%s (nginx_%s) %r is not a TCP port: give a whole number from 1 to 65535" % (key, key, value))
        else:
            given[key] = int(text)
    if given.get("tls_port") is not None and given.get("tls_port") == given.get("listen_port"):
        problems.append("rollout_tls_port and rollout_listen_port are both %d: plain HTTP and TLS need a port each"
                        % given["tls_port"])
    return problems


def real_ip_problems(sources):
    """What is wrong with the addresses of the load balancers in front of nginx (rollout_real_ip_from)."""
    variable = "rollout_real_ip_from (nginx_real_ip_from)"
    if not isinstance(sources, (list, tuple)):
        return ["%s %r is not a list: give the addresses or networks your load balancers connect from, "
                "e.g. -e '{\"rollout_real_ip_from\": [\"10.0.0.0/24\"]}'" % (variable, sources)]
    problems = []
    for source in sources:
        try:
            network = ipaddress.ip_network(str(source))
        except ValueError as exc:
            problems.append("%s %r is not an address or a network such as 10.0.0.5, 10.0.0.0/24 or fd00::/8 (%s)"
                            % (variable, source, exc))
            continue
        if network.prefixlen == 0:
            problems.append("%s %r trusts every address: any client could then name its own address in the header "
                            "(rollout_real_ip_header), choose its side of a canary and hide in the access log; list "
                            "only the addresses or networks your load balancers connect from" % (variable, source))
    return problems


def all_traffic_to(route, colour, version):
    """``route`` changed to send every client to ``colour`` running ``version`` (no canary)."""
    wanted = {"live": colour, "live_version": version, "share": 0, "hash_key": route.get("hash_key"),
              "ports": route["ports"], "upstream_prefix": route["upstream_prefix"]}
    return build_route(route["service"], wanted, route)


def route_everyone_to_live(site):
    """Send every client to the route's live colour (canary share 0) by rewriting the route file;
    when the route was written (None when there is no route file)."""
    route = read_route(site.route_path)
    live = routed(route)
    if live is None:
        return None
    return site.apply_route(all_traffic_to(route, live["colour"], live["version"]))["routed_at"]


def nginx_workers(pid_file, proc="/proc"):
    """(master pid, set of its worker pids) read from /proc; (None, set()) when nginx is down."""
    try:
        with open(pid_file) as handle:
            master = int(handle.read().strip())
    except (OSError, ValueError):
        return None, set()
    workers = set()
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(proc, name, "stat")) as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: fields start after the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == master:
            workers.add(int(name))
    return master, workers


class SiteSwitch(object):
    """One site file under nginx's conf.d and the commands that test and reload nginx.

    ``run`` takes an argv list and returns (rc, stdout, stderr); ``workers`` returns
    (master pid, worker pids). Both are injected so the logic is testable without nginx.
    """

    def __init__(self, path, run, workers, route_path=None, test_command=("nginx", "-t"),
                 reload_command=("nginx", "-s", "reload"), reload_timeout=10.0, clock=time.monotonic,
                 sleep=time.sleep):
        self.path = path
        self.previous_path = path + ".previous"
        self.loaded_path = path + ".loaded"
        self.route_path = route_path
        self.run = run
        self.workers = workers
        self.test_command = list(test_command)
        self.reload_command = list(reload_command)
        self.reload_timeout = reload_timeout
        self.clock = clock
        self.sleep = sleep

    def plan(self, content):
        """(changed, before) for the wanted content (None means: no site)."""
        before = read_text(self.path)
        return before != content, before

    def current(self):
        return read_text(self.path)

    def routing(self):
        """{live_port, canary_port, share, hash_key} of where traffic goes (None: no site)."""
        route = read_route(self.route_path) if self.route_path else None
        if route is not None and self.current() is not None:
            return route_view(route)
        return site_route(self.current())

    def plan_route(self, route):
        """(changed, before text) for the wanted route document."""
        before = read_text(self.route_path)
        return before != self.route_text(route), before

    def apply_route(self, route):
        """Write the route file (atomic rename: the next request reads either the old or the new)."""
        atomic_write_text(self.route_path, self.route_text(route), SITE_MODE)
        return {"routed_at": round(time.time(), 3)}

    def loaded(self):
        """Whether nginx runs the content of the site file (a reload of it took)."""
        return read_text(self.loaded_path) == (digest(read_text(self.path)) or "absent")

    def ensure_loaded(self):
        """Reload nginx when the site file is not what it runs (a run died between the write and
        the reload). A file that fails the test is replaced by the previous one, then reloaded."""
        if self.loaded():
            return {"changed": False, "reloaded": False}
        content = read_text(self.path)
        rc, out, err = self.run(self.test_command)
        if rc != 0:
            previous = read_text(self.previous_path)
            self._install(previous)
            self._test_or_fail(previous, "the previous site of %s after the current one failed" % self.path)
        started = self.clock()
        self._reload_and_wait()
        self._stamp()
        return {"changed": True, "reloaded": True, "reload_s": round(self.clock() - started, 3),
                "reloaded_at": round(time.time(), 3), "replaced_untested": rc != 0,
                "test_output": (err or out).strip(), "site_was": digest(content)}

    def _test_or_fail(self, content, what):
        rc, out, err = self.run(self.test_command)
        if rc != 0:
            raise SiteRefused("nginx -t rejects %s: %s. Fix the nginx config by hand (nginx -t shows it), then "
                              "run again" % (what, (err or out).strip() or "rc=%d" % rc))

    def _stamp(self):
        atomic_write_text(self.loaded_path, digest(read_text(self.path)) or "absent", SITE_MODE)

    def apply(self, content):
        """Put ``content`` live (None removes the site). Returns the figures of the switch."""
        changed, before = self.plan(content)
        if not changed:
            if self.loaded():
                return {"changed": False, "reloaded": False}
            result = self.ensure_loaded()
            if self.plan(content)[0]:
                return self.apply(content)
            return result
        if before is not None:
            atomic_write_text(self.previous_path, before, SITE_MODE)
        self._install(content)
        rc, out, err = self.run(self.test_command)
        if rc != 0:
            self._restore(before)
            raise SiteRefused("nginx -t rejected the new config of %s: %s. The previous config is back and "
                              "serving; nothing was switched." % (self.path, (err or out).strip() or "rc=%d" % rc))
        started = self.clock()
        try:
            self._reload_and_wait()
        except SiteRefused as exc:
            self._restore(before)
            try:
                self._reload_and_wait()
                self._stamp()
            except SiteRefused as again:
                raise SiteRefused("%s. The previous config is back in %s but reloading it failed too: %s"
                                  % (exc, self.path, again))
            raise SiteRefused("%s. The previous config is back and serving." % exc)
        self._stamp()
        return {"changed": True, "reloaded": True, "reload_s": round(self.clock() - started, 3),
                "reloaded_at": round(time.time(), 3), "test_output": (err or out).strip()}

    def switch(self, content, route):
        """Put the site and the route live. A site that changes is tested and reloaded first, while
        the route still sends traffic where it did; the route moves after it, so a site nginx
        refuses moves nothing. Without a route file yet (a first site, or a site written before
        route files) the route comes first, so that the new site finds it at its first request."""
        route_changed, route_before = self.plan_route(route)
        figures = {"route_changed": route_changed}
        if route_before is None:
            figures.update(self.apply_route(route))
            try:
                figures.update(self.apply(content))
            except SiteRefused:
                os.unlink(self.route_path)
                raise
        else:
            figures.update(self.apply(content))
            if route_changed:
                figures.update(self.apply_route(route))
        figures["changed"] = figures["changed"] or route_changed
        return figures

    @staticmethod
    def route_text(route):
        return json.dumps(route, sort_keys=True, indent=1) + "\n"

    def _install(self, content):
        if content is None:
            if os.path.exists(self.path):
                os.unlink(self.path)
        else:
            atomic_write_text(self.path, content, SITE_MODE)

    def _restore(self, before):
        self._install(before)

    def _reload_and_wait(self):
        master, old_workers = self.workers()
        if master is None:
            raise SiteRefused("nginx is not running (no master process): start it, then run again")
        rc, out, err = self.run(self.reload_command)
        if rc != 0:
            raise SiteRefused("%s failed: %s" % (" ".join(self.reload_command), (err or out).strip() or "rc=%d" % rc))
        deadline = self.clock() + self.reload_timeout
        while True:
            current_master, current = self.workers()
            if current_master == master and current - old_workers:
                return
            if self.clock() >= deadline:
                raise SiteRefused(
                    "nginx did not start new workers within %.0f s of the reload, so it did not apply the "
                    "config (see its error log, e.g. a port already in use)" % self.reload_timeout)
            self.sleep(0.02)
