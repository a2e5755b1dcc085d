"""Async SQLAlchemy engine and session factory for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from freeagentics.config import DatabaseSettings
from freeagentics.infra.db.sqlite_driver import OneTripDbapi


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, settings: DatabaseSettings) -> AsyncEngine:
    """An engine with bounded pool waits and, on PostgreSQL, pre-ping and a per-session statement timeout.

    SQLite is an embedded file: a pooled connection cannot have been dropped by a server or a network, so
    it gets no pre-ping (which was one more statement per checkout), and its driver adapter makes one
    thread hand-off per statement (:mod:`freeagentics.infra.db.sqlite_driver`).
    """
    if is_sqlite(url):
        engine = create_async_engine(
            url,
            echo=settings.echo,
            pool_pre_ping=False,
            module=OneTripDbapi(),
            connect_args={"timeout": settings.connect_timeout_seconds},
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets the API read while the runtime writes checkpoints; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    return create_async_engine(
        url,
        echo=settings.echo,
        pool_pre_ping=True,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_seconds,
        pool_recycle=settings.pool_recycle_seconds,
        connect_args={
            "timeout": settings.connect_timeout_seconds,
            "command_timeout": settings.statement_timeout_ms / 1000 + 5,
            "server_settings": {
                "statement_timeout": str(settings.statement_timeout_ms),
                "application_name": "freeagentics",
            },
        },
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
