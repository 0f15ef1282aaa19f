"""The fleet report: rows, versions, progress per wave, recent releases and DORA from the ledgers."""
import datetime
import json

from ansible_collections.nextgen.rollout.plugins.module_utils._fleet import (
    dashboard_html, dora, fleet_report, table_lines, write_report)

DAY = 86400.0
NOW = 1767225600.0  # 2026-01-01T00:00:00Z


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry(action, version, result, at, **extra):
    return dict(action=action, version=version, result=result, time=iso(at), **extra)


def ledger(live, history, warm=None, canary=None):
    colours = {"blue": {"version": live, "state": "live"}, "green": {"version": warm, "state": "warm" if warm else "empty"}}
    return {"service": "shop", "live": {"version": live, "colour": "blue"}, "colours": colours, "history": history,
            "canary": canary}


def test_dora_counts_what_went_live_what_was_taken_back_and_how_fast():
    history = [
        entry("deploy", "1.0.0", "succeeded", NOW - 10 * DAY, details={"image_created": iso(NOW - 10 * DAY - 3600)}),
        entry("deploy", "1.1.0", "succeeded", NOW - 5 * DAY),
        entry("rollback", "1.0.0", "succeeded", NOW - 5 * DAY + 120),
        entry("deploy", "1.2.0", "failed", NOW - 2 * DAY, details={"guard": {"decision": "rollback"}}),
        entry("deploy", "1.2.1", "failed", NOW - DAY),  # before the switch: never live
        entry("canary", "1.3.0", "succeeded", NOW - 3600),
        entry("deploy", "0.9.0", "succeeded", NOW - 40 * DAY),  # outside the window
    ]
    figures = dora({"h": {"history": history}}, NOW, 30)
    assert figures["releases"] == 4
    assert figures["deployment_frequency_per_day"] == round(4 / 30.0, 3)
    assert (figures["lead_time_s"], figures["lead_time_known"]) == (3600.0, 1)
    assert (figures["failed_changes"], figures["change_failure_rate"]) == (2, 0.5)
    assert figures["time_to_restore_s"] == 60.0  # 120 s for the rollback, 0 for the guard's switch back


def test_the_report_has_a_row_per_host_and_progress_per_wave(tmp_path):
    statuses = {
        "web-1": {"ledger": ledger("1.1.0", [entry("deploy", "1.1.0", "succeeded", NOW - 60,
                                                   details={"image": "shop@sha256:" + "a" * 64})], warm="1.0.0"),
                  "repairs_next_run": []},
        "web-2": {"ledger": ledger("1.0.0", [entry("deploy", "1.0.0", "succeeded", NOW - DAY)], canary={"share": 10}),
                  "repairs_next_run": ["nginx serves green, the ledger says blue"]},
        "web-3": {"error": "did not report: unreachable or failed"},
    }
    report = fleet_report(statuses, NOW, waves=[["web-1"], ["web-2", "web-3"]])
    rows = dict((row["host"], row) for row in report["hosts"])
    assert rows["web-1"]["image"] == "shop@sha256:" + "a" * 64 and rows["web-1"]["warm_version"] == "1.0.0"
    assert rows["web-2"]["canary_share"] == 10 and report["drifting"] == ["web-2", "web-3"]
    assert report["newest_version"] == "1.1.0"
    assert [(p["done"], p["total"]) for p in report["progress"]] == [(1, 1), (0, 2)]
    assert report["versions"] == {"1.0.0": ["web-2"], "1.1.0": ["web-1"]}
    lines = table_lines(report)
    assert lines[0].split() == ["host", "service", "live", "image", "warm", "rollback", "canary", "last", "release", "frozen",
                                "drift"]
    assert "1 of 3 hosts serve 1.1.0; wave 0: 1/1, wave 1: 0/2" in lines
    page = dashboard_html(report)
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    assert page.count("<tr") == 1 + 2 + 1 + 3 + 1 + 2 + 2 + 1 + 2  # waves, hosts, versions, dora, recent (with headings)
    paths = write_report(str(tmp_path / "status"), report)
    assert paths["changed"] and json.load(open(paths["json"]))["done"] == 1
    assert not write_report(str(tmp_path / "status"), dict(report, generated="later"))["changed"]


def test_a_fleet_where_no_host_reported_has_no_host_done():
    report = fleet_report({"web-1": {"error": "did not report: unreachable or failed"}}, NOW, waves=[["web-1"]])
    assert (report["newest_version"], report["done"], report["total"]) == (None, 0, 1)
    assert "0 of 1 hosts serve -; wave 0: 0/1" in table_lines(report)


def test_a_message_cannot_break_the_page():
    statuses = {"web-1": {"ledger": ledger("1.0.0", [entry("deploy", "1.0.0", "failed", NOW, message="<script>x</script>")])}}
    page = dashboard_html(fleet_report(statuses, NOW))
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_a_deploy_freeze_shows_while_it_holds():
    frozen = dict(ledger("1.0.0", []), freeze={"reason": "incident 42", "by": "alice-7", "since": iso(NOW - 60), "until": None})
    ended = dict(ledger("1.0.0", []), freeze={"reason": "train", "by": "bob-1", "since": iso(NOW - 7200), "until": iso(NOW - 1)})
    report = fleet_report({"web-1": {"ledger": frozen}, "web-2": {"ledger": ended}, "web-3": {"ledger": ledger("1.0.0", [])}}, NOW)
    assert report["frozen"] == ["web-1"]
    rows = table_lines(report)[2:5]
    assert rows[0].split()[-4:] == ["incident", "42", "(alice-7)", "-"]
    assert [row.split()[-2:] for row in rows[1:]] == [["-", "-"], ["-", "-"]]
    page = dashboard_html(report)
    assert "<td>incident 42 (alice-7)</td>" in page and "bob-1" not in page


def test_the_report_says_where_a_rollback_without_a_version_takes_each_host():
    deployed = ledger("1.1.0", [entry("deploy", "1.1.0", "succeeded", NOW - 60)])
    deployed["live"].update(previous_version="1.0.0", made_by="deploy")
    taken_back = ledger("1.0.0", [entry("rollback", "1.0.0", "succeeded", NOW - 30)])
    taken_back["live"].update(previous_version="1.1.0", made_by="rollback")
    report = fleet_report({"web-1": {"ledger": deployed}, "web-2": {"ledger": taken_back},
                           "web-3": {"error": "did not report: unreachable or failed"}}, NOW)
    rows = dict((row["host"], row) for row in report["hosts"])
    assert rows["web-1"]["rollback"] == {"version": "1.0.0", "moves": True, "note": "1.1.0 -> 1.0.0"}
    assert (rows["web-2"]["rollback"]["version"], rows["web-2"]["rollback"]["moves"]) == ("1.0.0", False)
    assert rows["web-3"]["rollback"] is None and report["rollback_problem"] == ""
    lines = table_lines(report)
    at = lines[0].index("rollback")
    assert [line[at:].split("  ")[0] for line in lines[2:5]] == ["-> 1.0.0", "stays", "-"]
