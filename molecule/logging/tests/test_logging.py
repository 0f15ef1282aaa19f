"""An agent of the coordination profile ships to the collector over RELP/TLS; the previous setup is backed up."""
import json
import time

import testinfra

COLLECTOR = "nr-mol-lgc-1"
AGENT = "nr-mol-lga-1"
COLLECTED = "/var/log/nextgen-collector/%s/agent-loop.log" % AGENT
BACKUPS = "/var/backups/nextgen-rollout/logging-agent-loop"


def on(name):
    return testinfra.get_host("docker://" + name)


def test_the_agent_forwards_over_tls_and_the_legacy_rule_is_out():
    agent = on(AGENT)
    forwarder = agent.file("/etc/rsyslog.d/40-nextgen-agent-loop.conf")
    assert forwarder.contains('tls="on"') and forwarder.contains('port="6514"')
    assert not agent.file("/etc/rsyslog.d/50-legacy-agent.conf").exists
    assert agent.service("rsyslog").is_running and agent.service("rsyslog").is_enabled
    assert agent.file("/etc/nextgen-rollout/logging/tls/host.key").mode == 0o600
    assert agent.file("/etc/nextgen-rollout/logging/alerts/agent-loop.rules.yml").contains("NextgenLogErrorBurst")


def test_the_enabled_setup_is_recorded_for_root_only():
    agent = on(AGENT)
    state = agent.file("/var/lib/nextgen-rollout/logging/agent-loop.json")
    assert state.mode == 0o600
    record = json.loads(state.content_string)
    assert record["agent_type"] == "agents_coordination" and record["profile"]["alerting"] is True
    assert record["backup_id"]


def test_the_previous_setup_is_in_a_private_backup():
    agent = on(AGENT)
    assert agent.file(BACKUPS).mode == 0o700
    manifests = [n for n in agent.check_output("ls %s" % BACKUPS).split() if n.endswith(".manifest.json")]
    assert len(manifests) == 1  # the idempotence run changed nothing, so took no backup
    members = json.loads(agent.file("%s/%s" % (BACKUPS, manifests[0])).content_string)["members"]
    assert "files/etc/rsyslog.d/50-legacy-agent.conf" in [m["name"] for m in members]


def log_through_the_helper(message):
    """Write one ERROR record through the installed helper and config, as the service would."""
    on(AGENT).check_output(
        "python3 -c 'import logging, sys; sys.path.insert(0, \"/opt/nextgen-rollout/lib\"); import nextgen_logging; "
        "i = nextgen_logging.configure(\"/etc/nextgen-rollout/logging/agent-loop.json\"); "
        "logging.getLogger(\"agent\").error(\"%s\"); i.stop()'" % message)


def collected_line(marker, path=COLLECTED, wait_s=20):
    collector = on(COLLECTOR)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not collector.file(path).contains(marker):
        time.sleep(0.5)
    lines = [x for x in collector.file(path).content_string.splitlines() if marker in x]
    assert lines, "%s never reached %s" % (marker, path)
    return lines[0]


def test_a_service_record_travels_to_the_collector():
    marker = "molecule-verify-%d" % time.time()
    log_through_the_helper(marker)
    record = json.loads(collected_line(marker))
    assert record["level"] == "ERROR" and record["agent_type"] == "agents_coordination" and record["host"] == AGENT


def test_rotation_on_both_sides_loses_nothing():
    agent, collector = on(AGENT), on(COLLECTOR)
    before = "molecule-before-rotation-%d" % time.time()
    log_through_the_helper(before)
    collected_line(before)
    agent.check_output("logrotate -f /etc/logrotate.d/nextgen-agent-loop")
    collector.check_output("logrotate -f /etc/logrotate.d/nextgen-collector")
    assert agent.file("/var/log/agent-loop/agent-loop.log.1").contains(before)
    assert collector.file(COLLECTED + ".1").contains(before)
    after = "molecule-after-rotation-%d" % time.time()
    log_through_the_helper(after)
    # The forwarder follows the service's new file, and the collector writes to its new file.
    assert json.loads(collected_line(after))["msg"] == after
    assert not collector.file(COLLECTED + ".1").contains(after)


def test_the_collector_config_loads_with_elasticsearch():
    collector = on(COLLECTOR)
    assert collector.file("/etc/rsyslog.d/40-nextgen-collector.conf").contains('type="omelasticsearch"')
    assert collector.run("rsyslogd -N1").rc == 0
    assert collector.socket("tcp://0.0.0.0:6514").is_listening
