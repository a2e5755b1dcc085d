"""The SQLite engine: no pre-ping, one connection-thread call per statement, none for an empty commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from freeagentics.config import DatabaseSettings
from freeagentics.infra.db.engine import create_engine, create_session_factory


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    created = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}", DatabaseSettings())
    async with created.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"))
    yield created
    await created.dispose()


@pytest.fixture
def thread_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the functions run on aiosqlite's connection thread, in order."""
    calls: list[str] = []
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: object, *args: object, **kwargs: object) -> object:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return calls


def test_sqlite_has_no_pre_ping_and_postgresql_keeps_it() -> None:
    sqlite = create_engine("sqlite+aiosqlite:///unused.db", DatabaseSettings())
    postgres = create_engine("postgresql+asyncpg://user@127.0.0.1:1/unused", DatabaseSettings())
    assert sqlite.sync_engine.pool._pre_ping is False
    assert postgres.sync_engine.pool._pre_ping is True


async def test_a_read_only_session_makes_one_thread_call_per_statement(
    engine: AsyncEngine, thread_calls: list[str]
) -> None:
    session_factory = create_session_factory(engine)
    async with session_factory() as session:  # a first checkout connects; not counted below
        await session.execute(text("SELECT 1"))
        await session.commit()
    thread_calls.clear()
    async with session_factory() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
        assert (await session.execute(text("SELECT 1, 2"))).one() == (1, 2)
        await session.commit()
    # Two statements, no pre-ping, no cursor/fetch/close calls, nothing for the empty commit or the reset.
    assert thread_calls == ["_run_one", "_run_one"]


async def test_writes_commit_roll_back_and_report_rowcount_and_lastrowid(engine: AsyncEngine) -> None:
    session_factory = create_session_factory(engine)
    async with session_factory() as session:
        inserted = await session.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        await session.execute(text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}])
        await session.commit()
    async with session_factory() as session:
        updated = await session.execute(text("UPDATE t SET name = name || '!' WHERE name != 'a'"))
        assert updated.rowcount == 2  # type: ignore[attr-defined]
        await session.rollback()
    async with session_factory() as session:
        names = (await session.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
        assert names == ["a", "b", "c"]
        with pytest.raises(IntegrityError):
            await session.execute(text("INSERT INTO t (name) VALUES ('a')"))
        await session.rollback()
    async with session_factory() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3


async def test_an_uncommitted_write_is_rolled_back_when_the_session_closes(engine: AsyncEngine) -> None:
    session_factory = create_session_factory(engine)
    async with session_factory() as session:
        await session.execute(text("INSERT INTO t (name) VALUES ('lost')"))
    async with session_factory() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_rows_stream_in_chunks_and_savepoints_work(engine: AsyncEngine) -> None:
    session_factory = create_session_factory(engine)
    async with session_factory() as session:
        await session.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": f"n{i}"} for i in range(50)]
        )
        async with session.begin_nested():
            await session.execute(text("INSERT INTO t (name) VALUES ('inner')"))
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(text("INSERT INTO t (name) VALUES ('inner')"))
        await session.commit()
    async with session_factory() as session:
        streamed = await session.stream(text("SELECT name FROM t ORDER BY id"))
        names = [row[0] async for row in streamed]
        assert len(names) == 51
        assert names[-1] == "inner"
