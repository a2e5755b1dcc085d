"""Blocked client addresses (the database side of IP blocking)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from freeagentics.infra.db.models import BlockedIpRow


class BlockedIpRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def block(self, ip: str, until: dt.datetime, reason: str) -> None:
        row = await self._session.get(BlockedIpRow, ip, populate_existing=True)
        if row is None:
            self._session.add(BlockedIpRow(ip=ip, blocked_until=until, reason=reason[:200]))
        else:
            row.blocked_until = max(row.blocked_until, until)
            row.reason = reason[:200]
        await self._session.flush()

    async def active(self, now: dt.datetime) -> list[tuple[str, dt.datetime, str]]:
        rows = await self._session.execute(
            select(BlockedIpRow.ip, BlockedIpRow.blocked_until, BlockedIpRow.reason)
            .where(BlockedIpRow.blocked_until > now)
            .order_by(BlockedIpRow.blocked_until)
        )
        return [(row.ip, row.blocked_until, row.reason) for row in rows]

    async def lift(self, ip: str) -> bool:
        result = await self._session.execute(
            delete(BlockedIpRow).where(BlockedIpRow.ip == ip).returning(BlockedIpRow.ip)
        )
        return result.scalar_one_or_none() is not None
