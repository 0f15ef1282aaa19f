import json
import os

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._release_command import (
    command_line, failure_report, release_command_problems, run_argv, run_release_command)

DEFINITION = {"services": {"app": {"image": "shop:1.2.0", "env_file": ["/var/lib/nextgen-rollout/shop/green.env"]}}}


@pytest.mark.parametrize("command", ["", "python3 manage.py migrate", ["python3", "manage.py", "migrate"], ["migrate"]])
def test_a_command_line_or_a_list_of_arguments_is_right(command):
    assert release_command_problems(command, 300) == []


@pytest.mark.parametrize("command", [[], ["python3", ""], ["migrate", 5], "   ", 5, {"cmd": "migrate"}, None])
def test_anything_else_is_refused_with_what_to_give(command):
    assert release_command_problems(command, 300) == [
        "rollout_release_command is %r: give a command line (a string) or its arguments (a list of non-empty strings), such as "
        "[python3, manage.py, migrate]; '' for none" % (command,)]


@pytest.mark.parametrize("timeout", [0, -5, "soon", None])
def test_a_timeout_must_be_more_than_0_seconds(timeout):
    assert release_command_problems("migrate", timeout) == ["rollout_release_command_timeout is %s: use more than 0 s" % (timeout,)]


def test_the_command_runs_in_a_one_off_container_of_the_service_without_its_dependencies_within_the_timeout():
    assert run_argv("shop-green", "/tmp/x/compose.json", "app", "python3 manage.py migrate --database 'main db'", "shop-green-release",
                    300) == [
        "timeout", "--kill-after=3", "300s", "docker", "compose", "--project-name", "shop-green", "--file", "/tmp/x/compose.json",
        "run", "--rm", "--no-deps", "-T", "--name", "shop-green-release", "app", "python3", "manage.py", "migrate", "--database",
        "main db"]
    assert run_argv("shop-green", "f", "app", ["sh", "-c", "a && b"], "n", 2.5)[2] == "2.5s"
    assert run_argv("shop-green", "f", "app", ["sh", "-c", "a && b"], "n", 2.5)[-3:] == ["sh", "-c", "a && b"]
    assert command_line(["sh", "-c", "a && b"]) == "sh -c 'a && b'"
    assert command_line("migrate --all") == "migrate --all"


class Host(object):
    """A stand-in for the module's runner: records each argv, reads the compose file while the
    command runs, and answers as docker would."""

    def __init__(self, rc=0, out="", err="", seconds=1.0):
        self.calls, self.answer, self.seconds, self.now, self.definition = [], (rc, out, err), seconds, 100.0, None

    def clock(self):
        return self.now

    def run(self, argv):
        self.calls.append(argv)
        if "compose" in argv:
            compose_file = argv[argv.index("--file") + 1]
            assert oct(os.stat(compose_file).st_mode & 0o777) == "0o600"
            with open(compose_file) as handle:
                self.definition = json.load(handle)
            self.now += self.seconds
            return self.answer
        return 0, "", ""


def test_a_left_container_is_removed_first_and_the_definition_is_given_to_compose_then_removed():
    host = Host(out="Applying 0042_email... OK")
    outcome = run_release_command(host.run, "shop-green", DEFINITION, "app", ["python3", "manage.py", "migrate"], "shop-green-release",
                                  300, clock=host.clock)
    assert outcome == {"rc": 0, "stdout": "Applying 0042_email... OK", "stderr": "", "elapsed_s": 1.0, "timed_out": False}
    assert host.calls[0] == ["docker", "rm", "--force", "shop-green-release"]
    assert len(host.calls) == 2 and host.definition == DEFINITION
    compose_file = host.calls[1][host.calls[1].index("--file") + 1]
    assert not os.path.exists(os.path.dirname(compose_file))
    assert failure_report(outcome, ["python3", "manage.py", "migrate"], "1.2.0", 300) == ""


def test_a_failed_command_is_reported_with_its_code_and_last_lines():
    host = Host(rc=3, out="Applying 0042_email...\n", err=" Network shop-green_default  Creating\n Network shop-green_default  Created\n"
                "column users.email already exists\ncolumn users.email already exists\n")
    outcome = run_release_command(host.run, "shop-green", DEFINITION, "app", "python3 manage.py migrate", "shop-green-release", 300,
                                  clock=host.clock)
    assert len(host.calls) == 2, "no removal after a command that ended"
    assert failure_report(outcome, "python3 manage.py migrate", "1.2.0", 300) == (
        "the release command (rollout_release_command) python3 manage.py migrate, run in a one-off container of 1.2.0 before it "
        "started, exited with code 3; its last output: Applying 0042_email... | column users.email already exists (2 times)")
    assert failure_report(outcome, "python3 manage.py migrate", "1.2.0", 300, log_lines=0).endswith("exited with code 3")
    assert failure_report(dict(outcome, stdout="", stderr=""), "m", "1.2.0", 300).endswith("exited with code 3; it wrote nothing")


@pytest.mark.parametrize("rc", [124, 137, -9])
def test_a_command_that_outlives_its_timeout_is_reported_so_and_its_container_removed(rc):
    host = Host(rc=rc, out="waiting for the lock", seconds=5.0)
    outcome = run_release_command(host.run, "shop-green", DEFINITION, "app", "migrate", "shop-green-release", 5, clock=host.clock)
    assert outcome["timed_out"] and host.calls[-1] == ["docker", "rm", "--force", "shop-green-release"]
    assert failure_report(outcome, "migrate", "1.2.0", 5) == (
        "the release command (rollout_release_command) migrate, run in a one-off container of 1.2.0 before it started, did not "
        "finish within rollout_release_command_timeout (5 s); its container was removed")


def test_a_command_that_exits_124_by_itself_before_the_timeout_is_a_failure_not_a_timeout():
    host = Host(rc=124, seconds=0.5)
    outcome = run_release_command(host.run, "shop-green", DEFINITION, "app", "migrate", "shop-green-release", 5, clock=host.clock)
    assert not outcome["timed_out"] and len(host.calls) == 2
    assert "exited with code 124" in failure_report(outcome, "migrate", "1.2.0", 5)
