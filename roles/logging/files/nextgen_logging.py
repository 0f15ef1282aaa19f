# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Structured JSON logging for a Python service, configured by the file the logging role installs.

In the service:

    import nextgen_logging
    nextgen_logging.configure("/etc/nextgen-rollout/logging/agent-loop.json")
    logging.getLogger("agent").info("run finished", extra={"fields": {"run_id": 42}})

Every record becomes one JSON line in the config's ``log_file`` (the forwarder reads that file).
With ``async`` the caller only puts the call on a queue: the message is merged with its
arguments later, so pass values, not objects you change afterwards. A writer thread takes what
the queue holds and sends it down a pipe to a writer process (this file with
``--write-batches``, started by configure()), which formats and writes it: formatting never
holds the service's interpreter lock. Values that cannot cross the pipe as they are (anything
but str, int, float, bool, None and containers of them) are formatted in the writer thread first.
Should the writer process die or fail to start, the writer thread formats and writes itself. The
process ignores SIGINT and SIGTERM and ends when its pipe closes, once everything is written.

Without caller info (the profiles' setting), a call whose logger and its parents carry no filter
and no other handler skips the LogRecord (configure() makes the process's plain loggers
FastPathLoggers for this; any other call takes the standard path).

A full queue makes the caller wait, at most ``block_timeout_s`` (default 1 s): the service never
hangs on its logs. What could not be written (queue still full after that wait, a record that
cannot be formatted, a failed write) is counted by reason, never silently. With ``monitoring``
the records are counted by level, and ``metrics_text()`` gives them, the drops and the queue
depth in Prometheus text format.

From a shell: ``nextgen_logging.py --config FILE --check`` loads the config, and
``--emit-validation MARKER [--log-file FILE]`` writes one validation record through it and waits
until it is on disk.
Only the standard library is used.
"""

import argparse
import atexit
import collections
import collections.abc
import fcntl
import json
import logging
import logging.handlers
import marshal
import os
import queue
import signal
import struct
import subprocess
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
        self.second = self.millisecond = None
        self.second_text = self.stamp = ""
        self.logger_text = {}

    def format(self, record):
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        return self.format_parts(record.created, record.levelname, record.name, record.getMessage(),
                                 getattr(record, "fields", None), record.exc_text)

    def format_queued(self, item):
        """The line of a call the fast path queued: (created, level, logger, msg, args, extra)."""
        created, level, name, msg, args, extra = item
        message = str(msg)
        if args:
            message = message % merged_args(args)
        return self.format_parts(created, level_name(level), name, message,
                                 extra["fields"] if extra else None, None)

    def format_parts(self, created, levelname, name, message, extra, exc_text):
        millisecond = int(created * 1000)
        if millisecond != self.millisecond:  # records of the same millisecond share their stamp
            second = millisecond // 1000
            if second != self.second:  # one strftime a second, not one a record
                self.second, self.second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self.millisecond, self.stamp = millisecond, "%s.%03dZ" % (self.second_text, millisecond % 1000)
        if exc_text or (extra and (not isinstance(extra, dict) or not self.shadowed.isdisjoint(extra))):
            return self.format_slowly(self.stamp, levelname, name, message, extra, exc_text)
        logger = self.logger_text.get(name)
        if logger is None:
            logger = self.logger_text[name] = self.string(name)
        return '{"ts":"%s","level":"%s","logger":%s,"msg":%s,%s%s}' % (
            self.stamp, levelname, logger, self.string(message), self.fields_text,
            ("," + self.encode(extra)[1:-1]) if extra else "")

    def format_slowly(self, stamp, levelname, name, message, extra, exc_text):
        """The general case: an exception, or record fields that replace the config's."""
        entry = {"ts": stamp, "level": levelname, "logger": name, "msg": message}
        entry.update(self.fields)
        if isinstance(extra, dict):
            entry.update(extra)
        if exc_text:
            entry["exception"] = exc_text
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
        self.name, self.msg, self.args, self.levelno = name, msg, merged_args(args), level
        self.levelname = level_name(level)
        self.pathname, self.lineno, self.funcName = pathname, lineno, func
        self.filename, self.module = path_parts(pathname)
        self.exc_info, self.exc_text, self.stack_info = exc_info, None, sinfo
        self.created, self.msecs = created, int((created - int(created)) * 1000) + 0.0
        self.relativeCreated = (created - START_TIME) * 1000
        self.thread = self.threadName = self.processName = self.process = self.taskName = None


LEVEL_NAMES = dict((getattr(logging, name), name) for name in LEVELS)


def level_name(level):
    return LEVEL_NAMES.get(level) or logging.getLevelName(level)


def merged_args(args):
    """A log call's arguments as LogRecord keeps them: one non-empty mapping stands for itself."""
    if args and len(args) == 1 and isinstance(args[0], collections.abc.Mapping) and args[0]:
        return args[0]
    return args


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
        self.add(record.levelname)
        return True

    def add(self, levelname, count=1):
        with self.lock:
            self.counts[levelname] = self.counts.get(levelname, 0) + count


class Drops(object):
    """Records that could not be written, by reason: queue_full, unformattable, write_error."""

    REASONS = ("queue_full", "unformattable", "write_error")

    def __init__(self):
        self.counts = dict((reason, 0) for reason in self.REASONS)
        self.child = dict((reason, 0) for reason in self.REASONS)
        self.lock = threading.Lock()

    def add(self, reason, count=1):
        with self.lock:
            self.counts[reason] += count

    def set_child(self, counts):
        """The writer process's own cumulative counts."""
        with self.lock:
            self.child = dict((reason, int(counts.get(reason, 0))) for reason in self.REASONS)

    def snapshot(self):
        with self.lock:
            return dict((reason, self.counts[reason] + self.child[reason]) for reason in self.REASONS)


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
        self.enqueue(record)
        return True

    def enqueue(self, item):
        """Queue a record, or a call the fast path took (the queue is thread-safe: no handler lock)."""
        if self.qsize() >= self.limit and not self.room_within_timeout():
            self.drops.add("queue_full")
            return
        self.put(item)

    def room_within_timeout(self):
        deadline = time.monotonic() + self.block_timeout
        while self.qsize() >= self.limit:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.0005)
        return True


class BatchWriter(object):
    """The writer thread of the async profile: takes what the queue holds (up to ``batch``
    records), counts them by level and hands them to its sink in one piece: a WriterProcess, else
    (no process could start, or it died) a LocalSink. The thread never dies of a record or a write."""

    stop_sentinel = object()

    def __init__(self, records, sink, counter=None, batch=512):
        self.queue = records
        self.sink = sink
        self.counter = counter
        self.batch = batch
        self.thread = threading.Thread(target=self.run, name="nextgen-logging-writer", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self, timeout=10.0):
        if self.thread.is_alive():
            self.queue.put(self.stop_sentinel)  # what is queued before it is written
            self.thread.join(timeout)
        self.sink.close(timeout)

    def count(self, pending):
        levels = collections.Counter(item.levelno if isinstance(item, logging.LogRecord) else item[1] for item in pending)
        for level, count in levels.items():
            self.counter.add(level_name(level), count)

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
                pending = [item for item in pending if item is not self.stop_sentinel]
            if not pending:
                continue
            if self.counter is not None:
                self.count(pending)
            self.sink = self.sink.write(pending)


class LocalSink(object):
    """Formats and writes a batch in this process, with one write and one flush. A record that
    cannot be formatted or a write that fails is counted in ``drops``."""

    def __init__(self, file_handler, drops):
        self.file_handler = file_handler
        self.drops = drops

    def write(self, pending):
        """Write ``pending`` (queued calls and LogRecords); returns the sink for the next batch."""
        handler, format_queued, lines = self.file_handler, self.file_handler.formatter.format_queued, []
        for item in pending:
            kind = type(item)  # a line the writer thread made, a queued call, or a LogRecord
            try:
                lines.append(item if kind is str else format_queued(item) if kind is tuple else handler.format(item))
            except Exception:  # pylint: disable=broad-except
                self.drops.add("unformattable")
        if not lines:
            return self
        handler.acquire()
        try:
            handler.reopenIfNeeded()
            handler.stream.write("\n".join(lines) + "\n")
            handler.stream.flush()
        except Exception:  # pylint: disable=broad-except
            self.drops.add("write_error", len(lines))
        finally:
            handler.release()
        return self

    def read_reports(self):
        pass

    def close(self, timeout=None):
        pass


class WriterProcess(object):
    """Formats and writes in a child process (this file with --write-batches), so formatting never
    holds the service's interpreter lock. A batch goes down a pipe as one marshal dump: queued calls
    whose values are all plain (str, int, float, bool, None, tuples, lists, dicts of them) as they
    are, anything else formatted here first. The child reports what it could not write on its
    stdout. Should the child die, the batch that failed and all later ones go to ``local``."""

    def __init__(self, config_path, log_file, drops, local):
        if not os.path.basename(sys.executable or "").startswith(("python", "pypy")):
            # An embedding server (uWSGI...) is no interpreter to run this file with.
            raise OSError("no Python interpreter to start the writer process with (%r)" % (sys.executable,))
        command = [sys.executable, "-I", "-S", os.path.abspath(__file__), "--write-batches", "--config", config_path]
        self.child = subprocess.Popen(command + (["--log-file", log_file] if log_file else []),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self.pipe = self.child.stdin.fileno()
        self.drops = drops
        self.local = local
        self.reports = b""
        self.reports_lock = threading.Lock()
        os.set_blocking(self.child.stdout.fileno(), False)
        try:  # a deeper pipe absorbs a burst while the child catches up (Linux only)
            fcntl.fcntl(self.pipe, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        except OSError:
            pass

    def shippable(self, item):
        """``item`` as it can cross the pipe: a queued call of plain values as it is, else its line."""
        if type(item) is not tuple:  # pylint: disable=unidiomatic-typecheck
            return self.local.file_handler.format(item)
        try:
            marshal.dumps(item)
            return item
        except ValueError:
            return self.local.file_handler.formatter.format_queued(item)

    def write(self, pending):
        try:
            payload = marshal.dumps(pending)
        except ValueError:
            shipped = []
            for item in pending:
                try:
                    shipped.append(self.shippable(item))
                except Exception:  # pylint: disable=broad-except
                    self.drops.add("unformattable")
            payload = marshal.dumps(shipped)
        data = memoryview(struct.pack("<I", len(payload)) + payload)
        try:
            while data:
                data = data[os.write(self.pipe, data):]
        except OSError:  # the child is gone: this batch and the next are written here
            self.close(0)
            return self.local.write(pending)
        return self

    def read_reports(self, until_end=False):
        """The child's latest counts of what it could not write (JSON lines, cumulative)."""
        with self.reports_lock:
            stream = self.child.stdout
            if stream.closed:
                return
            chunk = stream.read() if until_end else stream.read(65536)
            lines = (self.reports + (chunk or b"")).split(b"\n")
            self.reports = lines[-1]
        for line in reversed(lines[:-1]):
            try:
                self.drops.set_child(json.loads(line))
                break
            except ValueError:
                continue

    def close(self, timeout=10.0):
        if self.child.stdin and not self.child.stdin.closed:
            try:
                self.child.stdin.close()
            except OSError:
                pass
        try:
            self.child.wait(timeout)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        if not self.child.stdout.closed:
            os.set_blocking(self.child.stdout.fileno(), True)
            self.read_reports(until_end=True)
            self.child.stdout.close()


def write_batches(config_path, log_file=None):
    """The writer process: formats and writes the batches WriterProcess sends, until its pipe
    closes; after each batch with a loss it prints its cumulative counts of what it could not write."""
    config = load_config(config_path)
    file_handler = logging.handlers.WatchedFileHandler(log_file or config["log_file"], encoding="utf-8")
    file_handler.setFormatter(JsonFormatter(config["fields"]))
    source, reports = sys.stdin.buffer, sys.stdout
    drops = Drops()
    sink = LocalSink(file_handler, drops)
    while True:
        header = source.read(4)
        if len(header) < 4:
            break
        size = struct.unpack("<I", header)[0]
        before = dict(drops.counts)
        sink.write(marshal.loads(source.read(size)))
        if drops.counts != before:
            reports.write(json.dumps(drops.counts) + "\n")
            reports.flush()
    file_handler.close()
    return 0


class FastPath(object):
    """The async profile's shortest way from a log call to the queue, for a process that records no
    caller (caller_info false): a call whose logger and its parents have no filter and no handler
    but the installed queue handler is queued as a tuple (time, level, logger, msg, args, extra),
    with no LogRecord, no handler lock and no filter walk; the writer formats it.
    Everything else (exc_info, stack_info, extra keys other than ``fields``, another handler or a
    filter on the way, a record factory the service set, a disabled logger) takes the standard path."""

    def __init__(self, target, handler):
        self.target = target
        self.handler = handler
        self.enqueue = handler.enqueue
        self.factory = logging.getLogRecordFactory()

    def serves(self, logger):
        if logger.disabled or logging.getLogRecordFactory() is not self.factory:
            return False
        node, reached = logger, False
        while node is not None:
            if node.filters:
                return False
            handlers = node.handlers
            if handlers:
                if node is not self.target or len(handlers) != 1 or handlers[0] is not self.handler:
                    return False
                reached = True
            if not node.propagate:
                break
            node = node.parent
        return reached


FAST_PATH = [None]  # the FastPath of the latest async configure(), while it is installed


class FastPathLogger(logging.Logger):
    """A Logger that hands its calls to the installed FastPath when it can (configure() makes the
    process's plain loggers this class; they behave as before once the profile is stopped)."""

    def _log(self, level, msg, args, exc_info=None, extra=None, stack_info=False, stacklevel=1):
        fast = FAST_PATH[0]
        if (fast is not None and not exc_info and not stack_info
                and (extra is None or (len(extra) == 1 and "fields" in extra)) and fast.serves(self)):
            fast.enqueue((time.time(), level, self.name, msg, args, extra))
            return
        # One frame more than Logger._log expects: keep the reported caller the service's.
        logging.Logger._log(self, level, msg, args, exc_info, extra, stack_info, stacklevel + 1)


class FastPathRootLogger(FastPathLogger, logging.RootLogger):
    pass


def take_the_fast_path(target, handler):
    """Make the process's plain loggers FastPathLoggers (those to come too) and route them to ``handler``."""
    if logging.getLoggerClass() is logging.Logger:
        logging.setLoggerClass(FastPathLogger)
    for logger in [logging.root] + list(logging.Logger.manager.loggerDict.values()):
        if type(logger) is logging.Logger:  # pylint: disable=unidiomatic-typecheck
            logger.__class__ = FastPathLogger
        elif type(logger) is logging.RootLogger:  # pylint: disable=unidiomatic-typecheck
            logger.__class__ = FastPathRootLogger
    FAST_PATH[0] = FastPath(target, handler)


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
        if FAST_PATH[0] is not None and FAST_PATH[0].handler is self.handler:
            FAST_PATH[0] = None
        if self.handler in self.target.handlers:
            self.target.removeHandler(self.handler)
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self.file_handler.close()

    def metrics_text(self):
        if self.counter is None:
            return ""
        if self.listener is not None:
            self.listener.sink.read_reports()
        lines = ["# HELP nextgen_log_records_total Log records logged, by level (the dropped total counts those "
                 "not written).",
                 "# TYPE nextgen_log_records_total counter"]
        with self.counter.lock:
            for level, count in sorted(self.counter.counts.items()):
                lines.append('nextgen_log_records_total{service="%s",level="%s"} %d'
                             % (self.config["service"], level, count))
        lines += ["# HELP nextgen_log_records_dropped_total Log records not written, by reason.",
                  "# TYPE nextgen_log_records_dropped_total counter"]
        for reason, count in sorted(self.drops.snapshot().items()):
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
    counter = LevelCounter() if config.get("monitoring") else None
    listener, drops = None, Drops()
    if config["async"]:
        records = queue.SimpleQueue()
        handler = BoundedQueueHandler(records, config["queue_size"], float(config.get("block_timeout_s", 1.0)), drops)
        sink = LocalSink(file_handler, drops)
        try:
            sink = WriterProcess(path, log_file, drops, sink)
        except OSError:
            pass  # no process could start: the writer thread formats and writes
        listener = BatchWriter(records, sink, counter)
        listener.start()
    else:
        handler = file_handler
        if counter is not None:
            file_handler.addFilter(counter)
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
    if config["async"] and not config.get("caller_info", True):
        take_the_fast_path(target, handler)
    installed = Installed(config, target, handler, listener, counter, file_handler, drops)
    atexit.register(installed.stop)
    return installed


def main(argv=None):
    parser = argparse.ArgumentParser(description="Check a logging config, or send a validation record through it.")
    parser.add_argument("--config", required=True)
    parser.add_argument("--check", action="store_true", help="load the config and open its log file, then stop")
    parser.add_argument("--emit-validation", metavar="MARKER", help="write one validation record carrying MARKER")
    parser.add_argument("--log-file", help="write to this file instead of the config's (the forwarder's validation file)")
    parser.add_argument("--write-batches", action="store_true",
                        help="be the writer process of the async profile: write the batches read on stdin")
    args = parser.parse_args(argv)
    if args.write_batches:
        # The service's stop signals are for the service: this process ends when its pipe closes,
        # once everything sent down the pipe is written.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return write_batches(args.config, args.log_file)
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
