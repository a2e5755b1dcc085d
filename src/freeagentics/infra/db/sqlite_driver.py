"""SQLAlchemy's aiosqlite adapter with fewer thread hand-offs: one per statement, none for an empty commit.

aiosqlite runs every call on the connection's own thread; SQLAlchemy's adapter makes four such calls per
statement (open a cursor, execute, fetch all, close) and one per ``commit``/``rollback`` even when no
transaction is open. Each call is a hand-off to that thread and back to the event loop, and each return
must win the GIL back from the runtime's tick thread, so on a busy process they dominate a short request.

This adapter keeps SQLAlchemy's classes and behaviour and changes only that:

- a statement runs in one call on the connection thread: cursor, execute, fetch all rows, close; the
  description, ``rowcount`` and ``lastrowid`` come back with the rows (the adapter already buffered every
  row before; server-side cursors keep SQLAlchemy's own class);
- ``commit``/``rollback`` return at once when SQLite has no open transaction (``in_transaction`` is false),
  where ``sqlite3`` would do nothing either (reads open no transaction under ``sqlite3``'s default
  transaction control, which SQLAlchemy's pysqlite dialect uses).

Used by :func:`freeagentics.infra.db.engine.create_engine` through ``create_async_engine(module=...)``.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT


class _Finished:
    """What SQLAlchemy reads from a cursor after a statement, kept once the sqlite3 cursor is closed."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, description: Any = None, rowcount: int = -1, lastrowid: int | None = None) -> None:
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1

    async def close(self) -> None:
        return None


def _run_one(
    connection: aiosqlite.Connection, operation: Any, parameters: Any
) -> tuple[_Finished, list[Any]]:
    """On the connection thread: the whole statement, rows included."""
    cursor = connection._conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return _Finished(cursor.description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


def _run_many(connection: aiosqlite.Connection, operation: Any, seq_of_parameters: Any) -> _Finished:
    cursor = connection._conn.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return _Finished(cursor.description, cursor.rowcount, cursor.lastrowid)
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one call on the connection thread."""

    __slots__ = ()

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor is opened here (that was a hand-off of its own): the statement opens one.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Finished()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            connection = self._connection
            finished, rows = await connection._execute(_run_one, connection, operation, parameters)
            self._cursor = finished
            self._rows = collections.deque(rows)
            return None

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            connection = self._connection
            self._cursor = await connection._execute(_run_many, connection, operation, seq_of_parameters)
            self._rows = collections.deque()
            return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = OneTripCursor

    def _transaction_open(self) -> bool:
        driver = self._connection
        # Read on the event loop while the connection thread is idle (every call on it is awaited).
        return driver._connection is not None and driver.in_transaction

    def commit(self) -> None:
        if self._transaction_open():
            super().commit()

    def rollback(self) -> None:
        if self._transaction_open():
            super().rollback()


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module handed to ``create_async_engine(module=...)`` for ``sqlite+aiosqlite`` URLs."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)
