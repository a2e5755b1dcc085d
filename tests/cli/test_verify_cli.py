"""``freeagentics verify data|system`` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid

from typer.testing import CliRunner

from freeagentics.cli.main import app
from freeagentics.infra.db import migrate

runner = CliRunner()


def test_clean_sqlite_passes_and_a_dangling_reference_fails(settings_env) -> None:
    settings = settings_env()
    settings.data_dir.mkdir(parents=True)
    migrate.upgrade(settings.database_url)
    clean = runner.invoke(app, ["verify", "data", "--json"])
    assert clean.exit_code == 0, clean.output
    results = {check["name"]: check for check in json.loads(clean.stdout)["results"]}
    assert results["migration at head"]["passed"]
    assert results["no dangling references"]["passed"]

    # A file written with foreign keys off (an old tool, a manual edit) can hold references to nothing.
    with sqlite3.connect(settings.data_dir / "freeagentics.db") as connection:
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute(
            "INSERT INTO agents (id, name, status, parameters, world_id, created_at, updated_at) "
            "VALUES (?, 'lost', 'created', '{}', ?, '2026-01-01', '2026-01-01')",
            (uuid.uuid4().hex, uuid.uuid4().hex),
        )
    broken = runner.invoke(app, ["verify", "data"])
    assert broken.exit_code == 1
    assert "agents.(world_id) rows point at missing worlds" in broken.output


def test_schema_behind_head_fails(settings_env) -> None:
    settings = settings_env()
    settings.data_dir.mkdir(parents=True)
    migrate.upgrade(settings.database_url, migrate.head_revision())
    migrate.downgrade(settings.database_url, "-1")
    result = runner.invoke(app, ["verify", "data"])
    assert result.exit_code == 1
    assert "freeagentics db upgrade" in result.output


def test_postgres_with_checkpoints(settings_env, postgres_url) -> None:
    settings_env(database_url=postgres_url)
    migrate.upgrade(postgres_url)

    async def seed(payload: bytes) -> None:
        import asyncpg

        connection = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
        try:
            tables = {r["tablename"] for r in await connection.fetch("SELECT tablename FROM pg_tables")}
            world = uuid.uuid4()
            await connection.execute(
                "INSERT INTO worlds (id, name, spec, seed, created_at) VALUES ($1, 'w', '{}', 1, now())",
                world,
            )
            if "world_checkpoints" in tables:
                await connection.execute(
                    "INSERT INTO world_checkpoints (world_id, tick, agent_count, payload, saved_at) "
                    "VALUES ($1, 5, 0, $2, now())",
                    world,
                    payload,
                )
        finally:
            await connection.close()

    asyncio.run(seed(b"state"))
    ok = runner.invoke(app, ["verify", "data", "--json"])
    assert ok.exit_code == 0, ok.output
    results = {check["name"]: check for check in json.loads(ok.stdout)["results"]}
    assert results["checkpoints consistent"]["passed"]
    if "no checkpoint table" not in results["checkpoints consistent"]["detail"]:
        asyncio.run(seed(b""))
        empty = runner.invoke(app, ["verify", "data"])
        assert empty.exit_code == 1
        assert "empty checkpoint payload" in empty.output


def test_unreachable_database_fails_clearly(settings_env) -> None:
    from tests.conftest import closed_port

    settings_env(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/x")
    result = runner.invoke(app, ["verify", "data"])
    assert result.exit_code == 1
    assert "database not reachable" in result.output


def test_system_integrity_checks_key_modes_and_config(settings_env, tmp_path) -> None:
    settings = settings_env(config_dir=tmp_path / "etc")
    from freeagentics.infra.config_files import seed_config_dir

    seed_config_dir(settings.config_dir)
    settings.key_dir.mkdir(parents=True, mode=0o700)
    key = settings.key_dir / "k.pem"
    key.write_text("private")
    key.chmod(0o600)
    assert runner.invoke(app, ["verify", "system"]).exit_code == 0
    key.chmod(0o644)
    loose = runner.invoke(app, ["verify", "system"])
    assert loose.exit_code == 1
    assert "k.pem is 0644" in loose.output
    key.chmod(0o600)
    (settings.config_dir / "agent_config.yaml").write_text("tick_rate_hz: -1\n")
    bad_config = runner.invoke(app, ["verify", "system"])
    assert bad_config.exit_code == 1
    assert "agent_config.yaml" in bad_config.output
