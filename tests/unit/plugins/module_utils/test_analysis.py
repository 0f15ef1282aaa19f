import json
import random
import urllib.parse

import pytest

import os
import stat

from ansible_collections.nextgen.rollout.plugins.module_utils._analysis import (
    AccessLogReader, CanaryAnalysis, PoolStats, memory_pct, parse_line, read_progress, run_in_parts, window_start,
    with_traffic_notes)
from ansible_collections.nextgen.rollout.plugins.module_utils._probe import Response

CANDIDATE, STABLE = "green/1.1.0", "blue/1.0.0"
T0 = 1800000000.0


def line(moment, served, status=200, upstream_time="0.004"):
    colour, version = served.split("/")
    return json.dumps({"msec": "%.3f" % moment, "colour": colour, "version": version, "status": status,
                       "upstream_addr": "127.0.0.1:%d" % (8002 if colour == "green" else 8001),
                       "upstream_response_time": upstream_time, "app_version": ""}) + "\n"


class SimulatedTraffic(object):
    """A clock whose sleep writes the access-log lines of the traffic in the time slept.

    Each second brings ``rate`` requests, ``share`` of them to the candidate, which fails with a 5xx
    at ``error_rate`` and answers ``extra_s`` slower than stable."""

    def __init__(self, path, rate=100, share=0.1, error_rate=0.0, extra_s=0.0, seed=1, failing=None):
        self.path, self.rate, self.share = path, rate, share
        self.error_rate, self.extra_s = error_rate, extra_s
        # failing(moment) -> bool, instead of error_rate: which candidate requests fail, by time.
        self.failing = failing
        self.now = T0
        self.rng = random.Random(seed)
        open(path, "w").close()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        end = self.now + seconds
        with open(self.path, "a") as handle:
            count = int(round(seconds * self.rate))
            for i in range(count):
                moment = self.now + (i + 0.5) * seconds / max(count, 1)
                base = 0.004 + self.rng.random() * 0.004
                if self.rng.random() < self.share:
                    failed = self.failing(moment) if self.failing else self.rng.random() < self.error_rate
                    handle.write(line(moment, CANDIDATE, 502 if failed else 200, "%.3f" % (base + self.extra_s)))
                else:
                    handle.write(line(moment, STABLE, 200, "%.3f" % base))
        self.now = end


def healthy_fetch(url, timeout):
    if url.endswith("/metrics"):
        return Response(200, b"# HELP x\nprocess_resident_memory_bytes 52428800.0\n")
    return Response(200, b"ok")


FAST_POLICY = {"rules": {
    "error_rate": {"for": "10s"},
    "error_rate_vs_baseline": {"metric": "error_rate_excess", "op": ">", "threshold": 0.01, "for": "10s",
                               "judge": "errors"},
    "p95_vs_baseline": {"metric": "p95_excess_s", "op": ">", "threshold": 0.1, "for": "10s", "judge": "latency"},
}, "min_requests": 50}


def refused(url, timeout):
    """What _probe.fetch does when nothing listens: it raises (the analysis must not crash on it)."""
    raise ConnectionRefusedError(111, "Connection refused")


def analysis_for(traffic, duration=30, **kwargs):
    return CanaryAnalysis(AccessLogReader(traffic.path), {"candidate": CANDIDATE, "stable": STABLE}, since=T0,
                          duration=duration, interval=5, policy=FAST_POLICY, fetch=healthy_fetch,
                          health_url="http://127.0.0.1:8002/health", metrics_url="http://127.0.0.1:8002/metrics",
                          memory_limit_mb=100, clock=traffic, sleep=traffic.sleep, **kwargs)


def analyse(traffic, duration=30, **kwargs):
    return analysis_for(traffic, duration, **kwargs).run()


def analyse_in_parts(traffic, progress, report_every, duration=30, lose_progress_after=None, lose_every=False, **kwargs):
    """The step watched as canary_analysis with report_every watches it: a new analysis per call,
    resumed from the progress file. Returns the parts' verdicts."""
    parts = []
    while not parts or not parts[-1]["done"]:
        assert len(parts) < 50, "the parts never come to a verdict"
        if parts and (lose_every or len(parts) == lose_progress_after):
            os.remove(progress)
        parts.append(run_in_parts(analysis_for(traffic, duration, **kwargs), progress, report_every))
        if not parts[-1]["done"]:
            assert stat.S_IMODE(os.stat(progress).st_mode) == 0o600
    assert not os.path.exists(progress)
    return parts


def test_a_healthy_candidate_is_promoted_with_its_figures(tmp_path):
    verdict = analyse(SimulatedTraffic(str(tmp_path / "access.json")))
    assert verdict["decision"] == "promote", verdict["reasons"]
    assert verdict["intervals"] == 6 and verdict["elapsed_s"] == 30
    candidate, stable = verdict["figures"]["candidate"], verdict["figures"]["stable"]
    assert candidate["requests"] + stable["requests"] == 3000
    assert 200 < candidate["requests"] < 400 and candidate["errors_5xx"] == 0
    assert 4 <= candidate["latency_ms"]["p50"] <= 8
    assert verdict["series"][0]["memory_pct"] == 50.0 and verdict["series"][0]["health_failures"] == 0


def test_five_percent_errors_abort_early(tmp_path):
    verdict = analyse(SimulatedTraffic(str(tmp_path / "access.json"), share=0.3, error_rate=0.05), duration=60)
    assert verdict["decision"] == "rollback"
    assert verdict["elapsed_s"] <= 20  # fires once held 10 s: three 5 s samples in a row
    assert any(reason.startswith("error_rate:") for reason in verdict["reasons"])
    assert 0.02 < verdict["figures"]["candidate"]["error_rate"] < 0.09


def every_other_interval(moment):
    """Errors in lumps: every candidate request of the first 5 s interval of each 10 s fails, none of the second's."""
    return int((moment - T0) // 5) % 2 == 0


def test_errors_in_lumps_fire_a_rule_only_when_a_sample_covers_more_than_its_interval(tmp_path):
    alone = analyse(SimulatedTraffic(str(tmp_path / "alone.json"), failing=every_other_interval), duration=40)
    # Each clean interval resets the rule's 10 s: it never fires, and the step ends on promote.
    assert alone["decision"] == "promote", alone["reasons"]
    assert [s["error_rate"] for s in alone["series"][:2]] == [1.0, 0.0]
    windowed = analyse(SimulatedTraffic(str(tmp_path / "windowed.json"), failing=every_other_interval), duration=40,
                       rate_window=10)
    assert windowed["decision"] == "rollback" and windowed["elapsed_s"] == 15, windowed["reasons"]
    assert (alone["rate_window_s"], windowed["rate_window_s"]) == (5.0, 10.0)
    assert any(reason.startswith("error_rate:") for reason in windowed["reasons"])
    first, second = windowed["series"][:2]
    # The second sample's rate covers both intervals; its request count is still its own interval's.
    assert first["error_rate"] == 1.0 and 0.3 < second["error_rate"] < 0.7
    assert 30 < second["requests"] < 70 and second["requests"] == alone["series"][1]["requests"]


def test_a_rate_window_is_rounded_up_to_whole_intervals():
    assert [window_start(4, 2, w) for w in (0, 1, 2, 2.5, 4, 100)] == [4, 4, 4, 3, 3, 0]


def test_added_latency_aborts_by_the_latency_rule(tmp_path):
    verdict = analyse(SimulatedTraffic(str(tmp_path / "access.json"), extra_s=0.3), judge=True)
    assert verdict["decision"] == "rollback"
    assert [r.split(":")[0] for r in verdict["reasons"]] == ["p95_vs_baseline"]
    assert verdict["judge"]["latency"] < 1e-6


def test_too_little_traffic_is_inconclusive_even_after_extensions(tmp_path):
    verdict = analyse(SimulatedTraffic(str(tmp_path / "access.json"), rate=5, share=0.1), max_extensions=2)
    assert verdict["decision"] == "hold" and verdict["inconclusive"]
    assert verdict["extensions"] == 2 and verdict["elapsed_s"] == 90


def test_an_extension_lets_a_slow_step_conclude(tmp_path):
    verdict = analyse(SimulatedTraffic(str(tmp_path / "access.json"), rate=2, share=0.5), max_extensions=3)
    assert verdict["decision"] == "promote" and verdict["extensions"] == 1


def test_failing_health_probes_count_up_and_fire(tmp_path):
    traffic = SimulatedTraffic(str(tmp_path / "access.json"))
    verdict = CanaryAnalysis(AccessLogReader(traffic.path), {"candidate": CANDIDATE, "stable": STABLE}, since=T0,
                             duration=60, interval=5, fetch=refused,
                             health_url="http://127.0.0.1:8002/health", clock=traffic, sleep=traffic.sleep).run()
    assert verdict["decision"] == "rollback" and verdict["intervals"] == 4
    assert [s["health_failures"] for s in verdict["series"]] == [1, 2, 3, 4]


def test_reader_follows_appends_rotation_and_partial_lines(tmp_path):
    path = tmp_path / "access.json"
    path.write_text(line(T0, STABLE) + '{"msec": "not a number"}\n' + line(T0 + 1, CANDIDATE)[:20])
    reader = AccessLogReader(str(path))
    assert [r[1] for r in reader.read_new()] == [STABLE]
    with open(str(path), "a") as handle:
        handle.write(line(T0 + 1, CANDIDATE)[20:])
    assert [r[1] for r in reader.read_new()] == [CANDIDATE]
    path.unlink()
    path.write_text(line(T0 + 2, STABLE, 503, "0.010, 0.020"))
    assert reader.read_new() == [(T0 + 2, STABLE, 503, 0.02)]


def test_parse_line_takes_what_nginx_says_served_not_what_the_app_says():
    record = json.dumps({"msec": "1.5", "status": 200, "upstream_addr": "127.0.0.1:8002", "colour": "green",
                         "version": "1.1.0", "app_version": "9.9.9", "upstream_response_time": "0.001, -"})
    assert parse_line(record) == (1.5, "green/1.1.0", 200, None)


def test_memory_pct_reads_resident_memory():
    assert memory_pct("process_resident_memory_bytes 1048576\n", 2) == 50.0
    assert memory_pct("nothing here", 2) is None


def test_prometheus_figures_join_the_samples(tmp_path):
    traffic = SimulatedTraffic(str(tmp_path / "access.json"))
    asked = []

    def prometheus(url, timeout):
        asked.append(url)
        if "histogram_quantile" in url:
            return Response(200, json.dumps({"status": "success", "data": {"result": [{"value": [0, "NaN"]}]}}))
        return Response(200, json.dumps({"status": "success", "data": {"result": [{"value": [0, "0.05"]}]}}))

    verdict = CanaryAnalysis(AccessLogReader(traffic.path), {"candidate": CANDIDATE, "stable": STABLE}, since=T0,
                             duration=10, interval=5, fetch=prometheus, prometheus_url="http://127.0.0.1:9090/",
                             prometheus_window="1m",
                             prometheus_queries={
                                 "prom_error_rate": 'sum(rate(http_errors{job="$service",version="$version"}[$window]))',
                                 "prom_p95_s": 'histogram_quantile(0.95, rate(http_seconds{colour="${colour}"}[$window]))'},
                             placeholders={"service": "shop", "colour": "green", "version": "1.1.0"},
                             policy={"rules": {"prom": {"metric": "prom_error_rate", "op": ">", "threshold": 0.01}}},
                             clock=traffic, sleep=traffic.sleep).run()
    assert verdict["decision"] == "rollback" and verdict["reasons"][0].startswith("prom: prom_error_rate = 0.05")
    assert verdict["series"][0]["prom_error_rate"] == 0.05 and verdict["series"][0]["prom_p95_s"] is None
    query = urllib.parse.unquote_plus(asked[0])
    assert query == 'http://127.0.0.1:9090/api/v1/query?query=sum(rate(http_errors{job="shop",version="1.1.0"}[1m]))'
    assert 'colour="green"' in urllib.parse.unquote_plus(asked[1])


def test_an_unreachable_prometheus_is_reported_not_fatal(tmp_path):
    traffic = SimulatedTraffic(str(tmp_path / "access.json"))
    verdict = CanaryAnalysis(AccessLogReader(traffic.path), {"candidate": CANDIDATE, "stable": STABLE}, since=T0,
                             duration=5, interval=5, fetch=refused,
                             prometheus_url="http://127.0.0.1:9", prometheus_queries={"prom_error_rate": "up"},
                             clock=traffic, sleep=traffic.sleep).run()
    assert verdict["series"][0]["prom_error_rate"] is None
    assert verdict["prometheus_errors"][0] == "up: [Errno 111] Connection refused"


def test_a_rule_on_a_prometheus_figure_that_cannot_be_read_holds_instead_of_promoting(tmp_path):
    def analysis(fetch):
        traffic = SimulatedTraffic(str(tmp_path / ("access-%d.json" % len(list(tmp_path.iterdir())))))
        return CanaryAnalysis(AccessLogReader(traffic.path), {"candidate": CANDIDATE, "stable": STABLE}, since=T0,
                              duration=10, interval=5, fetch=fetch, prometheus_url="http://127.0.0.1:9",
                              prometheus_queries={"prom_error_rate": "sum(rate(errors[$window]))"},
                              policy={"rules": {"prom": {"metric": "prom_error_rate", "op": ">", "threshold": 0.01}}},
                              max_extensions=1, clock=traffic, sleep=traffic.sleep).run()
    blind = analysis(refused)
    assert blind["decision"] == "hold" and blind["extensions"] == 1, blind["reasons"]
    assert blind["reasons"] == ["prom: prom_error_rate could not be read from Prometheus "
                                "(sum(rate(errors[30s])): [Errno 111] Connection refused)"]
    # The same traffic with Prometheus answering (no series: nothing to fire on) is promoted.
    empty = analysis(lambda url, timeout: Response(200, json.dumps({"status": "success", "data": {"result": []}})))
    assert empty["decision"] == "promote", empty["reasons"]


def analysis_of(traffic, duration=30):
    analysis = CanaryAnalysis(AccessLogReader(traffic.path), {"candidate": CANDIDATE, "stable": STABLE}, since=T0,
                              duration=duration, interval=5, policy=FAST_POLICY, fetch=healthy_fetch,
                              clock=traffic, sleep=traffic.sleep)
    return analysis, analysis.run()


def test_a_candidate_that_no_client_reaches_is_inconclusive_and_the_reason_names_the_hash_key(tmp_path):
    # Every request from one address, hashed to the stable side: a load balancer in front of nginx.
    analysis, verdict = analysis_of(SimulatedTraffic(str(tmp_path / "lb.json"), rate=20, share=0.0))
    noted = with_traffic_notes(verdict, analysis.window, FAST_POLICY)
    assert noted["decision"] == verdict["decision"] == "hold"
    assert noted["reasons"][:-1] == verdict["reasons"]
    assert noted["reasons"][-1].startswith("the candidate got none of the 600 requests, the stable version all: ")
    assert "rollout_real_ip_from" in noted["reasons"][-1] and "canary_hash_key" in noted["reasons"][-1]


def test_a_canary_that_took_every_client_says_so_without_changing_the_decision(tmp_path):
    analysis, verdict = analysis_of(SimulatedTraffic(str(tmp_path / "all.json"), rate=20, share=1.0))
    noted = with_traffic_notes(verdict, analysis.window, FAST_POLICY)
    assert noted["decision"] == verdict["decision"] == "promote"
    assert noted["reasons"][-1].startswith("the stable version got none of the 600 requests, the candidate all")


def test_a_split_that_reaches_both_sides_with_enough_traffic_gets_no_note(tmp_path):
    analysis, verdict = analysis_of(SimulatedTraffic(str(tmp_path / "split.json"), rate=20, share=0.1))
    assert with_traffic_notes(verdict, analysis.window, FAST_POLICY) == verdict


def test_too_little_traffic_says_which_variables_give_the_step_enough(tmp_path):
    analysis, verdict = analysis_of(SimulatedTraffic(str(tmp_path / "quiet.json"), rate=1, share=0.0))
    noted = with_traffic_notes(verdict, analysis.window, FAST_POLICY)
    assert noted["decision"] == verdict["decision"] == "hold"
    assert noted["reasons"][:-1] == verdict["reasons"]
    assert noted["reasons"][-1].startswith("too few requests for the policy: ")
    for variable in ("rollout_canary_plan", "canary_max_extensions", "canary_policy.min_requests"):
        assert variable in noted["reasons"][-1]


def test_a_pool_says_its_figures_in_one_line_and_a_dash_for_an_unknown_p95():
    empty = PoolStats()
    assert empty.figures()["summary"] == "0 requests, 0 5xx, p95 -"
    served = PoolStats()
    for status, seconds in ((200, 0.0), (503, 0.0), (200, None)):
        served.add(status, seconds)
    assert served.figures()["summary"] == "3 requests, 1 5xx (33.33 %), p95 0.0 ms"


SAME_STEP = ("decision", "reasons", "rules", "figures", "series", "intervals", "extensions", "elapsed_s", "judge")


@pytest.mark.parametrize("traffic, duration, options", [
    (dict(), 30, {}),
    (dict(share=0.3, error_rate=0.05), 60, {}),
    (dict(extra_s=0.3), 30, {"judge": True}),
    (dict(rate=5, share=0.1), 30, {"max_extensions": 2}),
    (dict(failing=every_other_interval), 40, {"rate_window": 10}),
], ids=["promote", "errors", "latency", "extensions", "rate-window"])
def test_a_step_watched_in_parts_reaches_the_verdict_of_one_call(tmp_path, traffic, duration, options):
    whole = analyse(SimulatedTraffic(str(tmp_path / "whole.json"), **traffic), duration, **options)
    parts = analyse_in_parts(SimulatedTraffic(str(tmp_path / "parts.json"), **traffic), str(tmp_path / "progress.json"),
                             12, duration, **options)
    assert dict((key, parts[-1][key]) for key in SAME_STEP) == dict((key, whole[key]) for key in SAME_STEP)
    # A report every 12 s is every third 5 s interval, until the verdict.
    assert [part["intervals"] for part in parts[:-1]] == [3 * (n + 1) for n in range(len(parts) - 1)]
    assert len(parts) == -(-whole["intervals"] // 3)
    assert all(part["decision"] == "continue" for part in parts[:-1]) and parts[-1]["done"]
    # Each part reports the figures of the step so far.
    assert [part["figures"]["stable"]["requests"] > 0 for part in parts] == [True] * len(parts)
    assert parts[0]["figures"]["stable"]["requests"] < whole["figures"]["stable"]["requests"] or len(parts) == 1


def test_a_lost_progress_is_rebuilt_from_the_access_log(tmp_path):
    whole = analyse(SimulatedTraffic(str(tmp_path / "whole.json"), share=0.3, error_rate=0.05), 60)
    parts = analyse_in_parts(SimulatedTraffic(str(tmp_path / "parts.json"), share=0.3, error_rate=0.05),
                             str(tmp_path / "progress.json"), 5, 60, lose_progress_after=2)
    assert dict((key, parts[-1][key]) for key in SAME_STEP) == dict((key, whole[key]) for key in SAME_STEP)


def test_a_progress_lost_at_every_call_still_comes_to_the_verdict(tmp_path):
    whole = analyse(SimulatedTraffic(str(tmp_path / "whole.json"), share=0.3, error_rate=0.05), 60)
    parts = analyse_in_parts(SimulatedTraffic(str(tmp_path / "parts.json"), share=0.3, error_rate=0.05),
                             str(tmp_path / "progress.json"), 5, 60, lose_every=True)
    # Each call starts over and catches up to the present before it judges one more interval.
    assert [part["intervals"] for part in parts] == list(range(1, len(parts) + 1))
    assert dict((key, parts[-1][key]) for key in SAME_STEP) == dict((key, whole[key]) for key in SAME_STEP)


def test_the_progress_of_another_step_is_not_resumed(tmp_path):
    traffic = SimulatedTraffic(str(tmp_path / "access.json"))
    progress = str(tmp_path / "progress.json")
    first = run_in_parts(analysis_for(traffic), progress, 10)
    assert (first["done"], first["intervals"]) == (False, 2) and read_progress(progress)["completed"] == 2
    other = analysis_for(traffic, duration=60)  # another step's length: not the step the progress is of
    assert not other.resume(read_progress(progress)) and other.completed == 0
    assert analysis_for(traffic).resume(read_progress(progress))
    with open(progress, "w") as handle:
        handle.write("{not json")
    assert read_progress(progress) is None and read_progress(str(tmp_path / "none.json")) is None
