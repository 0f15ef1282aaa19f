"""nginx installed, running, with the njs routing, the JSON log format, a site with one upstream per
colour and a route file that sends the traffic to blue (port 8001)."""
import json


def test_nginx_runs_and_config_passes(host):
    assert host.service("nginx").is_running
    assert host.service("nginx").is_enabled
    assert host.run("nginx -t").rc == 0


def test_log_format_and_site(host):
    shared = host.file("/etc/nginx/conf.d/00-nextgen-rollout-log.conf")
    assert shared.contains("map $http_upgrade") and shared.contains("js_set $nextgen_rollout_upstream")
    assert host.file("/etc/nginx/nextgen-rollout/nextgen_rollout.js").contains("function upstream")
    site = host.file("/etc/nginx/conf.d/agent-loop.conf")
    assert site.mode == 0o644 and site.contains("log_format rollout_json_agent_loop")
    assert site.contains("upstream agent_loop_blue") and site.contains("upstream agent_loop_green")


def test_route_file_sends_the_traffic_to_blue(host):
    route_file = host.file("/etc/nginx/nextgen-rollout/routes/agent-loop.json")
    assert route_file.mode == 0o644
    route = json.loads(route_file.content_string)
    assert (route["live"], route["canary"], route["share"]) == ("blue", None, 0)
    assert route["upstreams"] == {"blue": "agent_loop_blue", "green": "agent_loop_green"}
    assert route["served"] == {"127.0.0.1:8001": "blue/1.0.0"}


def test_traffic_flows_and_is_logged_as_json(host):
    headers = host.check_output("curl -fsS -D- -o /dev/null http://127.0.0.1/")
    assert "X-Served-By: blue/1.0.0" in headers and "X-App-Version: 1.0.0" in headers
    record = json.loads(host.check_output("tail -n 1 /var/log/nginx/agent-loop.access.json"))
    assert record["status"] == 200 and (record["colour"], record["version"], record["app_version"]) == ("blue", "1.0.0", "1.0.0")
    assert float(record["upstream_response_time"]) >= 0 and record["request_id"]


def test_the_json_access_logs_are_rotated_and_nginx_writes_the_new_file(host):
    config = host.file("/etc/logrotate.d/nextgen-nginx-access")
    assert config.mode == 0o644 and config.contains("/var/log/nginx/\\*.access.json") and config.contains("USR1")
    assert host.run("logrotate -d /etc/logrotate.d/nextgen-nginx-access").rc == 0
    assert host.run("logrotate -f /etc/logrotate.d/nextgen-nginx-access").rc == 0
    assert host.file("/var/log/nginx/agent-loop.access.json.1").exists
    # nginx reopens its files when the USR1 of the postrotate reaches its workers.
    host.check_output("sleep 1; curl -fsS -o /dev/null http://127.0.0.1/")
    record = json.loads(host.check_output("tail -n 1 /var/log/nginx/agent-loop.access.json"))
    assert record["status"] == 200
