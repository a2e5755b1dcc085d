"""Users: the SQL behind :class:`freeagentics.services.auth.ports.UserStore`."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from freeagentics.infra.db.base import utc_now
from freeagentics.infra.db.models import UserRow
from freeagentics.services.auth.ports import UsernameTakenError, UserRecord
from freeagentics.services.auth.rbac import Role


def _record(row: UserRow) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        password_hash=row.password_hash,
        role=Role(row.role),
        is_active=row.is_active,
        token_version=row.token_version,
        created_at=row.created_at,
    )


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_username(self, username: str) -> UserRecord | None:
        row = await self._session.scalar(
            select(UserRow).where(func.lower(UserRow.username) == username.lower())
        )
        return _record(row) if row else None

    async def by_id(self, user_id: uuid.UUID) -> UserRecord | None:
        row = await self._session.get(UserRow, user_id, populate_existing=True)
        return _record(row) if row else None

    async def create(self, username: str, password_hash: str, role: Role) -> UserRecord:
        if await self.by_username(username) is not None:
            raise UsernameTakenError(username)
        row = UserRow(
            id=uuid.uuid4(),
            username=username,
            password_hash=password_hash,
            role=role.value,
            is_active=True,
            token_version=0,
        )
        self._session.add(row)
        try:
            async with self._session.begin_nested():
                await self._session.flush()
        except IntegrityError:
            raise UsernameTakenError(username) from None
        return _record(row)

    async def list(self, limit: int, offset: int) -> list[UserRecord]:
        rows = await self._session.scalars(
            select(UserRow).order_by(UserRow.created_at, UserRow.username).limit(limit).offset(offset)
        )
        return [_record(row) for row in rows]

    async def count(self) -> int:
        return int(await self._session.scalar(select(func.count()).select_from(UserRow)) or 0)

    async def _bump(self, user_id: uuid.UUID, **values: object) -> UserRecord | None:
        result = await self._session.execute(
            update(UserRow)
            .where(UserRow.id == user_id)
            .values(token_version=UserRow.token_version + 1, updated_at=utc_now(), **values)
            .returning(UserRow.id)
        )
        if result.scalar_one_or_none() is None:
            return None
        return await self.by_id(user_id)

    async def set_role(self, user_id: uuid.UUID, role: Role) -> UserRecord | None:
        return await self._bump(user_id, role=role.value)

    async def deactivate(self, user_id: uuid.UUID) -> UserRecord | None:
        return await self._bump(user_id, is_active=False)

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self._session.execute(
            update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash)
        )
