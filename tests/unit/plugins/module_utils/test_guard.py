import json

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._analysis import AccessLogReader, CanaryAnalysis
from ansible_collections.nextgen.rollout.plugins.module_utils._guard import GuardProblem, guard
from ansible_collections.nextgen.rollout.plugins.module_utils._nginx_site import SiteSwitch, build_route, read_route

from test_analysis import CANDIDATE, STABLE, T0, SimulatedTraffic, healthy_fetch

PORTS = {"blue": 8001, "green": 8002}
# The seeds' error rule with a short window, as the tests' guard uses it.
POLICY = {"rules": {"error_rate": {"for": "10s"}}}


@pytest.fixture
def site(tmp_path):
    """nginx's route for agent-loop after the switch: every client on green (1.1.0), blue (1.0.0) warm."""
    switch = SiteSwitch(str(tmp_path / "agent-loop.conf"), run=None, workers=None,
                        route_path=str(tmp_path / "agent-loop.json"))
    before = build_route("agent-loop", {"live": "blue", "live_version": "1.0.0", "ports": PORTS,
                                        "upstream_prefix": "agent_loop"}, None)
    switch.apply_route(build_route("agent-loop", {"live": "green", "live_version": "1.1.0", "ports": PORTS,
                                                  "upstream_prefix": "agent_loop"}, before))
    return switch


def watch(traffic, window=60):
    return CanaryAnalysis(AccessLogReader(traffic.path), {"candidate": CANDIDATE, "stable": STABLE}, since=T0,
                          duration=window, interval=5, policy=POLICY, fetch=healthy_fetch,
                          health_url="http://127.0.0.1:8002/ready", clock=traffic, sleep=traffic.sleep)


def test_a_failing_live_version_is_switched_back_as_soon_as_its_rule_fires(tmp_path, site):
    traffic = SimulatedTraffic(str(tmp_path / "access.json"), share=1.0, error_rate=0.2)
    outcome = guard(watch(traffic), site, "blue", "1.0.0")
    assert outcome["decision"] == "rollback" and not outcome["passed"] and outcome["switched_back"]
    # Pending at 5 s, held for its 10 s at 15 s: it fires at the third evaluation, not later.
    assert outcome["fired_at"] == T0 + 15
    assert outcome["reasons"] and "error_rate" in outcome["reasons"][0]
    assert outcome["figures"]["candidate"]["requests"] == 1500
    route = read_route(site.route_path)
    assert route["live"] == "blue" and route["share"] == 0
    assert route["served"] == {"127.0.0.1:8001": "blue/1.0.0", "127.0.0.1:8002": "green/1.1.0"}
    assert isinstance(outcome["switched_back_at"], float)


def test_a_healthy_version_passes_and_keeps_the_traffic(tmp_path, site):
    traffic = SimulatedTraffic(str(tmp_path / "access.json"), share=1.0)
    before = read_route(site.route_path)
    outcome = guard(watch(traffic, window=30), site, "blue", "1.0.0")
    assert outcome["passed"] and outcome["decision"] == "promote" and not outcome["switched_back"]
    assert outcome["fired_at"] is None and outcome["switched_back_at"] is None
    assert outcome["elapsed_s"] == 30 and len(outcome["series"]) == 6
    assert read_route(site.route_path) == before


def test_no_traffic_or_a_pending_rule_at_the_end_is_a_pass(tmp_path, site):
    idle = SimulatedTraffic(str(tmp_path / "idle.json"), rate=0, share=1.0)
    assert guard(watch(idle, window=10), site, "blue", "1.0.0")["passed"]
    # Errors that start 5 s before the window ends: pending, not fired.
    late = SimulatedTraffic(str(tmp_path / "late.json"), share=1.0, error_rate=0.0)
    analysis = watch(late, window=15)
    late.sleep(10)
    late.error_rate = 0.5
    analysis.since = T0
    outcome = guard(analysis, site, "blue", "1.0.0")
    assert outcome["passed"] and outcome["decision"] == "hold"
    assert outcome["reasons"] == ["error_rate: error_rate = 0.494 > 0.01 for 0 s (needs 10 s)"]
    assert read_route(site.route_path)["live"] == "green"


def test_report_only_and_a_missing_route(tmp_path, site):
    traffic = SimulatedTraffic(str(tmp_path / "access.json"), share=1.0, error_rate=0.5)
    outcome = guard(watch(traffic), site, "blue", "1.0.0", switch_back=False)
    assert not outcome["passed"] and not outcome["switched_back"] and read_route(site.route_path)["live"] == "green"
    lost = SiteSwitch(str(tmp_path / "other.conf"), run=None, workers=None, route_path=str(tmp_path / "other.json"))
    failing = SimulatedTraffic(str(tmp_path / "again.json"), share=1.0, error_rate=0.5)
    with pytest.raises(GuardProblem, match="no route file"):
        guard(watch(failing), lost, "blue", "1.0.0")


def test_the_module_options_are_checked_together():
    from ansible_collections.nextgen.rollout.plugins.module_utils._analysis import ARGUMENT_SPEC, problems
    params = dict((name, spec.get("default")) for name, spec in ARGUMENT_SPEC.items())
    assert problems(dict(params), {"live": "green/1.1.0", "previous": "blue/1.0.0"}) == []
    bad = dict(params, interval=0, rate_window=-2, policy={"rules": {"error_rate": {"for": "soon"}}})
    found = problems(bad, {"live": "green", "previous": "blue/1.0.0"})
    assert found[0] == "live must be <colour>/<version> as nginx logs it, got 'green'"
    assert "interval must be above 0 s (got 0)" in found and any("'soon' is not a duration" in f for f in found)
    assert "rate_window must be 0 (one interval) or more seconds (got -2)" in found
    assert json.loads(json.dumps(found)) == found


def test_a_guard_watched_in_parts_switches_back_within_the_part_where_its_rule_fires(tmp_path, site):
    traffic = SimulatedTraffic(str(tmp_path / "access.json"), share=1.0, error_rate=0.2)
    progress = str(tmp_path / "analysis-progress.json")
    first = guard(watch(traffic), site, "blue", "1.0.0", progress_path=progress, report_every=10)
    # Two 5 s intervals judged, the rule pending: no verdict yet, nothing moved, the progress kept.
    assert (first["done"], first["decision"], first["passed"], first["switched_back"]) == (False, "continue", False, False)
    assert first["intervals"] == 2 and read_route(site.route_path)["live"] == "green"
    second = guard(watch(traffic), site, "blue", "1.0.0", progress_path=progress, report_every=10)
    assert second["done"] and second["decision"] == "rollback" and second["switched_back"]
    assert second["fired_at"] == T0 + 15 and second["figures"]["candidate"]["requests"] == 1500
    assert read_route(site.route_path)["live"] == "blue"
    assert not (tmp_path / "analysis-progress.json").exists()
