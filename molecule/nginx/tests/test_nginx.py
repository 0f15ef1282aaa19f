"""nginx installed, running, with the JSON log format and a site towards port 8001."""
import json


def test_nginx_runs_and_config_passes(host):
    assert host.service("nginx").is_running
    assert host.service("nginx").is_enabled
    assert host.run("nginx -t").rc == 0


def test_log_format_and_site(host):
    assert host.file("/etc/nginx/conf.d/00-nextgen-rollout-log.conf").contains("log_format rollout_json")
    site = host.file("/etc/nginx/conf.d/agent-loop.conf")
    assert site.mode == 0o644 and site.contains("server 127.0.0.1:8001")


def test_traffic_flows_and_is_logged_as_json(host):
    assert "X-App-Version: 1.0.0" in host.check_output("curl -fsS -D- -o /dev/null http://127.0.0.1/")
    record = json.loads(host.check_output("tail -n 1 /var/log/nginx/agent-loop.access.json"))
    assert record["status"] == 200 and record["version"] == "1.0.0"
    assert float(record["upstream_response_time"]) >= 0 and record["request_id"]
