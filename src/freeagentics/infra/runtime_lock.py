"""The runtime-owner lock: a PostgreSQL session advisory lock, or an OS file lock beside the SQLite file.

Both are released by the operating system or the database when the holding process dies (even by
SIGKILL), which is what lets a standby process take over within a poll interval.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

#: Advisory-lock key: the first 8 bytes of sha256("freeagentics.runtime"), as a signed 64-bit integer.
RUNTIME_LOCK_KEY = 0x2D6A1F3B9C4E7A15


class PostgresAdvisoryLock:
    """Held on one dedicated connection for as long as this process owns the runtime."""

    def __init__(self, engine: AsyncEngine, key: int = RUNTIME_LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._connection: AsyncConnection | None = None

    async def try_acquire(self) -> bool:
        if self._connection is not None:
            return await self.still_held()
        connection = await self._engine.connect()
        try:
            acquired = (
                await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key})
            ).scalar_one()
            # Leave no transaction open: the lock is session-level and outlives transactions.
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not acquired:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def still_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception:
            # The connection died, and with it the lock; someone else may hold it now.
            await self._drop()
            return False
        return True

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
            except Exception:  # the connection is already gone; nothing more to release
                return

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            await connection.commit()
        finally:
            await connection.close()


class FileLock:
    """``flock`` on a file in the data dir (the embedded default: one SQLite file, one owner)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def _try(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        return await asyncio.to_thread(self._try)

    async def still_held(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def lock_for(engine: AsyncEngine, data_dir: Path) -> Any:
    if engine.dialect.name == "postgresql":
        return PostgresAdvisoryLock(engine)
    return FileLock(data_dir / "runtime.lock")
