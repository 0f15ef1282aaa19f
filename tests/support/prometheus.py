"""A real Prometheus (the Debian binary of this machine) started inside a simulated host.

It scrapes both colours of the service on the host's loopback every second, as a node-local
Prometheus would, and listens on 127.0.0.1:9090 inside the host, where the analysis runs.
"""
import json
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


def start_prometheus(host, binary="/usr/bin/prometheus", deadline_s=30):
    subprocess.run(["docker", "cp", binary, "%s:/usr/local/bin/prometheus" % host], check=True)
    host_exec(host, "sh", "-c", "mkdir -p /etc/nextgen-test-prometheus && cat > /etc/nextgen-test-prometheus/prometheus.yml "
              "<<'EOF'\n%sEOF" % CONFIG)
    subprocess.run(["docker", "exec", "-d", host, "/usr/local/bin/prometheus",
                    "--config.file=/etc/nextgen-test-prometheus/prometheus.yml",
                    "--storage.tsdb.path=/var/tmp/nextgen-test-prometheus",
                    "--web.listen-address=127.0.0.1:9090"], check=True)
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
