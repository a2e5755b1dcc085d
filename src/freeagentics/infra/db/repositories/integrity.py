"""Read-only SQL for backup manifests and integrity checks.

Backup manifests are computed outside the service's SQLAlchemy engine (beside pg_dump and psql, or on a
plain sqlite3 connection), so those queries take the driver connection they are given; the data-integrity
facts are read through the service's async engine on either database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from freeagentics.services.backup_policy import TableDigest
from freeagentics.services.integrity import CheckpointFacts, DataFacts, ForeignKeyViolation

#: Session settings that make a row's text form identical on every server, so checksums compare.
_DIGEST_SESSION = (
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
)

_DIGEST_QUERY = (
    "SELECT count(*) AS rows, "
    "coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') AS checksum "
    "FROM public.{table} AS t"
)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def pg_table_digests(connection: Any) -> dict[str, TableDigest]:
    for statement in _DIGEST_SESSION:
        await connection.execute(statement)
    tables = await connection.fetch(
        "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    digests: dict[str, TableDigest] = {}
    for record in tables:
        name = record["tablename"]
        # Sorting the per-row hashes makes the checksum independent of physical row order.
        # The only interpolation is a catalogue table name, quoted.
        row = await connection.fetchrow(_DIGEST_QUERY.format(table=quote_ident(name)))
        digests[name] = TableDigest(rows=int(row["rows"]), checksum=str(row["checksum"]))
    return digests


def sqlite_table_digests(connection: sqlite3.Connection) -> dict[str, TableDigest]:
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    digests: dict[str, TableDigest] = {}
    for name in names:
        row_hashes = sorted(
            hashlib.md5(repr(row).encode("utf-8"), usedforsecurity=False).hexdigest()
            for row in connection.execute(f"SELECT * FROM {quote_ident(name)}")  # noqa: S608 - quoted name
        )
        checksum = (
            hashlib.md5("".join(row_hashes).encode("ascii"), usedforsecurity=False).hexdigest()
            if row_hashes
            else ""
        )
        digests[name] = TableDigest(rows=len(row_hashes), checksum=checksum)
    return digests


# --- data integrity through the service's SQLAlchemy engine ----------------------------------------------


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return None


def _schema_shape(sync_connection: Any) -> tuple[list[str], list[tuple[str, list[str], str, list[str]]]]:
    inspector = inspect(sync_connection)
    tables = sorted(inspector.get_table_names())
    foreign_keys = [
        (table, list(fk["constrained_columns"]), fk["referred_table"], list(fk["referred_columns"]))
        for table in tables
        for fk in inspector.get_foreign_keys(table)
        if fk.get("referred_table") and fk.get("constrained_columns")
    ]
    return tables, foreign_keys


async def gather_data_facts(engine: AsyncEngine, head_revision: str | None) -> DataFacts:
    """Migration revision, dangling foreign keys (checked with NOT EXISTS, so SQLite files written with
    foreign keys off are caught too), orphaned agents and world checkpoints, read in one connection."""
    async with engine.connect() as connection:
        tables, foreign_keys = await connection.run_sync(_schema_shape)
        quote = connection.dialect.identifier_preparer.quote
        current = None
        if "alembic_version" in tables:
            current = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        violations: list[ForeignKeyViolation] = []
        for table, columns, parent, parent_columns in foreign_keys:
            if parent not in tables:
                continue
            present = " AND ".join(f"c.{quote(column)} IS NOT NULL" for column in columns)
            joined = " AND ".join(
                f"p.{quote(parent_column)} = c.{quote(column)}"
                for column, parent_column in zip(columns, parent_columns, strict=True)
            )
            query = (
                f"SELECT count(*) FROM {quote(table)} AS c WHERE {present} "  # noqa: S608 - catalogue names, quoted
                f"AND NOT EXISTS (SELECT 1 FROM {quote(parent)} AS p WHERE {joined})"
            )
            rows = int((await connection.execute(text(query))).scalar() or 0)
            if rows:
                violations.append(ForeignKeyViolation(table, tuple(columns), parent, rows))
        without_owner = without_world = None
        if "agents" in tables:
            without_owner = int(
                (
                    await connection.execute(text("SELECT count(*) FROM agents WHERE owner_id IS NULL"))
                ).scalar()
                or 0
            )
            without_world = int(
                (
                    await connection.execute(text("SELECT count(*) FROM agents WHERE world_id IS NULL"))
                ).scalar()
                or 0
            )
        checkpoints = None
        if "world_checkpoints" in tables:
            agent_count = (
                "(SELECT count(*) FROM agents AS a WHERE a.world_id = wc.world_id)"
                if "agents" in tables
                else "0"
            )
            result = await connection.execute(
                text(
                    "SELECT wc.world_id, wc.tick, wc.agent_count, length(wc.payload), wc.saved_at, "  # noqa: S608
                    f"{agent_count} FROM world_checkpoints AS wc"
                )
            )
            checkpoints = tuple(
                CheckpointFacts(
                    world_id=str(row[0]),
                    tick=int(row[1]),
                    agent_count=int(row[2]),
                    payload_bytes=int(row[3] or 0),
                    saved_at=_as_datetime(row[4]),
                    world_agents=int(row[5]),
                )
                for row in result
            )
    return DataFacts(
        current_revision=current,
        head_revision=head_revision,
        tables=tuple(tables),
        foreign_key_violations=tuple(violations),
        foreign_keys_checked=len(foreign_keys),
        agents_without_owner=without_owner,
        agents_without_world=without_world,
        checkpoints=checkpoints,
    )
