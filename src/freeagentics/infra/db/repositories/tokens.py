"""Refresh-token families and the revocation mirror."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from freeagentics.infra.db.base import utc_now
from freeagentics.infra.db.models import RefreshTokenRow, TokenRevocationRow
from freeagentics.services.auth.ports import RefreshOutcome, RefreshUse


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token_id: str, family_id: str, user_id: uuid.UUID, expires_at: dt.datetime) -> None:
        self._session.add(
            RefreshTokenRow(id=token_id, family_id=family_id, user_id=user_id, expires_at=expires_at)
        )
        await self._session.flush()

    async def consume(self, token_id: str) -> RefreshUse:
        # One conditional UPDATE: the database serialises two concurrent ones on the row, so exactly one
        # sees ``used_at IS NULL`` and matches (PostgreSQL row lock; SQLite's single writer).
        now = utc_now()
        result = await self._session.execute(
            update(RefreshTokenRow)
            .where(
                RefreshTokenRow.id == token_id,
                RefreshTokenRow.used_at.is_(None),
                RefreshTokenRow.revoked_at.is_(None),
            )
            .values(used_at=now)
            .returning(RefreshTokenRow.family_id, RefreshTokenRow.user_id)
        )
        consumed = result.one_or_none()
        if consumed is not None:
            return RefreshUse(RefreshOutcome.CONSUMED, consumed.family_id, consumed.user_id)
        row = await self._session.get(RefreshTokenRow, token_id, populate_existing=True)
        if row is None:
            return RefreshUse(RefreshOutcome.UNKNOWN)
        outcome = RefreshOutcome.REVOKED if row.revoked_at is not None else RefreshOutcome.ALREADY_USED
        return RefreshUse(outcome, row.family_id, row.user_id)

    async def revoke_family(self, family_id: str) -> int:
        result = await self._session.execute(
            update(RefreshTokenRow)
            .where(RefreshTokenRow.family_id == family_id, RefreshTokenRow.revoked_at.is_(None))
            .values(revoked_at=utc_now())
            .returning(RefreshTokenRow.id)
        )
        return len(result.all())

    async def delete_expired(self, now: dt.datetime) -> None:
        await self._session.execute(delete(RefreshTokenRow).where(RefreshTokenRow.expires_at < now))


class TokenRevocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token_id: str, expires_at: dt.datetime, reason: str) -> None:
        existing = await self._session.get(TokenRevocationRow, token_id)
        if existing is None:
            self._session.add(TokenRevocationRow(token_id=token_id, expires_at=expires_at, reason=reason))
            await self._session.flush()

    async def any_revoked(self, token_ids: list[str], now: dt.datetime) -> bool:
        found = await self._session.scalar(
            select(TokenRevocationRow.token_id)
            .where(TokenRevocationRow.token_id.in_(token_ids), TokenRevocationRow.expires_at > now)
            .limit(1)
        )
        return found is not None

    async def delete_expired(self, now: dt.datetime) -> None:
        await self._session.execute(delete(TokenRevocationRow).where(TokenRevocationRow.expires_at < now))

    async def active(self, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
        rows = await self._session.execute(
            select(TokenRevocationRow.token_id, TokenRevocationRow.expires_at).where(
                TokenRevocationRow.expires_at > now
            )
        )
        return [(row.token_id, row.expires_at) for row in rows]
