"""Operational and security reports computed from plain data (log records, query rows, check results).

Nothing here reads a file or a database: the CLI gathers the inputs through ``infra`` and passes them in,
so every figure is testable from literal records. Log records are the JSON objects of the service's logs
with ``time`` already parsed to an aware datetime. Each report renders as JSON (``to_dict``) and Markdown.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from freeagentics.services.integrity import CheckResult

Record = Mapping[str, Any]

AUTH_FAILED = "authentication_failed"
LOGIN_SUCCESS = "login_success"
RATE_LIMITED = "rate_limit_exceeded"


@dataclass(frozen=True)
class Window:
    since: dt.datetime
    until: dt.datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.since >= self.until:
            raise ValueError("window must start before it ends")

    @classmethod
    def last(cls, hours: float, now: dt.datetime) -> Window:
        if not math.isfinite(hours) or hours <= 0:
            raise ValueError("hours must be a positive number")
        return cls(since=now - dt.timedelta(hours=hours), until=now)

    def describe(self) -> str:
        return f"{self.since.isoformat(timespec='seconds')} → {self.until.isoformat(timespec='seconds')}"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within [0, 100]")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


@dataclass(frozen=True)
class LatencyRow:
    route: str
    requests: int
    errors_5xx: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def latency_by_route(access_records: Iterable[Record], limit: int = 20) -> list[LatencyRow]:
    """Per route template: request count, 5xx count and duration percentiles; ``ALL`` first, then busiest."""
    durations: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    for record in access_records:
        duration = _number(record.get("duration_ms"))
        if duration is None:
            continue
        route = str(record.get("route") or "unmatched")
        durations[route].append(duration)
        durations["ALL"].append(duration)
        status = record.get("status")
        if isinstance(status, int) and 500 <= status <= 599:
            errors[route] += 1
            errors["ALL"] += 1

    def row(route: str) -> LatencyRow:
        values = durations[route]
        return LatencyRow(
            route=route,
            requests=len(values),
            errors_5xx=errors[route],
            p50_ms=round(percentile(values, 50), 3),
            p95_ms=round(percentile(values, 95), 3),
            p99_ms=round(percentile(values, 99), 3),
            max_ms=round(max(values), 3),
        )

    if not durations:
        return []
    busiest = sorted((route for route in durations if route != "ALL"), key=lambda r: (-len(durations[r]), r))
    return [row("ALL"), *(row(route) for route in busiest[:limit])]


def count_by(records: Iterable[Record], key: str) -> dict[str, int]:
    """Counts of a field's values, most frequent first (missing values count as ``unknown``)."""
    counts = Counter(str(record.get(key) or "unknown") for record in records)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class SlowQuery:
    query: str
    calls: int
    mean_ms: float
    total_ms: float


@dataclass(frozen=True)
class QueryStats:
    """``pg_stat_statements`` output, or why there is none (SQLite, extension missing, not preloaded)."""

    available: bool
    reason: str | None = None
    queries: tuple[SlowQuery, ...] = ()


@dataclass(frozen=True)
class RuntimeFigures:
    """What the running server reports about itself, or why nothing could be read."""

    source: str
    reachable: bool
    agent_steps_total: float | None = None
    agents_by_status: dict[str, float] = field(default_factory=dict)
    detail: str | None = None


@dataclass(frozen=True)
class WindowSteps:
    """Agent steps within the report window from Prometheus (survives restarts and sums every process)."""

    source: str
    steps: float | None
    detail: str | None = None


@dataclass(frozen=True)
class DailyReport:
    generated_at: dt.datetime
    window: Window
    agents_by_status: dict[str, int] | None
    runtime: RuntimeFigures
    error_count: int
    errors_by_event: dict[str, int]
    latency: list[LatencyRow]
    security_events: dict[str, int]
    slow_queries: QueryStats
    unreadable_log_lines: int
    window_steps: WindowSteps | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "daily",
            "window_steps": asdict(self.window_steps) if self.window_steps else None,
            "generated_at": self.generated_at.isoformat(),
            "window": {"since": self.window.since.isoformat(), "until": self.window.until.isoformat()},
            "agents_by_status": self.agents_by_status,
            "runtime": asdict(self.runtime),
            "errors": {"total": self.error_count, "by_event": self.errors_by_event},
            "latency": [asdict(row) for row in self.latency],
            "security_events": self.security_events,
            "slow_queries": {
                "available": self.slow_queries.available,
                "reason": self.slow_queries.reason,
                "queries": [asdict(query) for query in self.slow_queries.queries],
            },
            "unreadable_log_lines": self.unreadable_log_lines,
        }

    def to_markdown(self) -> str:
        lines = [
            "# FreeAgentics daily report",
            "",
            f"Generated {self.generated_at.isoformat(timespec='seconds')}; window {self.window.describe()}.",
            "",
            "## Agents",
            "",
        ]
        if self.agents_by_status is None:
            lines.append("Agent table not present in this database.")
        else:
            lines += markdown_table(["status", "agents"], sorted(self.agents_by_status.items())) or [
                "No agents."
            ]
        lines += ["", "## Agent steps", ""]
        window_steps = self.window_steps
        if window_steps is not None:
            if window_steps.steps is not None:
                lines.append(
                    f"{window_steps.steps:.0f} agent steps in the window (from {window_steps.source})."
                )
            else:
                lines.append(
                    f"Steps in the window not available: {window_steps.detail} ({window_steps.source})."
                )
            lines.append("")
        if self.runtime.reachable and self.runtime.agent_steps_total is not None:
            lines.append(
                f"`freeagentics_agent_steps_total` = {self.runtime.agent_steps_total:g} "
                f"(counter since the server process started; from {self.runtime.source})"
            )
        else:
            lines.append(
                f"Not available: {self.runtime.detail or 'server not reachable'} ({self.runtime.source})."
            )
        lines += ["", "## Errors", "", f"{self.error_count} records in error.log."]
        if self.errors_by_event:
            lines += ["", *markdown_table(["event", "count"], self.errors_by_event.items())]
        lines += ["", "## Latency (access.log)", ""]
        if self.latency:
            lines += markdown_table(
                ["route", "requests", "5xx", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                [
                    (r.route, r.requests, r.errors_5xx, r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms)
                    for r in self.latency
                ],
            )
        else:
            lines.append("No requests in the window.")
        lines += ["", "## Security events (security_audit.log)", ""]
        if self.security_events:
            lines += markdown_table(["event", "count"], self.security_events.items())
        else:
            lines.append("None in the window.")
        lines += ["", "## Slowest queries (pg_stat_statements)", ""]
        if self.slow_queries.available and self.slow_queries.queries:
            lines += markdown_table(
                ["mean ms", "calls", "total ms", "query"],
                [
                    (q.mean_ms, q.calls, q.total_ms, _one_line(q.query, 120))
                    for q in self.slow_queries.queries
                ],
            )
        elif self.slow_queries.available:
            lines.append("pg_stat_statements is active but has recorded no statements yet.")
        else:
            lines.append(f"Not available: {self.slow_queries.reason}.")
        if self.unreadable_log_lines:
            lines += ["", f"{self.unreadable_log_lines} log lines could not be parsed and were skipped."]
        return "\n".join(lines) + "\n"


def build_daily_report(
    *,
    now: dt.datetime,
    window: Window,
    agents_by_status: dict[str, int] | None,
    runtime: RuntimeFigures,
    error_records: Sequence[Record],
    access_records: Sequence[Record],
    audit_records: Sequence[Record],
    slow_queries: QueryStats,
    unreadable_log_lines: int = 0,
    window_steps: WindowSteps | None = None,
) -> DailyReport:
    return DailyReport(
        generated_at=now,
        window=window,
        agents_by_status=agents_by_status,
        runtime=runtime,
        error_count=len(error_records),
        errors_by_event=count_by(error_records, "event"),
        latency=latency_by_route(access_records),
        security_events=count_by(audit_records, "event"),
        slow_queries=slow_queries,
        unreadable_log_lines=unreadable_log_lines,
        window_steps=window_steps,
    )


# --- authentication patterns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    detail: str


@dataclass(frozen=True)
class SourceActivity:
    client_ip: str
    failures: int
    successes: int
    distinct_users: int
    peak_failures_per_minute: int


@dataclass(frozen=True)
class AuthPatternReport:
    window: Window
    failures: int
    successes: int
    sources: list[SourceActivity]
    targeted_users: dict[str, int]
    findings: list[Finding]

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "auth_patterns",
            "window": {"since": self.window.since.isoformat(), "until": self.window.until.isoformat()},
            "failures": self.failures,
            "successes": self.successes,
            "sources": [asdict(source) for source in self.sources],
            "targeted_users": self.targeted_users,
            "findings": [asdict(finding) for finding in self.findings],
        }

    def to_markdown(self) -> str:
        lines = [
            "# Authentication patterns",
            "",
            f"Window {self.window.describe()}: "
            f"{self.failures} failed and {self.successes} successful logins.",
            "",
            "## Findings",
            "",
        ]
        lines += _findings_markdown(self.findings)
        lines += ["", "## Sources", ""]
        if self.sources:
            lines += markdown_table(
                ["client IP", "failures", "successes", "distinct users", "peak failures/min"],
                [
                    (s.client_ip, s.failures, s.successes, s.distinct_users, s.peak_failures_per_minute)
                    for s in self.sources[:20]
                ],
            )
        else:
            lines.append("No login activity in the window.")
        if self.targeted_users:
            lines += ["", "## Most targeted accounts", ""]
            lines += markdown_table(["user", "failures"], list(self.targeted_users.items())[:20])
        return "\n".join(lines) + "\n"


def analyze_auth_patterns(
    audit_records: Iterable[Record],
    window: Window,
    failures_per_minute_threshold: int,
    spray_distinct_users: int = 5,
) -> AuthPatternReport:
    """Brute force (failures per minute over the threshold), password spraying (one source, many accounts),
    credential stuffing (a success after failures from the same source) and distributed attacks on one
    account (many sources)."""
    failures_by_ip: Counter[str] = Counter()
    successes_by_ip: Counter[str] = Counter()
    users_by_ip: dict[str, set[str]] = defaultdict(set)
    per_minute: Counter[tuple[str, dt.datetime]] = Counter()
    failures_by_user: Counter[str] = Counter()
    ips_by_user: dict[str, set[str]] = defaultdict(set)
    success_after_failure: dict[str, int] = defaultdict(int)
    for record in audit_records:
        event = record.get("event")
        ip = str(record.get("client_ip") or "unknown")
        user = str(record.get("user") or record.get("username") or "unknown")
        moment = record["time"]
        if event == AUTH_FAILED:
            failures_by_ip[ip] += 1
            users_by_ip[ip].add(user)
            per_minute[(ip, moment.replace(second=0, microsecond=0))] += 1
            failures_by_user[user] += 1
            ips_by_user[user].add(ip)
        elif event == LOGIN_SUCCESS:
            successes_by_ip[ip] += 1
            if failures_by_ip[ip] > 0:
                success_after_failure[ip] += 1
    peaks: dict[str, int] = defaultdict(int)
    for (ip, _), count in per_minute.items():
        peaks[ip] = max(peaks[ip], count)
    sources = sorted(
        (
            SourceActivity(
                client_ip=ip,
                failures=failures_by_ip[ip],
                successes=successes_by_ip[ip],
                distinct_users=len(users_by_ip[ip]),
                peak_failures_per_minute=peaks[ip],
            )
            for ip in set(failures_by_ip) | set(successes_by_ip)
        ),
        key=lambda source: (-source.failures, source.client_ip),
    )
    findings: list[Finding] = []
    for source in sources:
        if source.peak_failures_per_minute > failures_per_minute_threshold:
            findings.append(
                Finding(
                    "brute_force",
                    source.client_ip,
                    f"{source.peak_failures_per_minute} failures in one minute "
                    f"(threshold {failures_per_minute_threshold}/min)",
                )
            )
        if source.distinct_users >= spray_distinct_users:
            findings.append(
                Finding(
                    "password_spraying",
                    source.client_ip,
                    f"failures against {source.distinct_users} accounts",
                )
            )
        if success_after_failure.get(source.client_ip):
            findings.append(
                Finding(
                    "success_after_failures",
                    source.client_ip,
                    f"{success_after_failure[source.client_ip]} successful logins after "
                    f"{source.failures} failures: check whether a password was guessed",
                )
            )
    for user, ips in sorted(ips_by_user.items()):
        if len(ips) >= spray_distinct_users and user != "unknown":
            findings.append(
                Finding("distributed_attack", user, f"failures from {len(ips)} different sources")
            )
    targeted = dict(sorted(failures_by_user.items(), key=lambda item: (-item[1], item[0])))
    return AuthPatternReport(
        window=window,
        failures=sum(failures_by_ip.values()),
        successes=sum(successes_by_ip.values()),
        sources=sources,
        targeted_users=targeted,
        findings=findings,
    )


# --- incidents and weekly security ----------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentReport:
    generated_at: dt.datetime
    window: Window
    severity: str
    events_by_type: dict[str, int]
    timeline: list[dict[str, Any]]
    source_ips: dict[str, int]
    affected_users: dict[str, int]
    http_errors_by_ip: dict[str, int]
    auth: AuthPatternReport
    blocked_ips: list[dict[str, Any]] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "incident",
            "generated_at": self.generated_at.isoformat(),
            "window": {"since": self.window.since.isoformat(), "until": self.window.until.isoformat()},
            "severity": self.severity,
            "events_by_type": self.events_by_type,
            "timeline": [{**entry, "time": entry["time"].isoformat()} for entry in self.timeline],
            "source_ips": self.source_ips,
            "affected_users": self.affected_users,
            "http_errors_by_ip": self.http_errors_by_ip,
            "auth_findings": [asdict(finding) for finding in self.auth.findings],
            "blocked_ips": self.blocked_ips,
        }

    def to_markdown(self) -> str:
        lines = [
            "# Security incident report",
            "",
            f"Generated {self.generated_at.isoformat(timespec='seconds')}; window {self.window.describe()}.",
            f"Severity: **{self.severity}**.",
            "",
            "## Events by type",
            "",
        ]
        lines += markdown_table(["event", "count"], self.events_by_type.items()) or ["None."]
        lines += ["", "## Findings", "", *_findings_markdown(self.auth.findings)]
        lines += ["", "## Sources (security events)", ""]
        lines += markdown_table(["client IP", "events"], list(self.source_ips.items())[:20]) or ["None."]
        lines += ["", "## Affected accounts", ""]
        lines += markdown_table(["user", "events"], list(self.affected_users.items())[:20]) or ["None."]
        lines += ["", "## HTTP 4xx/5xx by client (access.log)", ""]
        lines += markdown_table(["client IP", "responses"], list(self.http_errors_by_ip.items())[:20]) or [
            "None."
        ]
        lines += ["", "## Currently blocked IPs", ""]
        if self.blocked_ips is None:
            lines.append("Blocked-IP table not present in this database.")
        else:
            lines += markdown_table(
                ["ip", "reason", "blocked until"],
                [(b["ip"], b["reason"], b["blocked_until"]) for b in self.blocked_ips],
            ) or ["None."]
        lines += ["", "## Timeline (warnings, newest last)", ""]
        lines += markdown_table(
            ["time", "event", "client IP", "user", "route", "reason"],
            [
                (
                    entry["time"].isoformat(timespec="seconds"),
                    entry["event"],
                    entry.get("client_ip"),
                    entry.get("user"),
                    entry.get("route"),
                    _one_line(str(entry.get("reason") or ""), 80),
                )
                for entry in self.timeline
            ],
        ) or ["None."]
        return "\n".join(lines) + "\n"


def build_incident_report(
    *,
    now: dt.datetime,
    window: Window,
    audit_records: Sequence[Record],
    access_records: Sequence[Record],
    failures_per_minute_threshold: int,
    blocked_ips: list[dict[str, Any]] | None,
    timeline_limit: int = 100,
) -> IncidentReport:
    auth = analyze_auth_patterns(audit_records, window, failures_per_minute_threshold)
    warnings = [record for record in audit_records if record.get("level") in ("WARNING", "ERROR", "CRITICAL")]
    timeline = [
        {key: record.get(key) for key in ("time", "event", "client_ip", "user", "route", "reason")}
        for record in warnings[-timeline_limit:]
    ]
    http_errors = [
        record
        for record in access_records
        if isinstance(record.get("status"), int) and 400 <= record["status"] <= 599
    ]
    severe = {"token_reuse_detected", "security_event"}
    events = count_by(audit_records, "event")
    if auth.findings or severe & events.keys() or (blocked_ips or []):
        severity = "high"
    elif warnings:
        severity = "low"
    else:
        severity = "none"
    return IncidentReport(
        generated_at=now,
        window=window,
        severity=severity,
        events_by_type=events,
        timeline=timeline,
        source_ips=count_by(warnings, "client_ip"),
        affected_users={k: v for k, v in count_by(warnings, "user").items() if k != "unknown"},
        http_errors_by_ip=count_by(http_errors, "client_ip"),
        auth=auth,
        blocked_ips=blocked_ips,
    )


@dataclass(frozen=True)
class SecuritySummary:
    """Security events per day and type over a period (weekly and monthly reports)."""

    window: Window
    days: list[str]
    per_day: dict[str, dict[str, int]]
    totals: dict[str, int]
    auth: AuthPatternReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": {"since": self.window.since.isoformat(), "until": self.window.until.isoformat()},
            "per_day": self.per_day,
            "totals": self.totals,
            "auth": self.auth.to_dict(),
        }

    def markdown_lines(self) -> list[str]:
        event_types = list(self.totals)
        lines = [f"Window {self.window.describe()}.", "", "### Events per day", ""]
        if event_types:
            lines += markdown_table(
                ["day", *event_types],
                [
                    (day, *(self.per_day.get(day, {}).get(event, 0) for event in event_types))
                    for day in self.days
                ],
            )
        else:
            lines.append("No security events.")
        lines += [
            "",
            f"### Logins: {self.auth.failures} failed, {self.auth.successes} successful",
            "",
            *_findings_markdown(self.auth.findings),
        ]
        return lines


def summarize_security(
    audit_records: Sequence[Record], window: Window, failures_per_minute_threshold: int
) -> SecuritySummary:
    days: list[str] = []
    day = window.since.astimezone(dt.UTC).date()
    while day <= (window.until - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date():
        days.append(day.isoformat())
        day += dt.timedelta(days=1)
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for record in audit_records:
        per_day[record["time"].astimezone(dt.UTC).date().isoformat()][
            str(record.get("event") or "unknown")
        ] += 1
    return SecuritySummary(
        window=window,
        days=days,
        per_day={day: dict(counts) for day, counts in sorted(per_day.items())},
        totals=count_by(audit_records, "event"),
        auth=analyze_auth_patterns(audit_records, window, failures_per_minute_threshold),
    )


@dataclass(frozen=True)
class AuditReport:
    """Checks with pass/fail (posture, integrity, configuration, backups) plus informational sections."""

    title: str
    generated_at: dt.datetime
    checks: list[CheckResult]
    security: SecuritySummary | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed and check.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.title,
            "generated_at": self.generated_at.isoformat(),
            "ok": self.ok,
            "checks": [asdict(check) for check in self.checks],
            "security": self.security.to_dict() if self.security else None,
            "notes": self.notes,
        }

    def to_markdown(self) -> str:
        passed = sum(1 for check in self.checks if check.passed)
        lines = [
            f"# {self.title}",
            "",
            f"Generated {self.generated_at.isoformat(timespec='seconds')}: "
            f"{passed}/{len(self.checks)} checks passed; result **{'PASS' if self.ok else 'FAIL'}**.",
            "",
            "## Checks",
            "",
        ]
        lines += markdown_table(
            ["result", "area", "check", "detail"],
            [(_mark(check), check.area, check.name, _one_line(check.detail, 160)) for check in self.checks],
        )
        if self.security is not None:
            lines += ["", "## Security events", "", *self.security.markdown_lines()]
        if self.notes:
            lines += ["", "## Notes", "", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"


def _mark(check: CheckResult) -> str:
    if check.passed:
        return "pass"
    return "FAIL" if check.severity == "error" else "warn"


def _findings_markdown(findings: Sequence[Finding]) -> list[str]:
    if not findings:
        return ["No suspicious patterns."]
    return [f"- **{finding.kind}** `{finding.subject}`: {finding.detail}" for finding in findings]


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A GitHub Markdown table; empty list when there are no rows."""
    body = [f"| {' | '.join(_cell(value) for value in row)} |" for row in rows]
    if not body:
        return []
    return [f"| {' | '.join(headers)} |", f"|{'---|' * len(headers)}", *body]
