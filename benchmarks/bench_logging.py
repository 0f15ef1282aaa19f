"""make bench-logging: one log call through the installed async profile vs Python's plain file logging.

The async profile is the config the logging role installs for agents_ia (built by the same code,
from the role's default profiles), loaded by the helper the role installs
(roles/logging/files/nextgen_logging.py), with its writer process. The baseline is logging.FileHandler with a plain
Formatter, writing in the caller. Both run in this process, interleaved over BENCH_LOGGING_ROUNDS
rounds (default 5) of BENCH_LOGGING_CALLS calls (default 50,000), on the same temporary disk; the
medians are reported.

us_per_call           time a caller spends in one logger.info() call (async profile)
p99_us                99th percentile of single calls (async profile)
logs_per_s            records on disk per second, the queue drained (async profile)
baseline_us_per_call  the same for plain synchronous file logging, and baseline_p99_us, baseline_logs_per_s
sync_json_us_per_call the profile's JSON records written in the caller (async off), for reference

Floor from the seeds: < 10 ms per call and > 1,000 logs/s; the exit status is 1 below it.
The last line printed is one JSON object.
"""
import importlib.util
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.nextgen.rollout.plugins.module_utils._logging_profile import (  # noqa: E402
    resolve_profile, service_logging_config)

CALLS = int(os.environ.get("BENCH_LOGGING_CALLS", "50000"))
ROUNDS = int(os.environ.get("BENCH_LOGGING_ROUNDS", "5"))
SAMPLED = 10000  # calls timed one by one for the percentiles


def load_helper():
    spec = importlib.util.spec_from_file_location(
        "nextgen_logging", os.path.join(ROOT, "roles", "logging", "files", "nextgen_logging.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def installed_config(directory, **changes):
    with open(os.path.join(ROOT, "roles", "logging", "defaults", "main.yml")) as handle:
        profiles = yaml.safe_load(handle)["logging_profiles"]
    config = service_logging_config("agent-loop", "bench-host", resolve_profile(["agents_ia"], profiles),
                                    os.path.join(directory, "agent-loop.log"))
    config.update(changes)
    path = os.path.join(directory, "agent-loop.json")
    with open(path, "w") as handle:
        json.dump(config, handle)
    return path


def drive(logger, finish):
    """Time CALLS calls; returns (us per call, p99 us, logs per s with the writes finished)."""
    singles = []
    started = time.perf_counter()
    for n in range(SAMPLED):
        before = time.perf_counter_ns()
        logger.info("agent run %d finished in %.3f s", n, 0.125, extra={"fields": {"run_id": n}})
        singles.append(time.perf_counter_ns() - before)
    for n in range(SAMPLED, CALLS):
        logger.info("agent run %d finished in %.3f s", n, 0.125, extra={"fields": {"run_id": n}})
    in_caller = time.perf_counter() - started
    finish()
    on_disk = time.perf_counter() - started
    singles.sort()
    return in_caller / CALLS * 1e6, singles[int(len(singles) * 0.99)] / 1000.0, CALLS / on_disk


def count_lines(path):
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line)


def profile_round(helper, directory, **changes):
    logger = logging.getLogger("bench.profile")
    logger.propagate = False
    installed = helper.configure(installed_config(directory, **changes), logger)
    try:
        figures = drive(logger, installed.stop)
    finally:
        logger.handlers[:] = []
    assert count_lines(os.path.join(directory, "agent-loop.log")) == CALLS, "records were lost"
    return figures


def baseline_round(directory):
    logger = logging.getLogger("bench.baseline")
    logger.propagate = False
    handler = logging.FileHandler(os.path.join(directory, "plain.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        figures = drive(logger, handler.flush)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert count_lines(os.path.join(directory, "plain.log")) == CALLS
    return figures


def main():
    helper = load_helper()
    runs = {"async": [], "baseline": [], "sync_json": []}
    for _unused in range(ROUNDS):
        for name in ("async", "baseline", "sync_json"):
            directory = tempfile.mkdtemp(prefix="bench-logging-")
            try:
                if name == "baseline":
                    runs[name].append(baseline_round(directory))
                else:
                    runs[name].append(profile_round(helper, directory, **({"async": False} if name == "sync_json" else {})))
            finally:
                shutil.rmtree(directory)

    def median(name, index):
        return statistics.median(run[index] for run in runs[name])

    figures = {
        "us_per_call": round(median("async", 0), 2), "p99_us": round(median("async", 1), 2),
        "logs_per_s": int(median("async", 2)),
        "baseline_us_per_call": round(median("baseline", 0), 2), "baseline_p99_us": round(median("baseline", 1), 2),
        "baseline_logs_per_s": int(median("baseline", 2)),
        "sync_json_us_per_call": round(median("sync_json", 0), 2), "sync_json_logs_per_s": int(median("sync_json", 2)),
        "calls": CALLS, "rounds": ROUNDS,
    }
    figures["caller_speedup_vs_baseline"] = round(figures["baseline_us_per_call"] / figures["us_per_call"], 2)
    print("%-44s %12s %10s %12s" % ("%d calls x %d rounds (medians)" % (CALLS, ROUNDS), "us/call", "p99 us", "logs/s"))
    print("%-44s %12.2f %10.2f %12d" % ("async JSON profile (installed, agents_ia)", figures["us_per_call"],
                                        figures["p99_us"], figures["logs_per_s"]))
    print("%-44s %12.2f %10.2f %12d" % ("plain synchronous FileHandler (baseline)", figures["baseline_us_per_call"],
                                        figures["baseline_p99_us"], figures["baseline_logs_per_s"]))
    print("%-44s %12.2f %10s %12d" % ("JSON profile with async off (reference)", figures["sync_json_us_per_call"], "",
                                      figures["sync_json_logs_per_s"]))
    print("floor: < 10,000 us per call and > 1,000 logs/s")
    print(json.dumps(figures, sort_keys=True))
    return 0 if figures["us_per_call"] < 10000 and figures["logs_per_s"] > 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
