"""Read-only queries behind the operational reports: agents, blocked IPs, users, ``pg_stat_statements``.

A table that does not exist yet (a feature whose migration has not run) answers ``None`` rather than an
error, so a report on an older schema says "not present" instead of failing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from freeagentics.services.reports import QueryStats, SlowQuery

_SLOW_QUERIES = text(
    "SELECT query, calls, mean_exec_time, total_exec_time FROM pg_stat_statements "
    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "ORDER BY mean_exec_time DESC LIMIT :limit"
)


async def _has_table(connection: AsyncConnection, name: str) -> bool:
    return bool(await connection.run_sync(lambda sync: inspect(sync).has_table(name)))


async def agents_by_status(engine: AsyncEngine) -> dict[str, int] | None:
    async with engine.connect() as connection:
        if not await _has_table(connection, "agents"):
            return None
        rows = await connection.execute(
            text("SELECT status, count(*) FROM agents GROUP BY status ORDER BY status")
        )
        return {str(status): int(count) for status, count in rows}


async def users_by_role(engine: AsyncEngine) -> dict[str, int] | None:
    async with engine.connect() as connection:
        if not await _has_table(connection, "users"):
            return None
        rows = await connection.execute(
            text("SELECT role, count(*) FROM users WHERE is_active = :active GROUP BY role ORDER BY role"),
            {"active": True},
        )
        return {str(role): int(count) for role, count in rows}


async def active_blocked_ips(engine: AsyncEngine, now: dt.datetime) -> list[dict[str, Any]] | None:
    async with engine.connect() as connection:
        if not await _has_table(connection, "blocked_ips"):
            return None
        rows = await connection.execute(
            text(
                "SELECT ip, reason, blocked_until FROM blocked_ips WHERE blocked_until > :now "
                "ORDER BY blocked_until DESC LIMIT 100"
            ),
            {"now": now},
        )
        return [
            {"ip": str(ip), "reason": str(reason), "blocked_until": str(until)} for ip, reason, until in rows
        ]


async def slowest_queries(engine: AsyncEngine, limit: int = 10) -> QueryStats:
    """The runbook's slow-query list (``mean_exec_time``: PostgreSQL 13+ renamed ``mean_time``)."""
    if engine.dialect.name != "postgresql":
        return QueryStats(available=False, reason="the embedded SQLite database has no pg_stat_statements")
    async with engine.connect() as connection:
        installed = (
            await connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"))
        ).scalar()
        if not installed:
            return QueryStats(
                available=False,
                reason="extension pg_stat_statements is not installed in this database "
                "(shared_preload_libraries = 'pg_stat_statements', then CREATE EXTENSION pg_stat_statements)",
            )
        try:
            rows = (await connection.execute(_SLOW_QUERIES, {"limit": limit})).all()
        except DBAPIError as exc:
            message = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
            return QueryStats(available=False, reason=f"pg_stat_statements cannot be read: {message}")
    return QueryStats(
        available=True,
        queries=tuple(
            SlowQuery(
                query=str(query),
                calls=int(calls),
                mean_ms=round(float(mean), 3),
                total_ms=round(float(total), 3),
            )
            for query, calls, mean, total in rows
        ),
    )
