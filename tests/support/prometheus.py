"""A real Prometheus (the Debian binary of this machine) started inside a simulated host.

It scrapes both colours of the service on the host's loopback every second, as a node-local
Prometheus would, and listens on 127.0.0.1:9090 inside the host, where the analysis runs.
"""
import json
import os
import subprocess
import time

from support.playbook import host_exec

CONFIG = """global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: agent-loop
    static_configs:
      - targets: ["127.0.0.1:8001", "127.0.0.1:8002"]
"""


def start_prometheus(host, binary="/usr/bin/prometheus", deadline_s=30, rule_files=None, lifecycle=False):
    """``rule_files``: a glob Prometheus loads rules from; ``lifecycle``: POST /-/reload reloads it.
    promtool comes along, for whatever checks rules on the host."""
    for program in (binary, os.path.join(os.path.dirname(binary), "promtool")):
        subprocess.run(["docker", "cp", program, "%s:/usr/local/bin/%s" % (host, os.path.basename(program))], check=True)
    config = CONFIG + ("rule_files: [%s]\n" % json.dumps(rule_files) if rule_files else "")
    host_exec(host, "sh", "-c", "mkdir -p /etc/nextgen-test-prometheus && cat > /etc/nextgen-test-prometheus/prometheus.yml "
              "<<'EOF'\n%sEOF" % config)
    subprocess.run(["docker", "exec", "-d", host, "/usr/local/bin/prometheus",
                    "--config.file=/etc/nextgen-test-prometheus/prometheus.yml",
                    "--storage.tsdb.path=/var/tmp/nextgen-test-prometheus",
                    "--web.listen-address=127.0.0.1:9090"] + (["--web.enable-lifecycle"] if lifecycle else []),
                   check=True)
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        if host_exec(host, "curl", "-fsS", "http://127.0.0.1:9090/-/ready").returncode == 0:
            return "http://127.0.0.1:9090"
        time.sleep(0.5)
    raise AssertionError("Prometheus did not get ready in %s within %d s" % (host, deadline_s))


def query(host, promql):
    out = host_exec(host, "curl", "-fsS", "--get", "--data-urlencode", "query=" + promql,
                    "http://127.0.0.1:9090/api/v1/query")
    return json.loads(out.stdout)["data"]["result"] if out.returncode == 0 else None


def wait_for_rules(host, group, deadline_s=30):
    """The rule groups called ``group`` once Prometheus has evaluated each of their rules."""
    until = time.monotonic() + deadline_s
    while True:
        out = host_exec(host, "curl", "-fsS", "http://127.0.0.1:9090/api/v1/rules")
        groups = [g for g in json.loads(out.stdout)["data"]["groups"] if g["name"] == group] if out.returncode == 0 else []
        if groups and all(rule.get("health") != "unknown" for g in groups for rule in g["rules"]):
            return groups
        if time.monotonic() > until:
            raise AssertionError("Prometheus in %s has no evaluated rule group %s within %d s" % (host, group, deadline_s))
        time.sleep(1)
