"""nginx installed, running, with the JSON log format and a site towards port 8001."""
import json


def test_nginx_runs_and_config_passes(host):
    assert host.service("nginx").is_running
    assert host.service("nginx").is_enabled
    assert host.run("nginx -t").rc == 0


def test_log_format_and_site(host):
    assert host.file("/etc/nginx/conf.d/00-nextgen-rollout-log.conf").contains("map $http_upgrade")
    site = host.file("/etc/nginx/conf.d/agent-loop.conf")
    assert site.mode == 0o644 and site.contains("server 127.0.0.1:8001") and site.contains("log_format rollout_json_agent_loop")


def test_traffic_flows_and_is_logged_as_json(host):
    headers = host.check_output("curl -fsS -D- -o /dev/null http://127.0.0.1/")
    assert "X-Served-By: blue/1.0.0" in headers and "X-App-Version: 1.0.0" in headers
    record = json.loads(host.check_output("tail -n 1 /var/log/nginx/agent-loop.access.json"))
    assert record["status"] == 200 and (record["colour"], record["version"], record["app_version"]) == ("blue", "1.0.0", "1.0.0")
    assert float(record["upstream_response_time"]) >= 0 and record["request_id"]
