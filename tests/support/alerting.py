"""Prometheus, Alertmanager and ansible-rulebook as the controller runs them, each on 127.0.0.1.

Each is the real program (Debian's prometheus and prometheus-alertmanager, ansible-rulebook from
PyPI with Debian's Java 17), started with its own files under a test directory and stopped by
``stop()``; its output goes to a log file next to them.
"""
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from support.playbook import ROOT, ledger, wait_until

JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"


def http_json(url, data=None, timeout=5):
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


class Daemon(object):
    def __init__(self, name, argv, directory, ready_url, env=None, deadline_s=60):
        self.name, self.log_path = name, os.path.join(directory, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=directory,
                                     env=dict(os.environ, **(env or {})), start_new_session=True)
        until = time.monotonic() + deadline_s
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("%s ended at its start: %s" % (name, self.output()[-2000:]))
            if time.monotonic() > until:
                self.stop()
                raise AssertionError("%s not ready at %s within %d s: %s" % (
                    name, ready_url, deadline_s, self.output()[-2000:]))
            try:
                urllib.request.urlopen(ready_url, timeout=2).read()
                return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    return  # it answers (a listener that takes only POST says 405)
            except OSError:
                pass  # not listening yet
            time.sleep(0.5)

    def output(self):
        self.log.flush()
        with open(self.log_path) as handle:
            return handle.read()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        self.log.close()


def start_prometheus(directory, port, scrape_jobs, rules_dir, alertmanager_port):
    """``scrape_jobs``: {job: (target, {label: value})}; every series of a job gets those labels
    (the instance label too, so that it names the host, not the published port)."""
    jobs = []
    for job, (target, labels) in sorted(scrape_jobs.items()):
        relabel = [{"target_label": name, "replacement": value} for name, value in sorted(labels.items())]
        jobs.append({"job_name": job, "static_configs": [{"targets": [target]}], "relabel_configs": relabel})
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:%d" % alertmanager_port]}]}]},
              "rule_files": [os.path.join(rules_dir, "*.rules.yml")], "scrape_configs": jobs}
    with open(os.path.join(directory, "prometheus.yml"), "w") as handle:
        json.dump(config, handle)
    return Daemon("prometheus", ["/usr/bin/prometheus", "--config.file=prometheus.yml", "--storage.tsdb.path=tsdb",
                                 "--web.listen-address=127.0.0.1:%d" % port, "--web.enable-lifecycle"],
                  directory, "http://127.0.0.1:%d/-/ready" % port)


def start_alertmanager(directory, port, webhook_url, group_by=("host", "service", "version")):
    config = {"route": {"receiver": "rollback", "group_by": list(group_by), "group_wait": "1s",
                        "group_interval": "5s", "repeat_interval": "1h"},
              "receivers": [{"name": "rollback", "webhook_configs": [{"url": webhook_url, "send_resolved": False}]}]}
    with open(os.path.join(directory, "alertmanager.yml"), "w") as handle:
        json.dump(config, handle)
    return Daemon("alertmanager", ["/usr/bin/prometheus-alertmanager", "--config.file=alertmanager.yml",
                                   "--storage.path=alertmanager-data", "--cluster.listen-address=",
                                   "--web.listen-address=127.0.0.1:%d" % port],
                  directory, "http://127.0.0.1:%d/-/ready" % port)


def start_rulebook(directory, inventory, rulebook_vars, port):
    """The collection's rulebook, its source found in the collection as an operator's controller finds it."""
    with open(os.path.join(directory, "rulebook-vars.yml"), "w") as handle:
        json.dump(dict(rulebook_vars, rollback_listen_port=port), handle)
    env = {"JAVA_HOME": JAVA_HOME, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
           "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"), "ANSIBLE_NOCOLOR": "1",
           "PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"]}
    return Daemon("ansible-rulebook", [os.path.join(ROOT, ".venv", "bin", "ansible-rulebook"),
                                       "-r", os.path.join(ROOT, "extensions", "eda", "rulebooks", "rollback-on-alert.yml"),
                                       "-i", inventory, "-e", "rulebook-vars.yml"],
                  directory, "http://127.0.0.1:%d/alerts" % port, env=env)


# The reference service's metric names for the release alert rules, with windows short enough
# that a test takes seconds: the error rule fires after 5 s over a 10 s rate.
REFERENCE_ALERTS = {
    "rollout_alert_metrics": {"requests": "agent_requests_total", "status_label": "status",
                              "duration_buckets": "agent_request_duration_seconds_bucket", "rate_window": "10s",
                              "scrape_interval_s": 1},
    "rollout_alert_policy": {"rules": {"error_rate": {"for": "5s"}}},
}


class Stack(object):
    """Prometheus, Alertmanager and the rulebook on 127.0.0.1, watching one simulated host."""

    def __init__(self, directory, host, inventory, ports):
        self.directory, self.host, self.inventory, self.ports = directory, host, inventory, ports
        self.rules_dir = os.path.join(directory, "rules")
        self.daemons = []
        self.rulebook = None

    def start(self, nginx_port, node_exporter_port):
        # node_exporter on the host reads the ledger's textfile, as Debian's prometheus-node-exporter does.
        subprocess.run(["docker", "cp", "/usr/bin/prometheus-node-exporter", "%s:/usr/local/bin/" % self.host], check=True)
        subprocess.run(["docker", "exec", "-d", self.host, "/usr/local/bin/prometheus-node-exporter",
                        "--collector.disable-defaults", "--collector.textfile",
                        "--collector.textfile.directory=/var/lib/prometheus/node-exporter",
                        "--web.listen-address=:9100"], check=True)
        os.makedirs(self.rules_dir, exist_ok=True)
        self.daemons.append(start_alertmanager(self.directory, self.ports["alertmanager"],
                                               "http://127.0.0.1:%d/alerts" % self.ports["rulebook"]))
        self.daemons.append(start_prometheus(self.directory, self.ports["prometheus"], {
            "agent-loop": ("127.0.0.1:%d" % nginx_port, {"instance": self.host, "service": "agent-loop"}),
            "node": ("127.0.0.1:%d" % node_exporter_port, {"instance": self.host}),
        }, self.rules_dir, self.ports["alertmanager"]))
        self.restart_rulebook()
        return self

    def restart_rulebook(self):
        """A new ansible-rulebook, which forgets its throttle (the next alert is a new incident)."""
        if self.rulebook is not None:
            self.rulebook.stop()
            self.daemons.remove(self.rulebook)
        self.rulebook = start_rulebook(self.directory, self.inventory,
                                       {"rollback_playbook": os.path.join(ROOT, "playbooks", "rollback.yml")},
                                       self.ports["rulebook"])
        self.daemons.append(self.rulebook)

    def stop(self):
        for daemon in reversed(self.daemons):
            daemon.stop()

    def prometheus(self, path):
        return http_json("http://127.0.0.1:%d%s" % (self.ports["prometheus"], path))["data"]

    def rules_playbook_vars(self):
        """alert-rules.yml's variables to install the rules on the controller's Prometheus."""
        return dict(REFERENCE_ALERTS, rollout_prometheus_hosts="localhost", ansible_connection="local",
                    ansible_become=False, ansible_python_interpreter=os.path.join(ROOT, ".venv", "bin", "python"),
                    prometheus_rules_dir=self.rules_dir, prometheus_rules_reload="http",
                    prometheus_rules_url="http://127.0.0.1:%d" % self.ports["prometheus"])

    def rules_loaded(self):
        return any(g["name"] == "nextgen-release-agent-loop-%s" % self.host for g in self.prometheus("/api/v1/rules")["groups"])

    def playbook_runs(self):
        return self.rulebook.output().count("PLAY RECAP")

    def alerts(self, alertname="NextgenErrorRateAfterRelease"):
        """The alerts called ``alertname`` as Prometheus shows them, pending or firing."""
        return [a for a in self.prometheus("/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == alertname]

    def firing(self, alertname="NextgenErrorRateAfterRelease"):
        """The alert as Prometheus shows it once it is firing, else None."""
        return next((alert for alert in self.alerts(alertname) if alert["state"] == "firing"), None)

    def no_errors_in_window(self):
        """Whether Prometheus sees no 5xx answer of the service over the rules' rate window, and no
        error alert pending or firing."""
        rate = self.prometheus("/api/v1/query?query=" + urllib.parse.quote(
            'sum(rate(agent_requests_total{service="agent-loop",status=~"5.."}[%s]))'
            % REFERENCE_ALERTS["rollout_alert_metrics"]["rate_window"]))["result"]
        return not self.alerts() and (not rate or float(rate[0]["value"][1]) == 0)

    def post_alert(self, alertname, version):
        """A firing alert for the host's service, posted to the rulebook as Alertmanager would."""
        alert = {"status": "firing", "labels": {"alertname": alertname, "severity": "critical", "host": self.host,
                                                "service": "agent-loop", "version": version},
                 "annotations": {}, "startsAt": "2026-01-01T00:00:00Z", "fingerprint": alertname + version}
        body = {"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "rollback", "groupLabels": {},
                "commonLabels": alert["labels"], "externalURL": "http://127.0.0.1", "alerts": [alert]}
        return http_json("http://127.0.0.1:%d/alerts" % self.ports["rulebook"], json.dumps(body).encode())

    def wait_for_rollback(self, back_to, timeout_s=180):
        """Wait until ``back_to`` is live again; the error alert as first seen firing (with ``seen_at``,
        when this poll saw it), or None if it was never seen."""
        seen = []

        def rolled_back():
            if not seen:
                alert = self.firing()
                if alert:
                    seen.append(dict(alert, seen_at=time.time()))
            return ledger(self.host)["live"]["version"] == back_to
        wait_until(rolled_back, timeout_s, "the rollback to %s by the rulebook" % back_to, interval=0.25)
        return seen[0] if seen else None
