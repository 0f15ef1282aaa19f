# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Structured JSON logging for a Python service, configured by the file the logging role installs.

In the service:

    import nextgen_logging
    nextgen_logging.configure("/etc/nextgen-rollout/logging/agent-loop.json")
    logging.getLogger("agent").info("run finished", extra={"fields": {"run_id": 42}})

Every record becomes one JSON line in the config's ``log_file`` (the forwarder reads that file).
With ``async`` the caller only puts the record on a queue (the message is merged with its
arguments in the writer thread, so pass values, not objects you change afterwards); a writer
thread formats and writes it. A full queue makes the caller wait, at most ``block_timeout_s``
(default 1 s): the service never hangs on its logs. What could not be written (queue still full
after that wait, a record that cannot be formatted, a failed write) is counted by reason, never
silently. With ``monitoring`` the records are counted by level, and ``metrics_text()`` gives
them, the drops and the queue depth in Prometheus text format.

From a shell: ``nextgen_logging.py --config FILE --check`` loads the config, and
``--emit-validation MARKER [--log-file FILE]`` writes one validation record through it and waits
until it is on disk.
Only the standard library is used.
"""

import argparse
import atexit
import collections.abc
import json
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    pass


def load_config(path):
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError("cannot read the logging config %s: %s" % (path, exc))
    missing = [key for key in ("service", "log_file", "level", "async", "queue_size", "fields") if key not in config]
    if missing:
        raise ConfigError("the logging config %s lacks %s" % (path, ", ".join(missing)))
    if config["level"] not in LEVELS:
        raise ConfigError("the logging config %s has level %r; use one of %s" % (path, config["level"], ", ".join(LEVELS)))
    return config


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ms), level, logger, message, the config's fields and
    the record's own ``fields`` (passed as ``extra={"fields": {...}}``, which win over the config's)."""

    BASE_KEYS = frozenset(("ts", "level", "logger", "msg", "exception"))

    def __init__(self, fields):
        super().__init__()
        self.fields = dict(fields)
        self.encode = compact_encoder()
        self.string = json.encoder.encode_basestring
        self.fields_text = self.encode(self.fields)[1:-1]
        self.shadowed = self.BASE_KEYS | frozenset(self.fields)
        self.second = None
        self.second_text = ""
        self.logger_text = {}

    def format(self, record):
        second = int(record.created)
        if second != self.second:  # one strftime a second, not one a record
            self.second, self.second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        extra = getattr(record, "fields", None)
        if record.exc_text or (extra and (not isinstance(extra, dict) or not self.shadowed.isdisjoint(extra))):
            return self.format_slowly(record, extra)
        logger = self.logger_text.get(record.name)
        if logger is None:
            logger = self.logger_text[record.name] = self.string(record.name)
        return '{"ts":"%s.%03dZ","level":"%s","logger":%s,"msg":%s,%s%s}' % (
            self.second_text, record.msecs, record.levelname, logger, self.string(record.getMessage()),
            self.fields_text, ("," + self.encode(extra)[1:-1]) if extra else "")

    def format_slowly(self, record, extra):
        """The general case: an exception, or record fields that replace the config's."""
        entry = {"ts": "%s.%03dZ" % (self.second_text, record.msecs), "level": record.levelname,
                 "logger": record.name, "msg": record.getMessage()}
        entry.update(self.fields)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return self.encode(entry)


def compact_encoder():
    """A function that makes compact JSON (anything else through str). JSONEncoder.encode builds its
    C encoder anew on every call; the one made here is built once (CPython's json accelerator), else
    it is JSONEncoder.encode."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=False).encode
    encoder = make(None, str, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(encoder(value, 0))


class CallerlessRecord(logging.LogRecord):
    """A LogRecord with the same attributes, made for a process that records no caller, thread or
    process (caller_info false): it skips the path, thread and process lookups whose result would
    be empty anyway, which is most of the cost of a log call."""

    def __init__(self, name, level, pathname, lineno, msg, args, exc_info, func=None, sinfo=None, **_kwargs):
        # pylint: disable=super-init-not-called
        created = time.time()
        if args and len(args) == 1 and isinstance(args[0], collections.abc.Mapping) and args[0]:
            args = args[0]
        self.name, self.msg, self.args, self.levelno = name, msg, args, level
        self.levelname = LEVEL_NAMES.get(level) or logging.getLevelName(level)
        self.pathname, self.lineno, self.funcName = pathname, lineno, func
        self.filename, self.module = path_parts(pathname)
        self.exc_info, self.exc_text, self.stack_info = exc_info, None, sinfo
        self.created, self.msecs = created, int((created - int(created)) * 1000) + 0.0
        self.relativeCreated = (created - START_TIME) * 1000
        self.thread = self.threadName = self.processName = self.process = self.taskName = None


LEVEL_NAMES = dict((getattr(logging, name), name) for name in LEVELS)
START_TIME = logging._startTime  # pylint: disable=protected-access
PATH_PARTS = {}


def path_parts(pathname):
    """(filename, module) of a source path, as LogRecord computes them, remembered per path."""
    parts = PATH_PARTS.get(pathname)
    if parts is None:
        filename = os.path.basename(pathname)
        parts = PATH_PARTS[pathname] = (filename, os.path.splitext(filename)[0])
    return parts


class LevelCounter(logging.Filter):
    """Counts the records that reach the file, by level (the profile's monitoring)."""

    def __init__(self):
        super().__init__()
        self.counts = dict((level, 0) for level in LEVELS)
        self.lock = threading.Lock()

    def filter(self, record):
        with self.lock:
            self.counts[record.levelname] = self.counts.get(record.levelname, 0) + 1
        return True


class Drops(object):
    """Records that could not be written, by reason: queue_full, unformattable, write_error."""

    REASONS = ("queue_full", "unformattable", "write_error")

    def __init__(self):
        self.counts = dict((reason, 0) for reason in self.REASONS)
        self.lock = threading.Lock()

    def add(self, reason, count=1):
        with self.lock:
            self.counts[reason] += count


class BoundedQueueHandler(logging.handlers.QueueHandler):
    """Puts records on the queue as they are: merging the message, formatting and writing are the
    writer thread's. When the queue holds ``limit`` records the caller waits for room at most
    ``block_timeout`` seconds; a record still without room is counted in ``drops`` instead of
    blocking the service. ``limit`` 0 means unbounded."""

    def __init__(self, records, limit, block_timeout, drops):
        super().__init__(records)
        self.limit = limit or float("inf")
        self.block_timeout = block_timeout
        self.drops = drops
        self.put, self.qsize = records.put, records.qsize

    def handle(self, record):
        # The queue is thread-safe: no handler lock around each record.
        if self.qsize() >= self.limit and not self.room_within_timeout():
            self.drops.add("queue_full")
            return True
        self.put(record)
        return True

    def room_within_timeout(self):
        deadline = time.monotonic() + self.block_timeout
        while self.qsize() >= self.limit:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.0005)
        return True


class BatchWriter(object):
    """The writer thread of the async profile: takes what the queue holds (up to ``batch``
    records), formats each, and writes them with one write and one flush. A record that cannot be
    formatted or a write that fails is counted in ``drops``; the thread itself never dies of it."""

    stop_sentinel = object()

    def __init__(self, records, file_handler, drops, batch=512):
        self.queue = records
        self.file_handler = file_handler
        self.drops = drops
        self.batch = batch
        self.thread = threading.Thread(target=self.run, name="nextgen-logging-writer", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self, timeout=10.0):
        if self.thread.is_alive():
            self.queue.put(self.stop_sentinel)  # what is queued before it is written
            self.thread.join(timeout)

    def lines_of(self, pending):
        handler, lines = self.file_handler, []
        for record in pending:
            if record.levelno < handler.level:
                continue
            try:
                line = handler.format(record)
            except Exception:  # pylint: disable=broad-except
                self.drops.add("unformattable")
                continue
            if handler.filter(record):
                lines.append(line)
        return lines

    def write(self, lines):
        handler = self.file_handler
        handler.acquire()
        try:
            handler.reopenIfNeeded()
            handler.stream.write("\n".join(lines) + "\n")
            handler.stream.flush()
        except Exception:  # pylint: disable=broad-except
            self.drops.add("write_error", len(lines))
        finally:
            handler.release()

    def run(self):
        get, get_nowait = self.queue.get, self.queue.get_nowait
        running = True
        while running:
            pending = [get()]
            try:
                while len(pending) < self.batch:
                    pending.append(get_nowait())
            except queue.Empty:
                pass
            if self.stop_sentinel in pending:
                running = False
                pending = [record for record in pending if record is not self.stop_sentinel]
            lines = self.lines_of(pending)
            if lines:
                self.write(lines)


class Installed(object):
    """What configure() set up; stop() flushes and detaches it."""

    def __init__(self, config, target, handler, listener, counter, file_handler, drops):
        self.config = config
        self.target = target
        self.handler = handler
        self.listener = listener
        self.counter = counter
        self.file_handler = file_handler
        self.drops = drops

    def stop(self):
        if self.handler in self.target.handlers:
            self.target.removeHandler(self.handler)
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self.file_handler.close()

    def metrics_text(self):
        if self.counter is None:
            return ""
        lines = ["# HELP nextgen_log_records_total Log records written, by level.",
                 "# TYPE nextgen_log_records_total counter"]
        with self.counter.lock:
            for level, count in sorted(self.counter.counts.items()):
                lines.append('nextgen_log_records_total{service="%s",level="%s"} %d'
                             % (self.config["service"], level, count))
        lines += ["# HELP nextgen_log_records_dropped_total Log records not written, by reason.",
                  "# TYPE nextgen_log_records_dropped_total counter"]
        with self.drops.lock:
            for reason, count in sorted(self.drops.counts.items()):
                lines.append('nextgen_log_records_dropped_total{service="%s",reason="%s"} %d'
                             % (self.config["service"], reason, count))
        if self.listener is not None:
            lines += ["# HELP nextgen_log_queue_depth Records waiting for the writer thread.",
                      "# TYPE nextgen_log_queue_depth gauge",
                      'nextgen_log_queue_depth{service="%s"} %d' % (self.config["service"], self.listener.queue.qsize())]
        return "\n".join(lines) + "\n"


def configure(path, logger=None, log_file=None):
    """Install the config at ``path`` on ``logger`` (default the root logger); returns Installed.
    ``log_file`` writes elsewhere than the config says (the validation file)."""
    config = load_config(path)
    if log_file:
        config["log_file"] = log_file
    file_handler = logging.handlers.WatchedFileHandler(config["log_file"], encoding="utf-8")
    file_handler.setFormatter(JsonFormatter(config["fields"]))
    counter = None
    if config.get("monitoring"):
        counter = LevelCounter()
        file_handler.addFilter(counter)
    listener, drops = None, Drops()
    if config["async"]:
        records = queue.SimpleQueue()
        handler = BoundedQueueHandler(records, config["queue_size"], float(config.get("block_timeout_s", 1.0)), drops)
        listener = BatchWriter(records, file_handler, drops)
        listener.start()
    else:
        handler = file_handler
    if not config.get("caller_info", True):
        # The records never show file, line, thread or process: skip looking them up (process-wide).
        logging._srcfile = None  # pylint: disable=protected-access
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
        if logging.getLogRecordFactory() is logging.LogRecord:  # never replaces a factory the service set
            logging.setLogRecordFactory(CallerlessRecord)
    target = logger or logging.getLogger()
    target.setLevel(config["level"])
    target.addHandler(handler)
    installed = Installed(config, target, handler, listener, counter, file_handler, drops)
    atexit.register(installed.stop)
    return installed


def main(argv=None):
    parser = argparse.ArgumentParser(description="Check a logging config, or send a validation record through it.")
    parser.add_argument("--config", required=True)
    parser.add_argument("--check", action="store_true", help="load the config and open its log file, then stop")
    parser.add_argument("--emit-validation", metavar="MARKER", help="write one validation record carrying MARKER")
    parser.add_argument("--log-file", help="write to this file instead of the config's (the forwarder's validation file)")
    args = parser.parse_args(argv)
    try:
        installed = configure(args.config, logging.getLogger("nextgen_logging.validation"), args.log_file)
    except (ConfigError, OSError) as exc:
        sys.stderr.write("ERROR: %s\n" % exc)
        return 2
    if args.emit_validation:
        logging.getLogger("nextgen_logging.validation").warning(
            "logging validation record", extra={"fields": {"event": "nextgen-logging-validation",
                                                           "marker": args.emit_validation}})
    installed.stop()
    print(json.dumps({"config": args.config, "log_file": installed.config["log_file"],
                      "async": installed.config["async"], "marker": args.emit_validation}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
