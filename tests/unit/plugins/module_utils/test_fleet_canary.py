"""A canary across several hosts is judged on their counts together, interval by interval."""
import os

from ansible_collections.nextgen.rollout.plugins.module_utils._fleet_canary import fleet_verdict, host_report, take_report

SERVED = {"candidate": "green/1.1.0", "stable": "blue/1.0.0"}
POLICY = {"rules": {"error_rate": {"for": "0s"}}}


def records(start, candidate, candidate_errors, stable=40):
    """One interval of one host: ``candidate`` candidate requests (the first ``candidate_errors`` of them
    5xx) and ``stable`` stable ones, 0.05 s each."""
    lines = [(start + 0.01 * i, "green/1.1.0", 500 if i < candidate_errors else 200, 0.05) for i in range(candidate)]
    return lines + [(start + 0.01 * i, "blue/1.0.0", 200, 0.05) for i in range(stable)]


def report(start, candidate, errors):
    return {"pools": host_report(records(start, candidate, errors), SERVED, since=start), "health_failures": 0}


def test_a_host_report_counts_each_side_since_the_start():
    pools = host_report(records(100.0, 6, 2) + [(99.0, "green/1.1.0", 500, 0.1), (100.5, "red/9", 200, 0.1)], SERVED, 100.0)
    assert pools["candidate"] == {"requests": 6, "errors": 2, "latencies": [0.05] * 6}
    assert pools["stable"]["requests"] == 40 and pools["stable"]["errors"] == 0


def test_hosts_too_small_alone_are_judged_together():
    # 4 candidate requests per host per interval: below min_bucket_requests (10) on any one host,
    # 12 together, a quarter of them errors.
    intervals = [dict(("h%d" % h, report(10.0 * i, 4, 1)) for h in range(3)) for i in range(2)]
    verdict = fleet_verdict(intervals, interval=10, planned=6, policy=POLICY, min_bucket_requests=10)
    assert (verdict["decision"], verdict["done"]) == ("rollback", True), verdict
    assert verdict["figures"]["candidate"]["requests"] == 24 and verdict["hosts"] == ["h0", "h1", "h2"]
    assert verdict["per_host"]["h1"]["candidate"]["requests"] == 8
    alone = fleet_verdict([{"h0": intervals[0]["h0"]}, {"h0": intervals[1]["h0"]}], interval=10, planned=6,
                          policy=POLICY, min_bucket_requests=10)
    assert alone["decision"] == "continue"


def test_hosts_failing_in_step_make_lumps_that_a_rate_window_smooths():
    # Every host fails its 5th candidate request, all at the same moment: 2 s intervals alternate
    # between a lump of errors and none, and each clean one resets the rule's 4 s.
    policy = {"rules": {"error_rate": {"for": "4s"}}}
    intervals = [dict(("h%d" % h, report(2.0 * i, 3, 1 - i % 2)) for h in range(10)) for i in range(4)]
    alone = fleet_verdict(intervals, interval=2, planned=5, policy=policy)
    assert alone["decision"] == "continue" and [s["error_rate"] for s in alone["series"]] == [1 / 3.0, 0.0] * 2
    windowed = fleet_verdict(intervals[:3], interval=2, planned=5, policy=policy, rate_window=4)
    assert (windowed["decision"], windowed["done"]) == ("rollback", True), windowed["reasons"]
    assert [s["error_rate"] for s in windowed["series"]] == [1 / 3.0, 1 / 6.0, 1 / 6.0]
    assert [s["requests"] for s in windowed["series"]] == [30, 30, 30]
    assert (alone["rate_window_s"], windowed["rate_window_s"]) == (2.0, 4.0)
    assert fleet_verdict(intervals, interval=2, planned=5, policy=policy, rate_window=5)["rate_window_s"] == 6.0


def test_a_healthy_candidate_is_promoted_at_the_end_of_its_step_not_before():
    healthy = [dict(("h%d" % h, report(10.0 * i, 20, 0)) for h in range(2)) for i in range(3)]
    assert fleet_verdict(healthy[:2], interval=10, planned=3, policy=POLICY)["decision"] == "continue"
    verdict = fleet_verdict(healthy, interval=10, planned=3, policy=POLICY)
    assert (verdict["decision"], verdict["done"], verdict["intervals"]) == ("promote", True, 3)
    assert len(verdict["series"]) == 3 and verdict["series"][-1]["requests"] == 40


def test_hosts_whose_clients_all_fall_on_the_stable_side_are_held_with_the_reason():
    starved = [dict(("h%d" % h, report(10.0 * i, 0, 0)) for h in range(2)) for i in range(2)]
    verdict = fleet_verdict(starved, interval=10, planned=2, policy={"min_requests": 100, "rules": {}})
    assert verdict["decision"] == "hold"
    assert verdict["reasons"][-1].startswith("the candidate got none of the 160 requests, the stable version all")


def test_an_inconclusive_step_is_extended_then_held():
    quiet = [{"h0": report(10.0 * i, 1, 0)} for i in range(4)]
    policy = {"min_requests": 100, "rules": {"error_rate": {"for": "0s"}}}
    first = fleet_verdict(quiet[:2], interval=10, planned=2, policy=policy, max_extensions=1)
    assert (first["decision"], first["verdict_so_far"]) == ("continue", "hold")
    last = fleet_verdict(quiet, interval=10, planned=2, policy=policy, max_extensions=1)
    assert (last["decision"], last["done"], last["extensions"]) == ("hold", True, 1)


def test_each_line_counts_once_across_reports(tmp_path):
    log, state = tmp_path / "access.json", str(tmp_path / "sample.json")
    line = '{"msec": "%s", "colour": "green", "version": "1.1.0", "status": "%d", "upstream_response_time": "0.020"}\n'
    log.write_text(line % (100.5, 200) + line % (101.0, 502))
    slept = []
    first = take_report(str(log), state, SERVED, since=100.0, until=110.0, clock=lambda: 105.0, sleep=slept.append,
                        health=lambda: False)
    assert slept == [5.0] and first["pools"]["candidate"]["requests"] == 2 and first["pools"]["candidate"]["errors"] == 1
    assert first["health_failures"] == 1
    with open(str(log), "a") as handle:
        handle.write(line % (111.0, 200))
    second = take_report(str(log), state, SERVED, since=100.0, until=100.0, clock=lambda: 112.0, sleep=slept.append,
                         health=lambda: False)
    assert second["pools"]["candidate"]["requests"] == 1 and second["health_failures"] == 2
    assert oct(os.stat(state).st_mode & 0o777) == "0o600"


def test_a_host_that_left_the_canary_takes_every_host_back_unless_the_wave_may_lose_it():
    # h2's candidate never got ready: it reports nothing, while h0 and h1 see a healthy candidate.
    healthy = [dict(("h%d" % h, report(10.0 * i, 20, 0)) for h in range(2)) for i in range(2)]
    verdict = fleet_verdict(healthy[:1], interval=10, planned=3, policy=POLICY, wave_hosts=["h0", "h1", "h2"])
    assert (verdict["decision"], verdict["done"], verdict["left"]) == ("rollback", True, ["h2"]), verdict
    assert verdict["reasons"][0] == ("h2 left the canary (1 of 3 hosts, 33.3 %, above the 0 % of a wave that may fail): "
                                     "the wave cannot pass, every host goes back")
    # A wave that may lose a third of its hosts goes on with the others.
    tolerated = fleet_verdict(healthy[:1], interval=10, planned=3, policy=POLICY, wave_hosts=["h0", "h1", "h2"],
                              max_left_percent=34)
    assert (tolerated["decision"], tolerated["left"]) == ("continue", ["h2"])
    # A host that reported, then stopped (its report failed), left too.
    verdict = fleet_verdict(healthy[:1] + [{"h0": healthy[1]["h0"]}], interval=10, planned=3, policy=POLICY,
                            wave_hosts=["h0", "h1"])
    assert (verdict["decision"], verdict["left"]) == ("rollback", ["h1"])
    # Every host there: the figures alone decide.
    assert fleet_verdict(healthy, interval=10, planned=3, policy=POLICY, wave_hosts=["h0", "h1"])["decision"] == "continue"
