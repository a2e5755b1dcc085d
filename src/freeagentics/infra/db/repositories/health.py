"""The database round trip behind ``/health``."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class DatabaseHealthProbe:
    """Checks the database with one ``SELECT 1`` round trip on a pooled connection."""

    name = "database"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self) -> dict[str, str]:
        async with self._engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return {"dialect": self._engine.dialect.name}
