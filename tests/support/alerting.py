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
import urllib.request

from support.playbook import ROOT

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
                raise AssertionError("%s not ready at %s within %d s: %s" % (name, ready_url, deadline_s,
                                                                            self.output()[-2000:]))
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
