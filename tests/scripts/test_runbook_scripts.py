"""Every script the runbook names runs as a real process against a temp data dir and exits as it should."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from tests.conftest import closed_port

from freeagentics.infra.config_files import seed_config_dir
from freeagentics.infra.db import migrate

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def runbook_env(tmp_path) -> dict[str, str]:
    """A sound embedded deployment: migrated SQLite, seeded config dir, a 0600 signing key, some logs."""
    data = tmp_path / "data"
    data.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("FREEAGENTICS_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    env.update(
        {
            "FREEAGENTICS_ENV_FILE": str(empty_env_file),
            "FREEAGENTICS_DATA_DIR": str(data),
            "FREEAGENTICS_LOG_STDOUT": "false",
            "FREEAGENTICS_DEMO_WORLD": "false",
            "FREEAGENTICS_PORT": str(closed_port()),
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHON": sys.executable,
            "COLUMNS": "200",
        }
    )
    migrate.upgrade(f"sqlite+aiosqlite:///{data / 'freeagentics.db'}")
    seed_config_dir(data / "config")
    keys = data / "keys"
    keys.mkdir(mode=0o700)
    key = keys / "20260101T000000000000Z-abcdef01.pem"
    key.write_text("private")
    key.chmod(0o600)
    logs = data / "logs"
    logs.mkdir()
    now = dt.datetime.now(dt.UTC).isoformat()
    (logs / "access.log").write_text(
        json.dumps(
            {"time": now, "event": "http_request", "route": "/health", "status": 200, "duration_ms": 3.5}
        )
        + "\n"
    )
    (logs / "security_audit.log").write_text(
        json.dumps(
            {"time": now, "level": "WARNING", "event": "authentication_failed", "client_ip": "192.0.2.1"}
        )
        + "\n"
    )
    return env


def run(
    env: dict[str, str], script: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    path = ROOT / "scripts" / script
    command = [sys.executable, str(path), *args] if script.endswith(".py") else [str(path), *args]
    return subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, input=stdin, check=False
    )


def data_dir(env: dict[str, str]) -> Path:
    return Path(env["FREEAGENTICS_DATA_DIR"])


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("monitoring/generate_daily_report.py", ["--format", "json"], '"report": "daily"'),
        ("security/validate_security_posture.py", [], "security posture (development)"),
        ("validate_config.py", [], "settings ok (development)"),
        ("security/generate_incident_report.py", [], "# Security incident report"),
        ("security/analyze_auth_patterns.py", [], "1 failed and 0 successful logins"),
        ("security/weekly_security_report.py", [], "weekly security report"),
        ("security/comprehensive_audit.py", [], "result **PASS**"),
        ("security/monthly_audit.py", [], "monthly security audit"),
        ("memory_profiler.py", [], "Only process memory is reported"),
        ("verify_data_integrity.py", [], "migration at head"),
        ("verify_system_integrity.py", [], "key files mode 0600"),
    ],
)
def test_script_succeeds_on_a_sound_setup(runbook_env, script, args, expected) -> None:
    result = run(runbook_env, script, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout + result.stderr


def test_daily_report_json_is_parseable(runbook_env) -> None:
    result = run(runbook_env, "monitoring/generate_daily_report.py", "--format", "json")
    payload = json.loads(result.stdout)
    assert payload["latency"][0]["requests"] == 1
    assert payload["security_events"] == {"authentication_failed": 1}


def test_validate_config_fails_on_a_broken_file(runbook_env) -> None:
    (data_dir(runbook_env) / "config" / "threading_config.yaml").write_text(
        "pools: {engine: {max_workers: 0}}\n"
    )
    result = run(runbook_env, "validate_config.py")
    assert result.returncode == 1
    assert "threading_config.yaml" in result.stderr


def test_posture_and_audits_fail_on_a_loose_key(runbook_env) -> None:
    next((data_dir(runbook_env) / "keys").glob("*.pem")).chmod(0o644)
    posture = run(runbook_env, "security/validate_security_posture.py")
    assert posture.returncode == 1
    assert "is 0644 (chmod 600)" in posture.stderr
    assert run(runbook_env, "security/comprehensive_audit.py").returncode == 1
    assert run(runbook_env, "verify_system_integrity.py").returncode == 1


def test_data_integrity_fails_when_the_schema_is_behind(runbook_env) -> None:
    migrate.downgrade(f"sqlite+aiosqlite:///{data_dir(runbook_env) / 'freeagentics.db'}", "-1")
    result = run(runbook_env, "verify_data_integrity.py")
    assert result.returncode == 1
    assert "migration at head" in result.stderr


def test_sqlite_backup_scripts_end_to_end(runbook_env) -> None:
    created = run(runbook_env, "backup/daily_backup.sh")
    assert created.returncode == 0, created.stderr
    status = json.loads((data_dir(runbook_env) / "backup_status.json").read_text())
    dump = Path(status["path"])
    assert dump.name.startswith("freeagentics_")
    assert dump.name.endswith(".sqlite.gz")

    verified = run(runbook_env, "backup/verify_backup.sh")
    assert verified.returncode == 0, verified.stderr
    restoration = run(runbook_env, "backup/test_backup_restoration.sh")
    assert restoration.returncode == 0, restoration.stderr
    assert "config archives, sha256 ok" in restoration.stdout

    usage = run(runbook_env, "backup/restore-database.sh")
    assert usage.returncode == 2
    assert "usage" in usage.stderr
    an_hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y%m%d_%H%M%S")
    too_early = run(runbook_env, "backup/restore-database.sh", an_hour_ago, "--yes")
    assert too_early.returncode == 1
    assert "no sqlite backup taken at or before" in too_early.stderr
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).strftime("%Y%m%d_%H%M%S")
    restored = run(runbook_env, "backup/restore-database.sh", soon, "--yes")
    assert restored.returncode == 0, restored.stderr

    key = next((data_dir(runbook_env) / "keys").glob("*.pem"))
    key.unlink()
    full = run(runbook_env, "backup/full_system_restore.sh", "latest", "--yes")
    assert full.returncode == 0, full.stdout + full.stderr
    assert key.read_text() == "private"
    assert key.stat().st_mode & 0o777 == 0o600

    dump.write_bytes(dump.read_bytes()[:-64])
    damaged = run(runbook_env, "backup/verify_backup.sh", str(dump))
    assert damaged.returncode == 1
    assert "sha256 mismatch" in damaged.stderr
    assert run(runbook_env, "backup/test_backup_restoration.sh").returncode == 1


def test_postgres_backup_scripts_and_a_corrupted_dump(runbook_env, postgres_url, tmp_path) -> None:
    migrate.upgrade(postgres_url)

    async def seed() -> None:
        import asyncpg

        connection = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
        try:
            await connection.execute(
                "INSERT INTO users (id, username, password_hash, role, is_active, token_version, created_at, "
                "updated_at) VALUES ($1, 'ops', 'h', 'operator', true, 0, now(), now())",
                uuid.uuid4(),
            )
        finally:
            await connection.close()

    asyncio.run(seed())
    env = {
        **runbook_env,
        "FREEAGENTICS_DATABASE_URL": postgres_url,
        "FREEAGENTICS_BACKUP_DIR": str(tmp_path / "backups"),
    }
    created = run(env, "backup/daily_backup.sh", "--keep-days", "7")
    assert created.returncode == 0, created.stderr
    dumps = list((tmp_path / "backups" / "postgresql").glob("freeagentics_*.sql.gz"))
    assert len(dumps) == 1
    assert run(env, "backup/test_backup_restoration.sh").returncode == 0

    data = bytearray(dumps[0].read_bytes())
    data[len(data) // 3] ^= 0x55
    dumps[0].write_bytes(bytes(data))
    corrupted = run(env, "backup/verify_backup.sh")
    assert corrupted.returncode == 1
    assert "FAILED" in corrupted.stderr
    refused = run(env, "backup/restore-database.sh", "latest", "--yes")
    assert refused.returncode == 1
    assert "database unchanged" in refused.stderr


def test_incident_response_drill(runbook_env) -> None:
    result = run(runbook_env, "security/test_incident_response.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drill detected: brute_force and password_spraying" in result.stdout
    assert "# Security incident report" in result.stdout
