"""``freeagentics backup`` on the embedded default (SQLite) and on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sqlite3
import uuid
from pathlib import Path

from typer.testing import CliRunner

from freeagentics.cli.main import app
from freeagentics.infra.db import migrate

runner = CliRunner()


def _insert_user(path: Path, name: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO users (id, username, password_hash, role, is_active, token_version, created_at, "
            "updated_at) VALUES (?, ?, 'h', 'observer', 1, 0, '2026-01-01', '2026-01-01')",
            (uuid.uuid4().hex, name),
        )


def test_sqlite_create_list_verify_restore(settings_env, tmp_path) -> None:
    settings = settings_env()
    settings.data_dir.mkdir(parents=True)
    migrate.upgrade(settings.database_url)
    database = settings.data_dir / "freeagentics.db"
    _insert_user(database, "kept")
    key_dir = settings.key_dir
    key_dir.mkdir(parents=True)
    (key_dir / "signing.pem").write_text("KEY")

    created = runner.invoke(app, ["backup", "create"])
    assert created.exit_code == 0, created.output
    assert "freeagentics_" in created.output
    status = json.loads((settings.data_dir / "backup_status.json").read_text())
    backup_file = Path(status["path"])
    assert backup_file.parent == settings.data_dir / "backups" / "sqlite"
    assert status["size_bytes"] == backup_file.stat().st_size
    assert (settings.data_dir / "backups" / "config").is_dir()

    listed = runner.invoke(app, ["backup", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    kinds = sorted(item["kind"] for item in json.loads(listed.stdout)["backups"])
    assert kinds == ["config", "sqlite"]

    verified = runner.invoke(app, ["backup", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "all checksums match" in verified.output

    _insert_user(database, "added-later")
    restored = runner.invoke(app, ["backup", "restore", "latest", "--yes"])
    assert restored.exit_code == 0, restored.output
    with sqlite3.connect(database) as connection:
        assert [row[0] for row in connection.execute("SELECT username FROM users")] == ["kept"]

    (key_dir / "signing.pem").unlink()
    files = runner.invoke(app, ["backup", "restore-files", "latest", "--yes"])
    assert files.exit_code == 0, files.output
    assert (key_dir / "signing.pem").read_text() == "KEY"


def test_restore_asks_and_a_no_changes_nothing(settings_env) -> None:
    settings = settings_env()
    settings.data_dir.mkdir(parents=True)
    migrate.upgrade(settings.database_url)
    assert runner.invoke(app, ["backup", "create", "--no-files"]).exit_code == 0
    database = settings.data_dir / "freeagentics.db"
    _insert_user(database, "after")
    answered_no = runner.invoke(app, ["backup", "restore", "latest"], input="n\n")
    assert answered_no.exit_code == 1
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM users").fetchone()[0] == 1


def test_timestamps_pick_the_newest_backup_at_or_before(settings_env) -> None:
    settings = settings_env()
    settings.data_dir.mkdir(parents=True)
    migrate.upgrade(settings.database_url)
    assert runner.invoke(app, ["backup", "create", "--no-files"]).exit_code == 0
    early = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    result = runner.invoke(app, ["backup", "verify", early.strftime("%Y%m%d_%H%M%S")])
    assert result.exit_code == 1
    assert "no sqlite backup taken at or before" in result.output
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert runner.invoke(app, ["backup", "verify", later.strftime("%Y%m%d_%H%M%S")]).exit_code == 0
    bad = runner.invoke(app, ["backup", "verify", "yesterday"])
    assert bad.exit_code == 2
    assert "YYYYmmdd_HHMMSS" in bad.output


def test_prune_removes_only_expired_backups(settings_env) -> None:
    settings = settings_env()
    settings.data_dir.mkdir(parents=True)
    migrate.upgrade(settings.database_url)
    assert runner.invoke(app, ["backup", "create", "--no-files"]).exit_code == 0
    directory = settings.data_dir / "backups" / "sqlite"
    current = next(directory.glob("*.sqlite.gz"))
    old = directory / "freeagentics_20200101_000000.sqlite.gz"
    for suffix in ("", ".sha256", ".manifest.json"):
        Path(f"{old}{suffix}").write_text("old")
    result = runner.invoke(app, ["backup", "prune", "--keep-days", "30"])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(directory)) == sorted(
        [current.name, f"{current.name}.sha256", f"{current.name}.manifest.json"]
    )


def test_postgres_backup_verify_and_a_corrupted_dump(settings_env, postgres_url, tmp_path) -> None:
    settings_env(database_url=postgres_url, backup_dir=tmp_path / "pg-backups")
    migrate.upgrade(postgres_url)
    created = runner.invoke(app, ["backup", "create"])
    assert created.exit_code == 0, created.output
    dump = next((tmp_path / "pg-backups" / "postgresql").glob("*.sql.gz"))
    assert runner.invoke(app, ["backup", "verify", str(dump)]).exit_code == 0
    dump.write_bytes(dump.read_bytes()[:-40])
    failed = runner.invoke(app, ["backup", "verify", str(dump)])
    assert failed.exit_code == 1
    assert "FAILED" in failed.output
    restore = runner.invoke(app, ["backup", "restore", str(dump), "--yes"])
    assert restore.exit_code == 1
    assert "database unchanged" in restore.output


def test_no_backups_is_a_clear_error(settings_env) -> None:
    settings_env()
    result = runner.invoke(app, ["backup", "verify"])
    assert result.exit_code == 1
    assert "no sqlite backups" in result.output


def test_an_unwritable_backup_dir_is_a_clear_error(settings_env, tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the backup dir should be")
    settings = settings_env(backup_dir=blocker / "backups")
    settings.data_dir.mkdir(parents=True)
    migrate.upgrade(settings.database_url)
    result = runner.invoke(app, ["backup", "create"])
    assert result.exit_code == 1
    assert "error:" in result.output
    assert not (settings.data_dir / "backup_status.json").exists()


async def test_metrics_report_the_backup_that_create_recorded(settings_env, app_client) -> None:
    settings = settings_env()
    settings.data_dir.mkdir(parents=True)
    # Alembic and the CLI run event loops of their own; keep them off this test's loop.
    await asyncio.to_thread(migrate.upgrade, settings.database_url)
    result = await asyncio.to_thread(runner.invoke, app, ["backup", "create", "--no-files"])
    assert result.exit_code == 0, result.output
    status = json.loads((settings.data_dir / "backup_status.json").read_text())

    from prometheus_client.parser import text_string_to_metric_families

    async with app_client(settings) as (client, _):
        response = await client.get("/metrics")
    assert response.status_code == 200
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples["freeagentics_backup_last_success_timestamp_seconds"] == status["last_success_unix"]
    assert samples["freeagentics_backup_last_size_bytes"] == status["size_bytes"]
