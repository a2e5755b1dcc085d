"""SQL for objectives, coalitions and memberships, and the coordinator's unit of work."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from freeagentics.infra.db.base import as_utc, as_utc_or_none
from freeagentics.infra.db.models import CoalitionMemberRow, CoalitionRow, ObjectiveRow
from freeagentics.infra.db.repositories.agents import SqlWorldRepository
from freeagentics.services.coalitions.records import (
    CoalitionRecord,
    CoalitionState,
    MembershipConflictError,
    ObjectiveRecord,
    ObjectiveStatus,
)
from freeagentics.services.runtime.records import Page

LIVE_STATES = ("forming", "active")


def objective_record(row: ObjectiveRow) -> ObjectiveRecord:
    return ObjectiveRecord(
        id=row.id,
        owner_id=row.owner_id,
        world_id=row.world_id,
        name=row.name,
        region={k: int(v) for k, v in row.region.items()},
        required={k: float(v) for k, v in row.required.items()},
        value=row.value,
        priority=row.priority,
        deadline_tick=row.deadline_tick,
        status=row.status,  # type: ignore[arg-type]  # guarded by a CHECK constraint
        value_credited=row.value_credited,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        completed_at=as_utc_or_none(row.completed_at),
    )


def coalition_record(row: CoalitionRow) -> CoalitionRecord:
    return CoalitionRecord(
        id=row.id,
        objective_id=row.objective_id,
        world_id=row.world_id,
        state=row.state,  # type: ignore[arg-type]  # guarded by a CHECK constraint
        algorithm=row.algorithm,
        value=row.value,
        member_ids=tuple(uuid.UUID(m) for m in row.member_ids),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        ended_at=as_utc_or_none(row.ended_at),
    )


class SqlCoalitionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_objective(self, record: ObjectiveRecord) -> None:
        self._session.add(
            ObjectiveRow(
                id=record.id,
                owner_id=record.owner_id,
                world_id=record.world_id,
                name=record.name,
                region=record.region,
                required=record.required,
                value=record.value,
                priority=record.priority,
                deadline_tick=record.deadline_tick,
                status=record.status,
                value_credited=record.value_credited,
                created_at=record.created_at,
                updated_at=record.updated_at,
                completed_at=record.completed_at,
            )
        )
        await self._session.flush()

    async def get_objective(self, objective_id: uuid.UUID) -> ObjectiveRecord | None:
        row = await self._session.get(ObjectiveRow, objective_id)
        return None if row is None else objective_record(row)

    async def list_objectives(
        self,
        world_id: uuid.UUID | None,
        owner_id: uuid.UUID | None,
        status: ObjectiveStatus | None,
        page: Page,
    ) -> tuple[list[ObjectiveRecord], int]:
        query = select(ObjectiveRow)
        if world_id is not None:
            query = query.where(ObjectiveRow.world_id == world_id)
        if owner_id is not None:
            query = query.where((ObjectiveRow.owner_id == owner_id) | ObjectiveRow.owner_id.is_(None))
        if status is not None:
            query = query.where(ObjectiveRow.status == status)
        total = (await self._session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = await self._session.execute(
            query.order_by(ObjectiveRow.created_at, ObjectiveRow.id).limit(page.limit).offset(page.offset)
        )
        return [objective_record(r) for r in rows.scalars()], int(total)

    async def update_objective(self, objective_id: uuid.UUID, **values: Any) -> ObjectiveRecord | None:
        row = await self._session.get(ObjectiveRow, objective_id)
        if row is None:
            return None
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = dt.datetime.now(dt.UTC)
        await self._session.flush()
        return objective_record(row)

    async def delete_objective(self, objective_id: uuid.UUID) -> bool:
        result = await self._session.execute(delete(ObjectiveRow).where(ObjectiveRow.id == objective_id))
        return bool(getattr(result, "rowcount", 0))

    async def add_coalition(self, record: CoalitionRecord) -> None:
        self._session.add(
            CoalitionRow(
                id=record.id,
                objective_id=record.objective_id,
                world_id=record.world_id,
                state=record.state,
                algorithm=record.algorithm,
                value=record.value,
                member_ids=[str(m) for m in record.member_ids],
                created_at=record.created_at,
                updated_at=record.updated_at,
                ended_at=record.ended_at,
            )
        )
        await self._session.flush()
        self._session.add_all(
            CoalitionMemberRow(agent_id=m, coalition_id=record.id) for m in record.member_ids
        )
        try:
            async with self._session.begin_nested():
                await self._session.flush()
        except IntegrityError as exc:
            raise MembershipConflictError("an agent is already in a live coalition") from exc

    async def get_coalition(self, coalition_id: uuid.UUID) -> CoalitionRecord | None:
        row = await self._session.get(CoalitionRow, coalition_id)
        return None if row is None else coalition_record(row)

    async def list_coalitions(
        self, world_id: uuid.UUID | None, state: CoalitionState | None, page: Page
    ) -> tuple[list[CoalitionRecord], int]:
        query = select(CoalitionRow)
        if world_id is not None:
            query = query.where(CoalitionRow.world_id == world_id)
        if state is not None:
            query = query.where(CoalitionRow.state == state)
        total = (await self._session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = await self._session.execute(
            query.order_by(CoalitionRow.created_at.desc(), CoalitionRow.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return [coalition_record(r) for r in rows.scalars()], int(total)

    async def live_coalitions(self, world_id: uuid.UUID | None = None) -> list[CoalitionRecord]:
        query = select(CoalitionRow).where(CoalitionRow.state.in_(LIVE_STATES))
        if world_id is not None:
            query = query.where(CoalitionRow.world_id == world_id)
        return [coalition_record(r) for r in (await self._session.execute(query)).scalars()]

    async def end_coalition(self, coalition_id: uuid.UUID, state: CoalitionState) -> CoalitionRecord | None:
        row = await self._session.get(CoalitionRow, coalition_id)
        if row is None:
            return None
        now = dt.datetime.now(dt.UTC)
        row.state = state
        row.updated_at = now
        row.ended_at = now
        await self._session.execute(
            delete(CoalitionMemberRow).where(CoalitionMemberRow.coalition_id == coalition_id)
        )
        await self._session.flush()
        return coalition_record(row)

    async def set_state(self, coalition_id: uuid.UUID, state: CoalitionState) -> None:
        row = await self._session.get(CoalitionRow, coalition_id)
        if row is not None:
            row.state = state
            row.updated_at = dt.datetime.now(dt.UTC)
            await self._session.flush()

    async def busy_agents(self, world_id: uuid.UUID) -> set[uuid.UUID]:
        rows = await self._session.execute(
            select(CoalitionMemberRow.agent_id)
            .join(CoalitionRow, CoalitionRow.id == CoalitionMemberRow.coalition_id)
            .where(CoalitionRow.world_id == world_id)
        )
        return set(rows.scalars())

    async def count_by_state(self) -> dict[str, int]:
        rows = await self._session.execute(
            select(CoalitionRow.state, func.count()).group_by(CoalitionRow.state)
        )
        return {state: int(count) for state, count in rows.all()}


class SqlCoalitionUnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.coalitions = SqlCoalitionRepository(session)
        self.worlds = SqlWorldRepository(session)

    async def commit(self) -> None:
        await self._session.commit()


def coalition_unit_of_work(session_factory: async_sessionmaker[AsyncSession]) -> Any:
    @asynccontextmanager
    async def open_unit() -> AsyncIterator[SqlCoalitionUnitOfWork]:
        async with session_factory() as session:
            yield SqlCoalitionUnitOfWork(session)

    return open_unit
