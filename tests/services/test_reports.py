"""Report figures from literal log records: percentiles, counts, auth patterns, incidents, audits."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from freeagentics.services import reports
from freeagentics.services.integrity import CheckResult
from freeagentics.services.reports import QueryStats, RuntimeFigures, SlowQuery, Window

NOW = dt.datetime(2026, 1, 27, 12, 0, tzinfo=dt.UTC)
WINDOW = Window.last(24, NOW)


def at(minutes_ago: float, seconds: float = 0) -> dt.datetime:
    return NOW - dt.timedelta(minutes=minutes_ago) + dt.timedelta(seconds=seconds)


def access(route: str, duration_ms: float, status: int = 200, ip: str = "10.0.0.1") -> dict:
    return {
        "time": at(5),
        "event": "http_request",
        "route": route,
        "duration_ms": duration_ms,
        "status": status,
        "client_ip": ip,
    }


def audit(event: str, ip: str, user: str, when: dt.datetime, level: str = "WARNING") -> dict:
    return {
        "time": when,
        "event": event,
        "client_ip": ip,
        "user": user,
        "route": "/api/v1/auth/login",
        "level": level,
        "reason": "r",
    }


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0], 50, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([5.0, 1.0, 3.0], 0, 1.0),
    ],
)
def test_percentile_matches_linear_interpolation(values, q, expected) -> None:
    assert reports.percentile(values, q) == pytest.approx(expected)


def test_percentile_agrees_with_numpy_on_many_values() -> None:
    import numpy as np

    values = [float((i * 7919) % 1000) for i in range(997)]
    for q in (50, 95, 99):
        assert reports.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        reports.percentile([], 50)
    with pytest.raises(ValueError):
        reports.percentile([1.0], 101)


def test_latency_by_route_counts_5xx_and_orders_by_traffic() -> None:
    records = [access("/health", float(ms)) for ms in range(1, 101)]
    records += [access("/api/v1/agents", 300.0, status=503), access("/api/v1/agents", 100.0)]
    records.append({"time": at(1), "route": "/x", "duration_ms": float("nan"), "status": 200})
    rows = reports.latency_by_route(records)
    assert [row.route for row in rows] == ["ALL", "/health", "/api/v1/agents"]
    overall, health, agents = rows
    assert overall.requests == 102
    assert overall.errors_5xx == 1
    assert health.p50_ms == pytest.approx(50.5)
    assert health.p99_ms == pytest.approx(99.01)
    assert health.max_ms == 100.0
    assert agents.errors_5xx == 1
    assert agents.p50_ms == 200.0
    assert reports.latency_by_route([]) == []


def test_daily_report_renders_every_section_in_markdown_and_json() -> None:
    report = reports.build_daily_report(
        now=NOW,
        window=WINDOW,
        agents_by_status={"running": 3, "stopped": 1},
        runtime=RuntimeFigures(source="http://x/metrics", reachable=True, agent_steps_total=1234.0),
        error_records=[{"time": at(3), "event": "unhandled_exception"}] * 2,
        access_records=[access("/health", 2.0)],
        audit_records=[audit("authentication_failed", "1.2.3.4", "bob", at(2))],
        slow_queries=QueryStats(available=True, queries=(SlowQuery("SELECT | 1", 4, 2.5, 10.0),)),
        unreadable_log_lines=1,
    )
    markdown = report.to_markdown()
    for expected in (
        "| running | 3 |",
        "freeagentics_agent_steps_total` = 1234",
        "2 records in error.log",
        "| unhandled_exception | 2 |",
        "| /health | 1 | 0 |",
        "| authentication_failed | 1 |",
        "SELECT \\| 1",
        "1 log lines could not be parsed",
    ):
        assert expected in markdown, expected
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["agents_by_status"] == {"running": 3, "stopped": 1}
    assert payload["latency"][0]["route"] == "ALL"
    assert payload["slow_queries"]["queries"][0]["calls"] == 4
    assert payload["errors"]["total"] == 2


def test_daily_report_says_what_is_unavailable() -> None:
    report = reports.build_daily_report(
        now=NOW,
        window=WINDOW,
        agents_by_status=None,
        runtime=RuntimeFigures(source="http://x/metrics", reachable=False, detail="server not reachable"),
        error_records=[],
        access_records=[],
        audit_records=[],
        slow_queries=QueryStats(available=False, reason="extension pg_stat_statements is not installed"),
    )
    markdown = report.to_markdown()
    assert "Agent table not present" in markdown
    assert "Not available: server not reachable" in markdown
    assert "Not available: extension pg_stat_statements is not installed" in markdown
    assert "No requests in the window" in markdown


def test_brute_force_is_flagged_only_above_the_threshold() -> None:
    at_threshold = [audit("authentication_failed", "9.9.9.9", "alice", at(10, i)) for i in range(10)]
    assert reports.analyze_auth_patterns(at_threshold, WINDOW, 10).findings == []
    above = [*at_threshold, audit("authentication_failed", "9.9.9.9", "alice", at(10, 30))]
    findings = reports.analyze_auth_patterns(above, WINDOW, 10).findings
    assert [(f.kind, f.subject) for f in findings] == [("brute_force", "9.9.9.9")]
    spread = [audit("authentication_failed", "9.9.9.9", "alice", at(10 - 2 * i)) for i in range(11)]
    assert reports.analyze_auth_patterns(spread, WINDOW, 10).findings == []


def test_spraying_stuffing_and_distributed_attacks_are_recognised() -> None:
    records = [audit("authentication_failed", "5.5.5.5", f"user{i}", at(30, i)) for i in range(5)]
    records.append(audit("login_success", "5.5.5.5", "user3", at(29), level="INFO"))
    records += [audit("authentication_failed", f"7.7.7.{i}", "root", at(20, i)) for i in range(5)]
    report = reports.analyze_auth_patterns(records, WINDOW, 10)
    kinds = {(f.kind, f.subject) for f in report.findings}
    assert kinds == {
        ("password_spraying", "5.5.5.5"),
        ("success_after_failures", "5.5.5.5"),
        ("distributed_attack", "root"),
    }
    assert report.failures == 10
    assert report.successes == 1
    assert report.sources[0].client_ip == "5.5.5.5"
    assert report.targeted_users["root"] == 5
    assert "password_spraying" in report.to_markdown()


def test_incident_severity_follows_the_evidence() -> None:
    quiet = reports.build_incident_report(
        now=NOW,
        window=WINDOW,
        audit_records=[],
        access_records=[],
        failures_per_minute_threshold=10,
        blocked_ips=[],
    )
    assert quiet.severity == "none"
    one_failure = [audit("authentication_failed", "1.1.1.1", "bob", at(5))]
    low = reports.build_incident_report(
        now=NOW,
        window=WINDOW,
        audit_records=one_failure,
        access_records=[access("/api/v1/agents", 5.0, status=404, ip="1.1.1.1"), access("/health", 1.0)],
        failures_per_minute_threshold=10,
        blocked_ips=None,
    )
    assert low.severity == "low"
    assert low.http_errors_by_ip == {"1.1.1.1": 1}
    assert low.affected_users == {"bob": 1}
    assert "Blocked-IP table not present" in low.to_markdown()
    reuse = [audit("token_reuse_detected", "2.2.2.2", "carol", at(1))]
    high = reports.build_incident_report(
        now=NOW,
        window=WINDOW,
        audit_records=reuse,
        access_records=[],
        failures_per_minute_threshold=10,
        blocked_ips=[{"ip": "2.2.2.2", "reason": "alerts", "blocked_until": "later"}],
    )
    assert high.severity == "high"
    payload = high.to_dict()
    assert payload["timeline"][0]["event"] == "token_reuse_detected"
    assert payload["blocked_ips"][0]["ip"] == "2.2.2.2"


def test_security_summary_counts_per_day() -> None:
    week = Window.last(7 * 24, NOW)
    records = [
        audit("authentication_failed", "1.1.1.1", "a", NOW - dt.timedelta(days=2)),
        audit("authentication_failed", "1.1.1.1", "a", NOW - dt.timedelta(days=2, minutes=1)),
        audit("rate_limit_exceeded", "1.1.1.1", "a", NOW - dt.timedelta(hours=1)),
    ]
    summary = reports.summarize_security(records, week, 10)
    assert len(summary.days) == 8  # a 7 × 24 h window ending at noon touches eight calendar days
    assert summary.per_day["2026-01-25"] == {"authentication_failed": 2}
    assert summary.per_day["2026-01-27"] == {"rate_limit_exceeded": 1}
    assert summary.totals == {"authentication_failed": 2, "rate_limit_exceeded": 1}
    assert "| 2026-01-25 | 2 | 0 |" in "\n".join(summary.markdown_lines())


def test_audit_report_fails_only_on_error_checks() -> None:
    checks = [
        CheckResult("keys", "present", True, "ok"),
        CheckResult("tls", "certificate", False, "missing", "warning"),
    ]
    passing = reports.AuditReport(title="audit", generated_at=NOW, checks=checks)
    assert passing.ok
    assert "| warn | tls |" in passing.to_markdown()
    failing = reports.AuditReport(
        title="audit", generated_at=NOW, checks=[*checks, CheckResult("schema", "head", False, "behind")]
    )
    assert not failing.ok
    assert "**FAIL**" in failing.to_markdown()
    assert failing.to_dict()["ok"] is False


def test_window_validation() -> None:
    with pytest.raises(ValueError):
        Window.last(0, NOW)
    with pytest.raises(ValueError):
        Window.last(float("inf"), NOW)
    with pytest.raises(ValueError):
        Window(since=NOW, until=NOW)
    with pytest.raises(ValueError):
        Window(since=dt.datetime(2026, 1, 1), until=NOW)  # naive


def test_markdown_cells_cannot_break_the_table() -> None:
    lines = reports.markdown_table(["a"], [("x|y\nz",)])
    assert lines[-1] == "| x\\|y z |"
    assert reports.markdown_table(["a"], []) == []
