"""Alembic migrations: empty -> head, head -> base -> head, and the ORM matching the migrated schema."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from freeagentics.infra.db import migrate
from freeagentics.infra.db.base import Base

EXPECTED_TABLES = (
    {"users", "worlds", "agents"}
    | {"refresh_tokens", "token_revocations", "blocked_ips"}
    | {"world_checkpoints"}
    | {"objectives", "coalitions", "coalition_members"}
)


async def _tables_and_diff(url: str) -> tuple[set[str], list]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:

            def inspect_sync(sync_connection):
                tables = set(inspect(sync_connection).get_table_names()) - {"alembic_version"}
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                return tables, compare_metadata(context, Base.metadata)

            return await connection.run_sync(inspect_sync)
    finally:
        await engine.dispose()


def _round_trip(url: str) -> None:
    assert migrate.current_revision(url) is None
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    tables, diff = asyncio.run(_tables_and_diff(url))
    assert tables == EXPECTED_TABLES
    assert diff == [], f"ORM models and migrations disagree: {diff}"

    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    tables, _ = asyncio.run(_tables_and_diff(url))
    assert tables == set()

    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    tables, diff = asyncio.run(_tables_and_diff(url))
    assert tables == EXPECTED_TABLES
    assert diff == []


def test_migrations_round_trip_on_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}")


@pytest.mark.integration
def test_migrations_round_trip_on_postgres(postgres_url: str) -> None:
    _round_trip(postgres_url)


def test_there_is_exactly_one_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
