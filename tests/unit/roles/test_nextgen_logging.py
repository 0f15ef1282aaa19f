"""The helper a service imports to log through the installed profile (roles/logging/files)."""
import importlib.util
import json
import logging
import os
import signal
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


def wait_for(condition, what, deadline_s=10.0):
    """Bounded wait on what a fixed sleep would only hope for (a loaded machine is slow)."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, "waited %.0f s, still not: %s" % (deadline_s, what)
        time.sleep(0.02)


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


def timed_calls(logger, count, padding=0):
    """Log ``count`` records (with ``padding`` characters each) from a thread; returns the longest
    single call, in seconds. Fails instead of hanging when the calls do not end."""
    longest = [0.0]

    def calls():
        for n in range(count):
            started = time.monotonic()
            logger.info("n%d%s", n, "x" * padding)
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
    assert 'nextgen_log_records_total{service="agent-loop",level="INFO"} 10002' in metrics


def test_a_stuck_writer_never_blocks_a_caller_longer_than_its_bound(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path, queue_size=10, block_timeout_s=0.02), logger)
    writer = installed.listener.sink.child
    os.kill(writer.pid, signal.SIGSTOP)  # the writer cannot write (a disk that hangs)
    try:
        # Past what the pipe holds (1 MiB), so that the queue fills up.
        assert timed_calls(logger, 100, padding=30000) < 0.5
    finally:
        os.kill(writer.pid, signal.SIGCONT)
    installed.stop()
    dropped = installed.drops.snapshot()["queue_full"]
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


def test_when_the_writer_process_dies_the_thread_writes_and_counts_a_failed_write(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path), logger)
    logger.info("warming up")
    wait_for(lambda: (tmp_path / "agent-loop.log").exists() and lines(tmp_path), "the writer process wrote the first line")
    writer = installed.listener.sink.child
    writer.kill()
    writer.wait()
    installed.file_handler.acquire()
    installed.file_handler.stream = FailingOnce(installed.file_handler.stream)
    installed.file_handler.release()
    logger.info("lost with the disk")
    wait_for(lambda: installed.drops.snapshot()["write_error"] == 1, "the thread counted the failed write")
    logger.info("written once the disk is back")
    listener = installed.listener
    installed.stop()
    assert isinstance(listener.sink, nextgen_logging.LocalSink)
    assert [line["msg"] for line in lines(tmp_path)] == ["warming up", "written once the disk is back"]
    assert installed.drops.snapshot()["write_error"] == 1
    assert 'reason="write_error"} 1' in installed.metrics_text()


def test_the_writer_process_reports_what_it_could_not_write(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path), logger, log_file="/dev/full")
    assert isinstance(installed.listener.sink, nextgen_logging.WriterProcess), "no writer process"
    for n in range(3):
        logger.info("n%d", n)
    installed.stop()
    assert installed.drops.snapshot() == {"queue_full": 0, "unformattable": 0, "write_error": 3}


class Opaque(object):
    def __str__(self):
        return "an object the writer process could not rebuild"


def test_values_that_cannot_cross_to_the_writer_process_are_formatted_first(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path), logger)
    logger.info("got %s", Opaque(), extra={"fields": {"plain": 1}})
    logger.info("then %s", "a plain value")
    installed.stop()
    expected = ["got an object the writer process could not rebuild", "then a plain value"]
    assert [line["msg"] for line in lines(tmp_path)] == expected
    assert lines(tmp_path)[0]["plain"] == 1


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


class Collecting(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_a_plain_call_takes_the_fast_path_and_is_written_as_a_record_would_be(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path), logger)
    assert isinstance(logger, nextgen_logging.FastPathLogger)
    assert nextgen_logging.FAST_PATH[0].serves(logger)
    logger.info("run %d finished in %.1f s", 7, 0.25, extra={"fields": {"run_id": 7}})
    logger.warning("named %(what)s", {"what": "args"})
    # A filter on the way sends the same call through the standard path (a LogRecord).
    logger.addFilter(lambda record: True)
    assert not nextgen_logging.FAST_PATH[0].serves(logger)
    logger.info("run %d finished in %.1f s", 7, 0.25, extra={"fields": {"run_id": 7}})
    logger.filters[:] = []
    installed.stop()
    fast, named, standard = lines(tmp_path)
    assert named["msg"] == "named args" and named["level"] == "WARNING"
    fast.pop("ts"), standard.pop("ts")
    assert fast == standard == {"level": "INFO", "logger": "test.nextgen_logging", "msg": "run 7 finished in 0.2 s",
                                "service": "agent-loop", "host": "host-1", "agent_type": "agents_ia", "run_id": 7}
    assert 'nextgen_log_records_total{service="agent-loop",level="INFO"} 2' in installed.metrics_text()


def test_another_handler_on_the_way_gets_every_record(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path), logger)
    parent = logging.getLogger("test")
    seen = Collecting()
    parent.addHandler(seen)
    logger.propagate = True
    try:
        logger.info("seen by both")
    finally:
        logger.propagate = False
        parent.removeHandler(seen)
    installed.stop()
    assert [record.getMessage() for record in seen.records] == ["seen by both"]
    assert [line["msg"] for line in lines(tmp_path)] == ["seen by both"]


def test_once_stopped_a_logger_reports_the_services_caller_again(tmp_path, logger):
    installed = nextgen_logging.configure(write_config(tmp_path), logger)
    installed.stop()
    assert nextgen_logging.FAST_PATH[0] is None
    seen = Collecting()
    logger.addHandler(seen)
    saved = logging._srcfile  # pylint: disable=protected-access
    logging._srcfile = os.path.normcase(logging.addLevelName.__code__.co_filename)  # as the logging module sets it
    try:
        logger.info("where")
    finally:
        logging._srcfile = saved
    assert seen.records[0].funcName == "test_once_stopped_a_logger_reports_the_services_caller_again"
