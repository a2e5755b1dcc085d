"""``freeagentics report``: daily, incident, auth patterns, weekly, audits and memory on real logs and databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import uuid
from pathlib import Path

from tests.conftest import closed_port
from tests.infra.test_system_probe import metrics_server  # noqa: F401 - fixture
from typer.testing import CliRunner

from freeagentics.cli.main import app
from freeagentics.infra.db import migrate

runner = CliRunner()


def stamp(minutes_ago: float = 1) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")


def write_logs(log_dir: Path) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    access = [
        {
            "time": stamp(),
            "event": "http_request",
            "route": "/health",
            "status": 200,
            "duration_ms": float(ms),
            "client_ip": "127.0.0.1",
        }
        for ms in range(1, 21)
    ]
    access.append(
        {
            "time": stamp(),
            "event": "http_request",
            "route": "/api/v1/agents",
            "status": 500,
            "duration_ms": 900.0,
            "client_ip": "198.51.100.7",
        }
    )
    access.append(
        {"time": stamp(60 * 48), "event": "http_request", "route": "/old", "status": 200, "duration_ms": 1.0}
    )
    audit = [
        {
            "time": stamp(2),
            "level": "WARNING",
            "event": "authentication_failed",
            "client_ip": "198.51.100.7",
            "user": f"victim{i % 6}",
            "route": "/api/v1/auth/login",
            "reason": "bad credentials",
        }
        for i in range(12)
    ]
    audit.append(
        {
            "time": stamp(1),
            "level": "WARNING",
            "event": "rate_limit_exceeded",
            "client_ip": "198.51.100.7",
            "route": "/api/v1/auth/login",
            "reason": "auth",
        }
    )
    errors = [{"time": stamp(3), "level": "ERROR", "event": "unhandled_exception", "exc_info": "Traceback"}]
    for name, records in (("access.log", access), ("security_audit.log", audit), ("error.log", errors)):
        (log_dir / name).write_text("".join(json.dumps(record) + "\n" for record in records))


def embedded(settings_env, **extra):
    settings = settings_env(port=closed_port(), **extra)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    return settings


def add_agents(database: Path, statuses: list[str]) -> None:
    with sqlite3.connect(database) as connection:
        for index, status in enumerate(statuses):
            connection.execute(
                "INSERT INTO agents (id, name, status, parameters, created_at, updated_at) VALUES (?, ?, ?, '{}', '2026-01-01', '2026-01-01')",
                (uuid.uuid4().hex, f"agent{index}", status),
            )


def test_daily_report_json_from_logs_and_database(settings_env) -> None:
    settings = embedded(settings_env)
    write_logs(settings.log_dir)
    add_agents(settings.data_dir / "freeagentics.db", ["running", "running", "stopped"])
    result = runner.invoke(app, ["report", "daily", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["agents_by_status"] == {"running": 2, "stopped": 1}
    overall = payload["latency"][0]
    assert overall["route"] == "ALL"
    assert overall["requests"] == 21  # the 48-hour-old request is outside the window
    assert overall["errors_5xx"] == 1
    assert payload["errors"]["total"] == 1
    assert payload["security_events"] == {"authentication_failed": 12, "rate_limit_exceeded": 1}
    assert payload["runtime"]["reachable"] is False
    assert payload["slow_queries"]["available"] is False
    assert "SQLite" in payload["slow_queries"]["reason"]


def test_daily_report_markdown_to_a_file(settings_env, tmp_path) -> None:
    settings = embedded(settings_env)
    write_logs(settings.log_dir)
    target = tmp_path / "reports" / "daily.md"
    result = runner.invoke(app, ["report", "daily", "--output", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert text.startswith("# FreeAgentics daily report")
    assert "| /health | 20 | 0 |" in text


def test_daily_report_on_postgres_reports_pg_stat_statements_honestly(settings_env, postgres_url) -> None:
    settings_env(database_url=postgres_url, port=closed_port())
    migrate.upgrade(postgres_url)

    async def prepare() -> str:
        import asyncpg

        connection = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
        try:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            return str(await connection.fetchval("SHOW shared_preload_libraries"))
        finally:
            await connection.close()

    preloaded = "pg_stat_statements" in asyncio.run(prepare())
    result = runner.invoke(app, ["report", "daily", "--format", "json"])
    assert result.exit_code == 0, result.output
    slow = json.loads(result.stdout)["slow_queries"]
    if preloaded:
        assert slow["available"] is True
    else:
        assert slow["available"] is False
        assert "shared_preload_libraries" in slow["reason"]


def test_daily_report_without_the_extension_says_how_to_enable_it(settings_env, postgres_url) -> None:
    settings_env(database_url=postgres_url, port=closed_port())
    migrate.upgrade(postgres_url)
    result = runner.invoke(app, ["report", "daily"])
    assert result.exit_code == 0, result.output
    assert "extension pg_stat_statements is not installed" in result.stdout


def test_unreachable_database_still_gives_the_log_sections(settings_env) -> None:
    settings_env(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/x", port=closed_port()
    )
    result = runner.invoke(app, ["report", "daily", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["agents_by_status"] is None
    assert any("database not reachable" in note for note in payload["notes"])


def test_incident_and_auth_patterns_flag_the_attack(settings_env) -> None:
    settings = embedded(settings_env)
    write_logs(settings.log_dir)
    incident = runner.invoke(app, ["report", "incident", "--format", "json", "--hours", "1"])
    assert incident.exit_code == 0, incident.output
    payload = json.loads(incident.stdout)
    assert payload["severity"] == "high"
    assert payload["http_errors_by_ip"] == {"198.51.100.7": 1}
    assert payload["blocked_ips"] == []
    patterns = runner.invoke(app, ["report", "auth-patterns"])
    assert patterns.exit_code == 0, patterns.output
    assert "**brute_force** `198.51.100.7`" in patterns.stdout
    assert "**password_spraying** `198.51.100.7`" in patterns.stdout


def test_weekly_security_report_has_days_and_posture(settings_env) -> None:
    settings = embedded(settings_env)
    write_logs(settings.log_dir)
    result = runner.invoke(app, ["report", "weekly-security"])
    assert result.exit_code == 0, result.output
    assert "### Events per day" in result.stdout
    assert "signing keys present" in result.stdout


def good_keys(settings) -> None:
    settings.key_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    key = settings.key_dir / "20260101T000000000000Z-abcdef01.pem"
    key.write_text("private")
    key.chmod(0o600)


def test_audits_pass_on_a_sound_embedded_setup_and_fail_when_behind(settings_env) -> None:
    settings = embedded(settings_env)
    from freeagentics.infra.config_files import seed_config_dir

    seed_config_dir(settings.config_dir)
    good_keys(settings)
    audit = runner.invoke(app, ["report", "audit", "--format", "json"])
    assert audit.exit_code == 0, audit.output
    assert json.loads(audit.stdout)["ok"] is True
    monthly = runner.invoke(app, ["report", "monthly-audit"])
    assert monthly.exit_code == 0, monthly.output
    assert "active accounts by role" in monthly.stdout

    migrate.downgrade(settings.database_url, "-1")
    behind = runner.invoke(app, ["report", "audit"])
    assert behind.exit_code == 1
    assert "| FAIL | schema | migration at head |" in behind.stdout


def test_memory_report_labels_what_it_could_not_read(settings_env) -> None:
    embedded(settings_env)
    result = runner.invoke(app, ["report", "memory", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["server"]["reachable"] is False
    assert isinstance(payload["processes"], list)
    markdown = runner.invoke(app, ["report", "memory"])
    assert "Only process memory is reported below" in markdown.stdout


def test_memory_report_reads_the_running_server(settings_env, metrics_server) -> None:  # noqa: F811
    embedded(settings_env)
    result = runner.invoke(app, ["report", "memory", "--server", metrics_server, "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["server"]["reachable"] is True
    assert payload["server"]["components"] == {"memory.rss_bytes": 1048576, "memory.populations_bytes": 2048}


def test_daily_report_takes_window_steps_from_prometheus(settings_env, metrics_server) -> None:  # noqa: F811
    embedded(settings_env)
    result = runner.invoke(app, ["report", "daily", "--prometheus", metrics_server, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["window_steps"]["steps"] == 1234.5
    markdown = runner.invoke(app, ["report", "daily", "--prometheus", metrics_server])
    assert "1234 agent steps in the window" in markdown.stdout
