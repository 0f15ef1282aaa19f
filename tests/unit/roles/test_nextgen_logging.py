"""The helper a service imports to log through the installed profile (roles/logging/files)."""
import importlib.util
import json
import logging
import os
import threading
import time

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._logging_profile import (
    resolve_profile, service_logging_config)

HELPER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "logging", "files", "nextgen_logging.py")
SPEC = importlib.util.spec_from_file_location("nextgen_logging", HELPER)
nextgen_logging = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(nextgen_logging)

PROFILE = {"agents_ia": {"elasticsearch": True, "encryption": True, "async": True, "monitoring": True}}


def write_config(tmp_path, **changes):
    resolved = resolve_profile(["agents_ia"], PROFILE)
    config = service_logging_config("agent-loop", "host-1", resolved, str(tmp_path / "agent-loop.log"),
                                    queue_size=changes.pop("queue_size", 10000))
    config.update(changes)
    path = tmp_path / "agent-loop.json"
    path.write_text(json.dumps(config))
    return str(path)


def lines(tmp_path):
    return [json.loads(line) for line in (tmp_path / "agent-loop.log").read_text().splitlines()]


@pytest.fixture
def logger():
    log = logging.getLogger("test.nextgen_logging")
    log.propagate = False
    log.handlers[:] = []  # pytest's capture handlers: they fail a test on a record they cannot format
    yield log
    log.handlers[:] = []


def test_async_records_are_json_lines_with_the_profile_fields(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path), logger)
    logger.info("run %d finished", 7, extra={"fields": {"run_id": 7}})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("run failed")
    installed.stop()
    first, second = lines(tmp_path)
    assert first["msg"] == "run 7 finished" and first["run_id"] == 7 and first["level"] == "INFO"
    assert first["agent_type"] == "agents_ia" and first["host"] == "host-1" and first["service"] == "agent-loop"
    assert first["ts"].endswith("Z")
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]
    assert 'nextgen_log_records_total{service="agent-loop",level="ERROR"} 1' in installed.metrics_text()


def timed_calls(logger, count, message="n%d"):
    """Log ``count`` records from a thread; returns the longest single call, in seconds. Fails
    instead of hanging when the calls do not end."""
    longest = [0.0]

    def calls():
        for n in range(count):
            started = time.monotonic()
            logger.info(message, n)
            longest[0] = max(longest[0], time.monotonic() - started)
    thread = threading.Thread(target=calls, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "a caller is blocked"
    return longest[0]


def test_an_unformattable_record_is_counted_and_the_writer_goes_on(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path, queue_size=10000, block_timeout_s=1.0), logger)
    logger.info("%d records", "not a number")  # fails only when formatted, in the writer
    assert timed_calls(logger, 10001) < 1.0
    installed.stop()
    assert len(lines(tmp_path)) == 10001
    metrics = installed.metrics_text()
    assert 'nextgen_log_records_dropped_total{service="agent-loop",reason="unformattable"} 1' in metrics
    assert 'nextgen_log_records_total{service="agent-loop",level="INFO"} 10001' in metrics


def test_a_stuck_writer_never_blocks_a_caller_longer_than_its_bound(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path, queue_size=10, block_timeout_s=0.02), logger)
    installed.file_handler.acquire()  # the writer cannot write (a disk that hangs)
    try:
        assert timed_calls(logger, 100) < 0.5
    finally:
        installed.file_handler.release()
    installed.stop()
    dropped = installed.drops.counts["queue_full"]
    assert dropped > 0 and len(lines(tmp_path)) + dropped == 100
    assert 'reason="queue_full"} %d' % dropped in installed.metrics_text()


class FailingOnce(object):
    """A log file stream whose first write fails as a full disk does."""

    def __init__(self, stream):
        self.stream, self.failed = stream, False

    def write(self, text):
        if not self.failed:
            self.failed = True
            raise OSError(28, "No space left on device")
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def close(self):
        self.stream.close()


def test_a_failed_write_is_counted_and_later_records_are_written(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path), logger)
    logger.info("warming up")
    time.sleep(0.2)
    installed.file_handler.acquire()
    installed.file_handler.stream = FailingOnce(installed.file_handler.stream)
    installed.file_handler.release()
    logger.info("lost with the disk")
    time.sleep(0.2)
    logger.info("written once the disk is back")
    installed.stop()
    assert [line["msg"] for line in lines(tmp_path)] == ["warming up", "written once the disk is back"]
    assert installed.drops.counts["write_error"] == 1
    assert 'reason="write_error"} 1' in installed.metrics_text()


def test_a_full_queue_makes_callers_wait_and_drops_nothing(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path, queue_size=5), logger)
    threads = [threading.Thread(target=lambda k=k: [logger.info("t%d n%d", k, n) for n in range(500)])
               for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    installed.stop()
    assert len(lines(tmp_path)) == 2000


def test_the_sync_profile_writes_in_the_caller(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path, **{"async": False}), logger)
    logger.warning("now")
    assert lines(tmp_path)[0]["msg"] == "now"  # on disk before stop()
    installed.stop()


def test_a_bad_config_is_refused_with_the_reason(tmp_path, logger):
    path = tmp_path / "bad.json"
    path.write_text('{"service": "x"}')
    with pytest.raises(nextgen_logging.ConfigError, match="lacks"):
        nextgen_logging.configure(str(path), logger)
    assert nextgen_logging.main(["--config", str(tmp_path / "missing.json"), "--check"]) == 2


def test_the_validation_record_carries_its_marker(tmp_path, capsys):
    validation = tmp_path / "validation.log"
    assert nextgen_logging.main(["--config", write_config(tmp_path), "--emit-validation", "marker-42",
                                 "--log-file", str(validation)]) == 0
    assert not (tmp_path / "agent-loop.log").exists() or not (tmp_path / "agent-loop.log").read_text()
    record = json.loads(validation.read_text().splitlines()[0])
    assert record["marker"] == "marker-42" and record["event"] == "nextgen-logging-validation"
    assert json.loads(capsys.readouterr().out)["marker"] == "marker-42"
