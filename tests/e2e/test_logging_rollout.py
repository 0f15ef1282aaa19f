"""The logging rollout on 5 simulated agents and a collector, on a docker network of its own.

Every agent writes numbered JSON lines to its service log file for the whole test. The first
rollout fails in wave 2 (one host cannot reach the collector's RELP port): that wave goes back to
its previous setup and the pilot and wave 1 keep shipping. The second rollout completes. The
collector's rsyslog is restarted in the middle of each. Afterwards the collector must hold every
number of every agent: 0 lost; duplicates are counted and reported.
"""
import json
import os
import subprocess
import threading
import time

import pytest

from support.playbook import host_exec, must, run_playbook, run_playbook_until, simhosts

pytestmark = pytest.mark.slow

PREFIX = "nr-e2e-lg"
COLLECTOR = "nr-e2e-lgc-1"
NETWORK = "nr-e2e-lg-net"
AGENTS = ["%s-%d" % (PREFIX, i) for i in range(1, 6)]
GROUPS = {"agents_ia": AGENTS[0:2], "agents_outils": AGENTS[2:4], "agents_coordination": AGENTS[4:5]}
UNREACHABLE = AGENTS[3]  # in wave 2 with AGENTS[2]
LOG_FILE = "/var/log/agent-loop/agent-loop.log"
STATE_FILE = "/var/lib/nextgen-rollout/logging/agent-loop.json"
LEGACY_FILE = "/etc/rsyslog.d/50-legacy-agent.conf"
LEGACY_CONF = "local0.* /var/log/legacy-agent.log\n"
EMIT_PER_S = 20
EMIT_MAX_S = 900

# Bounded: stops at the stop file, after EMIT_MAX_S seconds or EMIT_MAX_S * rate lines.
EMITTER = r'''
import json, logging, logging.handlers, os, sys, time
path, host, rate, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
os.makedirs(os.path.dirname(path), exist_ok=True)
handler = logging.handlers.WatchedFileHandler(path)
handler.setFormatter(logging.Formatter("%(message)s"))
log = logging.getLogger("emitter")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.propagate = False
seq, started = 0, time.monotonic()
while seq < rate * limit and time.monotonic() - started < limit and not os.path.exists("/root/emit.stop"):
    seq += 1
    log.info(json.dumps({"seq": seq, "agent": host}))
    time.sleep(1.0 / rate)
with open("/root/emit.done", "w") as done:
    done.write(str(seq))
'''


def sh(host, script):
    result = host_exec(host, "sh", "-c", script)
    assert result.returncode == 0, "%s: %s" % (host, result.stderr)
    return result.stdout


def write_inventory(path, tls_dir, unreachable_port=None):
    agent_vars = {}
    if unreachable_port:
        agent_vars[UNREACHABLE] = {"logging_relp_port": unreachable_port, "logging_validate_timeout": 15}
    children = dict((group, {"hosts": dict((h, agent_vars.get(h, {})) for h in hosts)}) for group, hosts in GROUPS.items())
    children["logging_collectors"] = {"hosts": {COLLECTOR: {}}}
    children["logging_pilot"] = {"hosts": {AGENTS[0]: {}}}
    inventory = {"all": {"vars": {"ansible_connection": "docker",
                                  "ansible_python_interpreter": "/usr/bin/python3",
                                  "logging_tls_local_dir": tls_dir,
                                  "logging_legacy_files": [LEGACY_FILE]},
                         "children": children}}
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    return path


def docker(*args):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    directory = tmp_path_factory.mktemp("logging")
    for prefix in (PREFIX, "nr-e2e-lgc"):
        simhosts("down", "--prefix", prefix)
    docker("network", "rm", NETWORK)
    assert docker("network", "create", NETWORK).returncode == 0
    try:
        simhosts("up", "--count", "5", "--prefix", PREFIX, "--base-port", "19020", "--network", NETWORK,
                 "--image", "agent-loop:1.0.0")
        simhosts("up", "--count", "1", "--prefix", "nr-e2e-lgc", "--base-port", "19040", "--network", NETWORK,
                 "--image", "agent-loop:1.0.0")
        for host in AGENTS:
            # The previous setup: a legacy rsyslog rule, rsyslog running, the service logging to a file.
            sh(host, "printf '%s' > %s && systemctl enable --now rsyslog" % (LEGACY_CONF, LEGACY_FILE))
            subprocess.run(["docker", "exec", "-i", host, "sh", "-c", "cat > /root/emit.py"], input=EMITTER,
                           text=True, check=True)
            subprocess.run(["docker", "exec", "-d", host, "python3", "/root/emit.py", LOG_FILE, host,
                            str(EMIT_PER_S), str(EMIT_MAX_S)], check=True)
        yield {"dir": str(directory), "tls": os.path.join(str(directory), "tls")}
    finally:
        for prefix in (PREFIX, "nr-e2e-lgc"):
            simhosts("down", "--prefix", prefix)
        docker("network", "rm", NETWORK)


def enabled(host):
    return host_exec(host, "test", "-f", STATE_FILE).returncode == 0


def restart_collector_when(condition, restarts, deadline_s=240, how="systemctl restart rsyslog"):
    """Restart the collector's rsyslog with the shell command ``how`` once ``condition()`` holds
    (the rollout is midway)."""
    def watch():
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if condition():
                sh(COLLECTOR, how)
                restarts.append(time.time())
                return
            time.sleep(0.5)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def collected(host):
    """seq -> how many times the collector holds it, for one agent."""
    out = host_exec(COLLECTOR, "cat", "/var/log/nextgen-collector/%s/agent-loop.log" % host).stdout
    counts = {}
    for line in out.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "seq" in record:
            counts[record["seq"]] = counts.get(record["seq"], 0) + 1
    return counts


def still_shipping(hosts, before, deadline_s=30):
    """How many numbers the collector holds for each host, once each holds more than ``before``."""
    deadline = time.monotonic() + deadline_s
    while True:
        now = dict((host, len(collected(host))) for host in hosts)
        if all(now[host] > before[host] for host in hosts) or time.monotonic() > deadline:
            return now
        time.sleep(1)


def collector_stat(name):
    """The latest impstats record called ``name`` in the collector's stats file."""
    records = []
    for line in sh(COLLECTOR, "cat /var/log/nextgen-collector-stats.json").splitlines():
        try:  # impstats puts a timestamp and a colon before the JSON object
            records.append(json.loads(line[line.index("{"):]))
        except ValueError:
            continue
    named = [record for record in records if record.get("name") == name]
    assert named, "no %r in the collector's stats: %s" % (name, sorted(set(r.get("name") for r in records)))
    return named[-1]


def forwarder_files(host):
    return sh(host, "ls /etc/rsyslog.d").split()


@pytest.fixture(scope="module")
def rollouts(fleet):
    restarts = []
    legacy_digest = sh(AGENTS[2], "sha256sum %s" % LEGACY_FILE)

    # A plan whose waves do not add up to 100 % is refused before anything changes.
    inventory = write_inventory(os.path.join(fleet["dir"], "first.json"), fleet["tls"], unreachable_port=2599)
    bad_plan = run_playbook("logging-rollout.yml", inventory, {"logging_wave_percents": [20, 50]})
    after_bad_plan = dict((host, forwarder_files(host)) for host in AGENTS + [COLLECTOR])

    # Rollout 1: wave 2 holds a host that cannot reach the collector; the collector restarts once
    # the pilot and wave 1 are done.
    watcher = restart_collector_when(lambda: enabled(AGENTS[1]), restarts)
    first = run_playbook("logging-rollout.yml", inventory)
    watcher.join(timeout=1)
    after_first = dict((host, {"enabled": enabled(host), "files": forwarder_files(host),
                               "rsyslog": host_exec(host, "systemctl", "is-active", "rsyslog").stdout.strip()})
                       for host in AGENTS)
    shipped_at_first_end = dict((host, len(collected(host))) for host in AGENTS[:2])
    shipped_later = still_shipping(AGENTS[:2], shipped_at_first_end)
    legacy_after = sh(AGENTS[2], "sha256sum %s" % LEGACY_FILE)

    # Rollout 2: everything reachable; while wave 2 is done and wave 3 runs, the collector's rsyslogd
    # is killed with SIGKILL under the agents' numbered lines, and started again.
    inventory = write_inventory(os.path.join(fleet["dir"], "second.json"), fleet["tls"])
    watcher = restart_collector_when(lambda: enabled(AGENTS[2]), restarts,
                                     how="systemctl kill -s KILL rsyslog && sleep 1 && systemctl start rsyslog")
    second = run_playbook("logging-rollout.yml", inventory)
    watcher.join(timeout=1)
    return {"bad_plan": bad_plan, "after_bad_plan": after_bad_plan, "first": first, "second": second,
            "after_first": after_first, "restarts": restarts,
            "shipped_at_first_end": shipped_at_first_end, "shipped_later": shipped_later,
            "legacy_before": legacy_digest, "legacy_after": legacy_after, "inventory": inventory}


def test_a_bad_plan_is_refused_before_anything_changes(rollouts):
    bad = rollouts["bad_plan"]
    assert bad.rc != 0 and "must add up to 100" in bad.output, bad.output[-2000:]
    for host, files in rollouts["after_bad_plan"].items():
        assert files == ([] if host == COLLECTOR else ["50-legacy-agent.conf"]), (host, files)


def test_a_failed_wave_goes_back_and_earlier_waves_keep_shipping(rollouts):
    first = rollouts["first"]
    assert first.rc != 0, first.output[-3000:]
    assert "Wave 2 (%s, %s) failed on %s" % (AGENTS[2], AGENTS[3], UNREACHABLE) in first.output, first.output[-3000:]
    assert "did not reach %s" % COLLECTOR in first.output
    state = rollouts["after_first"]
    for host in AGENTS[:2]:  # pilot and wave 1 keep the new setup
        assert state[host]["enabled"] and "40-nextgen-agent-loop.conf" in state[host]["files"], host
        assert "50-legacy-agent.conf" not in state[host]["files"]
        assert rollouts["shipped_later"][host] > rollouts["shipped_at_first_end"][host], "%s stopped shipping" % host
    for host in AGENTS[2:4]:  # wave 2, both hosts, back on the previous setup exactly
        assert not state[host]["enabled"], host
        assert state[host]["files"] == ["50-legacy-agent.conf"], (host, state[host]["files"])
        assert state[host]["rsyslog"] == "active", host
    assert rollouts["legacy_after"] == rollouts["legacy_before"]
    assert state[AGENTS[4]]["files"] == ["50-legacy-agent.conf"]  # wave 3 never started


def test_the_second_rollout_completes_and_no_line_is_lost(rollouts):
    must(rollouts["second"])
    assert len(rollouts["restarts"]) == 2, "the collector was restarted %d time(s)" % len(rollouts["restarts"])
    for host in AGENTS:
        assert enabled(host), host
    for host in AGENTS:
        sh(host, "touch /root/emit.stop")
    emitted = {}
    for host in AGENTS:
        deadline = time.monotonic() + 10
        while host_exec(host, "test", "-f", "/root/emit.done").returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        emitted[host] = int(sh(host, "cat /root/emit.done"))
    report = {}
    deadline = time.monotonic() + 90
    while True:
        report = {}
        for host in AGENTS:
            counts = collected(host)
            report[host] = {"emitted": emitted[host],
                            "lost": len(set(range(1, emitted[host] + 1)) - set(counts)),
                            "duplicates": sum(n - 1 for n in counts.values())}
        if all(r["lost"] == 0 for r in report.values()) or time.monotonic() > deadline:
            break
        time.sleep(2)
    totals = {"agents": len(AGENTS), "emitted": sum(r["emitted"] for r in report.values()),
              "lost": sum(r["lost"] for r in report.values()),
              "duplicates": sum(r["duplicates"] for r in report.values()),
              "collector_restarts": len(rollouts["restarts"]),
              "first_rollout_s": round(rollouts["first"].seconds, 1),
              "second_rollout_s": round(rollouts["second"].seconds, 1)}
    print("logging rollout: %s" % json.dumps(report, sort_keys=True))
    print(json.dumps(totals, sort_keys=True))
    assert totals["emitted"] > 1000, totals
    assert totals["lost"] == 0, report


def test_profiles_shape_the_forwarders_and_the_collector(rollouts):
    must(rollouts["second"])
    tls_forwarder = sh(AGENTS[0], "cat /etc/rsyslog.d/40-nextgen-agent-loop.conf")
    plain_forwarder = sh(AGENTS[2], "cat /etc/rsyslog.d/40-nextgen-agent-loop.conf")
    assert 'tls="on"' in tls_forwarder and 'port="6514"' in tls_forwarder
    # Each encrypting agent has its own port, in the sorted order of their names.
    assert 'port="6515"' in sh(AGENTS[1], "cat /etc/rsyslog.d/40-nextgen-agent-loop.conf")
    assert 'port="6516"' in sh(AGENTS[4], "cat /etc/rsyslog.d/40-nextgen-agent-loop.conf")
    assert 'tls="on"' not in plain_forwarder and 'port="2514"' in plain_forwarder
    config = json.loads(sh(AGENTS[0], "cat /etc/nextgen-rollout/logging/agent-loop.json"))
    assert config["async"] is True and config["fields"]["agent_type"] == "agents_ia"
    assert sh(AGENTS[0], "stat -c %a /etc/nextgen-rollout/logging/tls/host.key").strip() == "600"
    collector = sh(COLLECTOR, "cat /etc/rsyslog.d/40-nextgen-collector.conf")
    assert 'type="omelasticsearch"' in collector
    es_line = [line for line in collector.splitlines() if line.strip().startswith("if $.agent == [")][0]
    assert all(host in es_line for host in (AGENTS[0], AGENTS[1], AGENTS[4]))
    assert AGENTS[2] not in es_line and AGENTS[3] not in es_line
    for port, agent in ((6514, AGENTS[0]), (6515, AGENTS[1]), (6516, AGENTS[4])):
        assert 'input(type="imrelp" port="%d" ruleset="nextgen_tls_%d"' % (port, port) in collector
        assert 'tls.permittedPeer=["%s"])' % agent in collector
    # The plain port is open for the profile without encryption, and knows its agents by address.
    assert 'input(type="imrelp" port="2514" ruleset="nextgen_plain")' in collector
    plain_lines = [line for line in collector.splitlines() if "$fromhost-ip ==" in line]
    assert len(plain_lines) == 2 and AGENTS[2] in "".join(plain_lines) and AGENTS[3] in "".join(plain_lines)
    assert 'ruleset(name="nextgen_collect" queue.type="Direct")' in collector
    assert host_exec(COLLECTOR, "rsyslogd", "-N1").returncode == 0
    # Elasticsearch is away for the whole test: its documents wait on disk, far more than the 1,000
    # a memory queue held before it stalled the whole collector, and the files still got every line.
    es_queue = collector_stat("nextgen_elasticsearch queue")
    assert es_queue["size"] > 1000 and es_queue["discarded.full"] == 0, es_queue
    # Only the coordination profile alerts.
    assert host_exec(AGENTS[4], "test", "-f", "/etc/nextgen-rollout/logging/alerts/agent-loop.rules.yml").returncode == 0
    assert host_exec(AGENTS[0], "test", "-f", "/etc/nextgen-rollout/logging/alerts/agent-loop.rules.yml").returncode != 0


# A second rsyslogd on an agent, with that agent's certificate, sends lines that claim another
# agent's host name: on its own TLS port, on the next agent's TLS port and, from a plain agent, on
# the plain port.
FORGER = r'''
module(load="imfile" mode="polling" pollingInterval="1")
module(load="omrelp")
global(workDirectory="/root/forge")
template(name="forged" type="string" string="<14>1 %timereported:::date-rfc3339% {claimed} agent-loop - - - %msg%\n")
input(type="imfile" file="/root/forge/in.log" tag="agent-loop" ruleset="forge" freshStartTail="off")
ruleset(name="forge") {{
{actions}
}}
'''
FORGED_TLS = ('    action(type="omrelp" target="{collector}" port="{port}" tls="on" template="forged" '
              'tls.caCert="/etc/nextgen-rollout/logging/tls/ca.pem" tls.myCert="/etc/nextgen-rollout/logging/tls/host.pem" '
              'tls.myPrivKey="/etc/nextgen-rollout/logging/tls/host.key" tls.authMode="name" '
              'tls.permittedPeer=["{collector}"] queue.type="LinkedList" action.resumeRetryCount="-1")')
FORGED_PLAIN = '    action(type="omrelp" target="{collector}" port="2514" template="forged")'


def forge(sender, claimed, actions, marker):
    sh(sender, "mkdir -p /root/forge && cat > /root/forge/forge.conf <<'EOF'\n%s\nEOF"
       % FORGER.format(claimed=claimed, actions="\n".join(actions)))
    sh(sender, "rsyslogd -N1 -f /root/forge/forge.conf")
    subprocess.run(["docker", "exec", "-d", sender, "rsyslogd", "-n", "-f", "/root/forge/forge.conf",
                    "-i", "/root/forge/rsyslogd.pid"], check=True)
    sh(sender, "echo '{\"marker\": \"%s\"}' >> /root/forge/in.log" % marker)


def agent_file(host):
    return host_exec(COLLECTOR, "cat", "/var/log/nextgen-collector/%s/agent-loop.log" % host).stdout


def test_a_forged_host_name_lands_in_the_senders_own_file(rollouts):
    must(rollouts["second"])
    marker = "forged-%d" % time.time()
    # The first sender also tries the plain port, which is for the plain agents only.
    forgers = [(AGENTS[0], AGENTS[1], [FORGED_TLS.format(collector=COLLECTOR, port=6514),
                                       FORGED_TLS.format(collector=COLLECTOR, port=6515),
                                       FORGED_PLAIN.format(collector=COLLECTOR)]),
               (AGENTS[2], AGENTS[3], [FORGED_PLAIN.format(collector=COLLECTOR)])]
    try:
        for sender, claimed, actions in forgers:
            forge(sender, claimed, actions, marker)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(marker in agent_file(forger[0]) for forger in forgers):
            time.sleep(0.5)
        # Long enough for the line sent on the other agent's port to arrive, were it admitted.
        time.sleep(3)
    finally:
        for forger in forgers:
            host_exec(forger[0], "sh", "-c", "kill $(cat /root/forge/rsyslogd.pid)")
    for sender, claimed, _actions in forgers:
        assert marker in agent_file(sender), "%s: the forged line was not filed under the agent it came from" % sender
        # Were the line sent on the other agent's TLS port admitted, it would be filed as that agent's.
        assert marker not in agent_file(claimed), "%s: a line from %s was filed as its own" % (claimed, sender)
    refused = host_exec(COLLECTOR, "cat", "/var/log/nextgen-collector/refused-plain.log").stdout
    assert [line for line in refused.splitlines() if marker in line], "the TLS agent's line on the plain port was filed"
    assert len([line for line in agent_file(AGENTS[0]).splitlines() if marker in line]) == 1


def test_the_alert_rules_fire_on_an_error_burst(rollouts, tmp_path):
    rules = tmp_path / "agent-loop.rules.yml"
    rules.write_text(sh(AGENTS[4], "cat /etc/nextgen-rollout/logging/alerts/agent-loop.rules.yml"))
    check = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    series = 'nextgen_log_records_total{service="agent-loop",level="ERROR",instance="%s"}'
    (tmp_path / "burst.yml").write_text(json.dumps({
        "rule_files": [str(rules)], "evaluation_interval": "15s",
        "tests": [{"interval": "15s",
                   "input_series": [{"series": series % "burst", "values": "0+20x40"},
                                    {"series": series % "calm", "values": "0+1x40"}],
                   "alert_rule_test": [
                       {"eval_time": "4m", "alertname": "NextgenLogErrorBurst",
                        "exp_alerts": [{"exp_labels": {"severity": "critical", "agent_type": "agents_coordination",
                                                       "instance": "burst", "service": "agent-loop"},
                                        "exp_annotations": {"summary": "burst: more than 30 error records a minute"}}]},
                       {"eval_time": "30s", "alertname": "NextgenLogErrorBurst", "exp_alerts": []}]}]}))
    result = subprocess.run(["promtool", "test", "rules", str(tmp_path / "burst.yml")], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_restore_puts_the_previous_setup_back(rollouts):
    must(rollouts["second"])
    host = AGENTS[4]
    # Another service's forwarder, added after the backup, is not this service's to take away.
    sh(host, "echo '# forwarder of another service' > /etc/rsyslog.d/40-nextgen-other-service.conf")
    result = must(run_playbook("logging-rollout.yml", rollouts["inventory"],
                               {"logging_rollout_action": "restore", "logging_agent_pattern": host}))
    assert forwarder_files(host) == ["40-nextgen-other-service.conf", "50-legacy-agent.conf"]
    assert not enabled(host)
    assert host_exec(host, "systemctl", "is-active", "rsyslog").stdout.strip() == "active"
    assert host_exec(host, "test", "-e", "/etc/nextgen-rollout/logging/agent-loop.json").returncode != 0
    assert enabled(AGENTS[0]), "the other agents keep the new setup"


def test_a_rollout_killed_after_installing_the_forwarder_converges_on_the_next_run(rollouts):
    host = AGENTS[4]  # back on its previous setup since the restore above
    assert not enabled(host)
    output, killed = run_playbook_until("logging-rollout.yml", rollouts["inventory"], {"logging_agent_pattern": host},
                                        lambda out: "TASK [nextgen.rollout.logging : Check that the whole forwarder config loads]"
                                        in out, host)
    assert killed, output[-2000:]
    installed_at = int(sh(host, "stat -c %Y /etc/rsyslog.d/40-nextgen-agent-loop.conf"))
    assert not enabled(host)
    time.sleep(1.1)  # rsyslog's start time below is in whole seconds
    validations_before = validation_records(host)
    must(run_playbook("logging-rollout.yml", rollouts["inventory"], {"logging_agent_pattern": host}))
    started_at = int(sh(host, "date -d \"$(systemctl show -p ActiveEnterTimestamp --value rsyslog)\" +%s"))
    assert started_at > installed_at, "rsyslog still runs the config it had before the killed run"
    assert enabled(host) and host_exec(host, "test", "-s", "/var/lib/nextgen-rollout/logging/agent-loop.applied").returncode == 0
    assert validation_records(host) > validations_before  # this run's validation record reached the collector


def validation_records(host):
    return host_exec(COLLECTOR, "cat", "/var/log/nextgen-collector/%s/agent-loop.log" % host).stdout.count(
        "nextgen-logging-validation-%s-" % host)
