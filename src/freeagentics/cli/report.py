"""``freeagentics report``: daily, incident, auth-pattern, weekly-security, audit and memory reports.

Inputs come from the log dir (``access.log``, ``error.log``, ``security_audit.log`` and their rotated copies),
the database (agents, blocked IPs, users, ``pg_stat_statements``) and, where a figure only exists in the
running process, the server's ``/metrics`` and ``/api/v1/system/metrics``. Output is Markdown (default) or
JSON, to stdout or ``--output``. Audits exit 1 when a check fails.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from freeagentics.cli.backup import EnvFileOption, console, operator_settings, out, progress_status
from freeagentics.config import Settings
from freeagentics.services import integrity, reports
from freeagentics.services.reports import QueryStats, Window

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from freeagentics.infra.log_reader import LogScan


report_app = typer.Typer(help="Operational and security reports (Markdown or JSON).", no_args_is_help=True)

T = TypeVar("T")


class OutputFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="markdown or json.")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="FREEAGENTICS_SERVER_URL",
        help="Running server to ask for live figures (default http://<host>:<port> from settings).",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="FREEAGENTICS_TOKEN",
        help="Bearer token for the server (not needed from a trusted network).",
        show_default=False,
    ),
]


def _hours_option(what: str) -> Any:
    return typer.Option("--hours", min=0.01, max=24 * 366, help=f"Length of the {what} window in hours.")


def emit(
    text_markdown: str, payload: dict[str, Any], output_format: OutputFormat, output: Path | None
) -> None:
    rendered = (
        json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n"
        if output_format is OutputFormat.JSON
        else text_markdown
    )
    if output is None:
        typer.echo(rendered, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    partial.write_text(rendered, encoding="utf-8")
    partial.replace(output)
    console.print(f"report written to {output}", highlight=False)


#: The fields each log's reports use; everything else is dropped while reading.
LOG_FIELDS = {
    "access.log": frozenset({"route", "status", "duration_ms", "client_ip"}),
    "error.log": frozenset({"event", "level"}),
    "security_audit.log": frozenset({"event", "level", "client_ip", "user", "username", "route", "reason"}),
}


def _read_logs(settings: Settings, window: Window, *names: str) -> dict[str, LogScan]:
    from freeagentics.infra.log_reader import read_log

    return {
        name: read_log(settings.log_dir, name, window.since, window.until, LOG_FIELDS.get(name))
        for name in names
    }


async def _on_database(settings: Settings, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    from freeagentics.infra.db.engine import create_engine

    engine = create_engine(settings.database_url, settings.database)
    try:
        return await action(engine)
    finally:
        await engine.dispose()


def _database_available(settings: Settings) -> bool:
    """The embedded database exists (opening a missing SQLite file would create an empty one)."""
    from freeagentics.infra import backup as backups

    return not settings.is_embedded or backups.sqlite_path(settings.database_url).is_file()


def query_database(
    settings: Settings, action: Callable[[AsyncEngine], Awaitable[T]], notes: list[str]
) -> T | None:
    from sqlalchemy.exc import SQLAlchemyError

    if not _database_available(settings):
        notes.append("the embedded database file does not exist yet")
        return None
    try:
        return asyncio.run(_on_database(settings, action))
    except (OSError, SQLAlchemyError) as exc:
        notes.append(f"database not reachable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return None


def _auth_threshold(settings: Settings) -> int:
    from freeagentics.infra.config_files import ConfigFileError, load_operator_config

    try:
        return load_operator_config(settings.config_dir).security_rules.authentication_failures_per_minute
    except ConfigFileError:
        return 10


@report_app.command("daily")
def daily(
    env_file: EnvFileOption = None,
    hours: Annotated[float, _hours_option("report")] = 24,
    output_format: FormatOption = OutputFormat.MARKDOWN,
    output: OutputOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            envvar="FREEAGENTICS_PROMETHEUS_URL",
            help="Prometheus server (e.g. http://localhost:9090) for the agent steps within the window.",
        ),
    ] = None,
) -> None:
    """Agents by status, agent steps, errors, latency percentiles, security events, slowest queries."""
    from freeagentics.infra import system_probe
    from freeagentics.infra.db.repositories import reports as report_queries

    settings = operator_settings(env_file)
    now = dt.datetime.now(dt.UTC)
    window = Window.last(hours, now)
    notes: list[str] = []
    with progress_status("daily report") as step:
        step("reading access.log, error.log and security_audit.log")
        logs = _read_logs(settings, window, "access.log", "error.log", "security_audit.log")
        step("querying agents and pg_stat_statements")
        agents = query_database(settings, report_queries.agents_by_status, notes)
        slow = query_database(settings, report_queries.slowest_queries, notes) or QueryStats(
            available=False, reason=notes[-1] if notes else "database not available"
        )
        step("asking the running server for agent steps")
        runtime = system_probe.fetch_runtime_figures(server or system_probe.server_base_url(settings), token)
        window_steps = None
        if prometheus:
            step("asking Prometheus for the steps within the window")
            window_steps = system_probe.fetch_window_steps(prometheus, hours)
    report = reports.build_daily_report(
        now=now,
        window=window,
        agents_by_status=agents,
        runtime=runtime,
        error_records=logs["error.log"].records,
        access_records=logs["access.log"].records,
        audit_records=logs["security_audit.log"].records,
        slow_queries=slow,
        unreadable_log_lines=sum(scan.malformed_lines for scan in logs.values()),
        window_steps=window_steps,
    )
    payload = report.to_dict()
    payload["notes"] = notes
    markdown = report.to_markdown() + "".join(f"\nNote: {note}.\n" for note in notes)
    emit(markdown, payload, output_format, output)


@report_app.command("incident")
def incident(
    env_file: EnvFileOption = None,
    hours: Annotated[float, _hours_option("incident")] = 24,
    output_format: FormatOption = OutputFormat.MARKDOWN,
    output: OutputOption = None,
) -> None:
    """Security incident report: events, timeline, sources, affected accounts, HTTP errors, blocked IPs."""
    from freeagentics.infra.db.repositories import reports as report_queries

    settings = operator_settings(env_file)
    now = dt.datetime.now(dt.UTC)
    window = Window.last(hours, now)
    notes: list[str] = []
    with progress_status("incident report") as step:
        step("reading security_audit.log and access.log")
        logs = _read_logs(settings, window, "security_audit.log", "access.log")
        step("reading blocked IPs")
        blocked = query_database(
            settings, lambda engine: report_queries.active_blocked_ips(engine, now), notes
        )
    report = reports.build_incident_report(
        now=now,
        window=window,
        audit_records=logs["security_audit.log"].records,
        access_records=logs["access.log"].records,
        failures_per_minute_threshold=_auth_threshold(settings),
        blocked_ips=blocked,
    )
    payload = report.to_dict()
    payload["notes"] = notes
    emit(
        report.to_markdown() + "".join(f"\nNote: {note}.\n" for note in notes), payload, output_format, output
    )


@report_app.command("auth-patterns")
def auth_patterns(
    env_file: EnvFileOption = None,
    hours: Annotated[float, _hours_option("analysis")] = 24,
    output_format: FormatOption = OutputFormat.MARKDOWN,
    output: OutputOption = None,
) -> None:
    """Brute force, password spraying, success after failures and distributed attacks on one account."""
    from freeagentics.infra.log_reader import read_log

    settings = operator_settings(env_file)
    window = Window.last(hours, dt.datetime.now(dt.UTC))
    scan = read_log(
        settings.log_dir, "security_audit.log", window.since, window.until, LOG_FIELDS["security_audit.log"]
    )
    report = reports.analyze_auth_patterns(scan.records, window, _auth_threshold(settings))
    emit(report.to_markdown(), report.to_dict(), output_format, output)


@report_app.command("weekly-security")
def weekly_security(
    env_file: EnvFileOption = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="Length of the period in days.")] = 7,
    output_format: FormatOption = OutputFormat.MARKDOWN,
    output: OutputOption = None,
    certificate: Annotated[Path | None, typer.Option(help="TLS certificate to check.")] = None,
) -> None:
    """Security events per day, login patterns and the current posture over the last DAYS days."""
    from freeagentics.infra import system_probe
    from freeagentics.infra.log_reader import read_log

    settings = operator_settings(env_file)
    now = dt.datetime.now(dt.UTC)
    window = Window.last(days * 24, now)
    with progress_status("weekly security report") as step:
        step("reading security_audit.log")
        scan = read_log(
            settings.log_dir,
            "security_audit.log",
            window.since,
            window.until,
            LOG_FIELDS["security_audit.log"],
        )
        step("checking the security posture")
        facts = system_probe.gather_system_facts(settings, certificate)
    report = reports.AuditReport(
        title="FreeAgentics weekly security report",
        generated_at=now,
        checks=integrity.posture_checks(facts),
        security=reports.summarize_security(scan.records, window, _auth_threshold(settings)),
    )
    emit(report.to_markdown(), report.to_dict(), output_format, output)


def _audit_checks(settings: Settings, certificate: Path | None, step: Callable[[str], None]) -> list[Any]:
    from freeagentics.infra import system_probe
    from freeagentics.infra.db import migrate
    from freeagentics.infra.db.repositories import integrity as integrity_queries

    step("security posture and system files")
    facts = system_probe.gather_system_facts(settings, certificate)
    checks = integrity.posture_checks(facts)
    checks += [check for check in integrity.system_checks(facts) if check.area in ("files", "backups")]
    step("data integrity")
    notes: list[str] = []
    data = query_database(
        settings, lambda engine: integrity_queries.gather_data_facts(engine, migrate.head_revision()), notes
    )
    if data is None:
        checks.append(integrity.CheckResult("database", "database reachable", False, "; ".join(notes)))
    else:
        checks += integrity.data_checks(data)
    return checks


@report_app.command("audit")
def audit(
    env_file: EnvFileOption = None,
    output_format: FormatOption = OutputFormat.MARKDOWN,
    output: OutputOption = None,
    certificate: Annotated[Path | None, typer.Option(help="TLS certificate to check.")] = None,
) -> None:
    """Comprehensive audit: posture, config, files, backups and data integrity; exit 1 if any check fails."""
    from freeagentics.infra.log_reader import read_log

    settings = operator_settings(env_file)
    now = dt.datetime.now(dt.UTC)
    with progress_status("comprehensive audit") as step:
        checks = _audit_checks(settings, certificate, step)
        scan = read_log(
            settings.log_dir,
            "security_audit.log",
            now - dt.timedelta(days=7),
            now,
            LOG_FIELDS["security_audit.log"],
        )
    report = reports.AuditReport(
        title="FreeAgentics comprehensive security audit",
        generated_at=now,
        checks=checks,
        security=reports.summarize_security(
            scan.records, Window.last(7 * 24, now), _auth_threshold(settings)
        ),
    )
    emit(report.to_markdown(), report.to_dict(), output_format, output)
    if not report.ok:
        raise typer.Exit(1)


@report_app.command("monthly-audit")
def monthly_audit(
    env_file: EnvFileOption = None,
    output_format: FormatOption = OutputFormat.MARKDOWN,
    output: OutputOption = None,
    certificate: Annotated[Path | None, typer.Option(help="TLS certificate to check.")] = None,
) -> None:
    """The comprehensive audit over 30 days, plus accounts by role and the backups kept; exit 1 on failure."""
    from freeagentics.infra import backup as backups
    from freeagentics.infra.db.repositories import reports as report_queries
    from freeagentics.infra.log_reader import read_log

    settings = operator_settings(env_file)
    now = dt.datetime.now(dt.UTC)
    window = Window.last(30 * 24, now)
    notes: list[str] = []
    with progress_status("monthly audit") as step:
        checks = _audit_checks(settings, certificate, step)
        step("reading 30 days of security_audit.log")
        scan = read_log(
            settings.log_dir,
            "security_audit.log",
            window.since,
            window.until,
            LOG_FIELDS["security_audit.log"],
        )
        roles = query_database(settings, report_queries.users_by_role, notes)
    root = backups.backup_root(settings)
    kind = backups.database_kind(settings.database_url)
    kept = backups.list_backups(root, kind)
    notes.append(f"{len(kept)} {kind} backups kept under {root / kind}")
    if roles is not None:
        notes.append(
            "active accounts by role: " + (", ".join(f"{r}={n}" for r, n in roles.items()) or "none")
        )
        if roles.get("admin", 0) > 3:
            notes.append(f"{roles['admin']} active admins: review whether each still needs the role")
    report = reports.AuditReport(
        title="FreeAgentics monthly security audit",
        generated_at=now,
        checks=checks,
        security=reports.summarize_security(scan.records, window, _auth_threshold(settings)),
        notes=notes,
    )
    emit(report.to_markdown(), report.to_dict(), output_format, output)
    if not report.ok:
        raise typer.Exit(1)


@report_app.command("memory")
def memory(
    env_file: EnvFileOption = None,
    output_format: FormatOption = OutputFormat.MARKDOWN,
    output: OutputOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Memory by component: populations and caches from the running server, and its processes (RSS/USS)."""
    from freeagentics.infra import system_probe

    settings = operator_settings(env_file)
    base = server or system_probe.server_base_url(settings)
    live, source = system_probe.fetch_system_metrics(base, token)
    processes = system_probe.freeagentics_processes()
    components = _memory_components(live) if live is not None else {}
    payload: dict[str, Any] = {
        "report": "memory",
        "server": {"source": source, "reachable": live is not None, "components": components},
        "processes": processes,
    }
    lines = ["# FreeAgentics memory by component", "", "## Server components", ""]
    if live is None:
        lines.append(f"Not available — {source}. Only process memory is reported below.")
    else:
        lines += reports.markdown_table(["component", "value"], sorted(components.items())) or [
            f"{source} reports no memory figures."
        ]
        if not any("population" in name or "cache" in name for name in components):
            lines += [
                "",
                "The server does not break memory down by population or cache: the figures above are all it"
                " reports.",
            ]
            payload["server"]["note"] = "no per-population or per-cache memory figures exported"
    lines += ["", "## FreeAgentics processes", ""]
    lines += reports.markdown_table(
        ["pid", "RSS MiB", "USS MiB", "threads", "command"],
        [
            (
                p["pid"],
                _mib(p["rss_bytes"]),
                _mib(p["uss_bytes"]),
                p["threads"],
                p["command"],
            )
            for p in processes
        ],
    ) or ["No running FreeAgentics server process found on this host."]
    emit("\n".join(lines) + "\n", payload, output_format, output)


def _mib(value: Any) -> str:
    return f"{value / 1048576:.1f}" if isinstance(value, int | float) else "n/a"


def _memory_components(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every memory- or size-like figure in the system metrics document, flattened to dotted names."""
    found: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(_memory_components(value, f"{name}."))
        elif isinstance(value, int | float) and any(
            marker in name.lower() for marker in ("memory", "bytes", "rss", "population", "cache")
        ):
            found[name] = value
    return found


def print_checks(checks: list[integrity.CheckResult], title: str) -> bool:
    """A Rich table of check results on stdout; returns whether every error-level check passed."""
    table = Table(title=title, show_lines=False)
    for column in ("result", "area", "check", "detail"):
        table.add_column(column, overflow="fold")
    for check in checks:
        mark = (
            "[green]pass[/green]"
            if check.passed
            else ("[red]FAIL[/red]" if check.severity == "error" else "[yellow]warn[/yellow]")
        )
        table.add_row(mark, check.area, check.name, check.detail)
    out.print(table)
    return all(check.passed or check.severity != "error" for check in checks)
