"""Read-only SQL for backup manifests and integrity checks, on PostgreSQL (asyncpg) and SQLite (sqlite3).

Backups and restores run outside the service's SQLAlchemy engine (next to pg_dump and psql, or on a plain
sqlite3 connection), so these queries take the driver connection they are given.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from freeagentics.services.backup_policy import TableDigest

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
