"""SQL for worlds, agents and world checkpoints."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from freeagentics.infra.db.base import as_utc
from freeagentics.infra.db.models import AgentRow, WorldCheckpointRow, WorldRow
from freeagentics.services.runtime.records import (
    AgentChanges,
    AgentFilter,
    AgentRecord,
    AgentStatus,
    Page,
    WorldRecord,
)


def world_record(row: WorldRow) -> WorldRecord:
    return WorldRecord(row.id, row.owner_id, row.name, dict(row.spec), row.seed, as_utc(row.created_at))


def agent_record(row: AgentRow) -> AgentRecord:
    status: AgentStatus = row.status  # type: ignore[assignment]  # guarded by a CHECK constraint
    return AgentRecord(
        id=row.id,
        owner_id=row.owner_id,
        world_id=row.world_id,
        name=row.name,
        template=row.template,
        model_spec=None if row.model_spec is None else dict(row.model_spec),
        parameters=dict(row.parameters or {}),
        status=status,
        generation=row.generation,
        last_error=row.last_error,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


class SqlWorldRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: WorldRecord) -> None:
        self._session.add(
            WorldRow(
                id=record.id,
                owner_id=record.owner_id,
                name=record.name,
                spec=record.spec,
                seed=record.seed,
                created_at=record.created_at,
            )
        )
        await self._session.flush()

    async def get(self, world_id: uuid.UUID) -> WorldRecord | None:
        row = await self._session.get(WorldRow, world_id)
        return None if row is None else world_record(row)

    async def find_by_name(self, name: str) -> WorldRecord | None:
        row = (await self._session.execute(select(WorldRow).where(WorldRow.name == name))).scalars().first()
        return None if row is None else world_record(row)

    async def list(self, owner_id: uuid.UUID | None, page: Page) -> tuple[list[WorldRecord], int]:
        query = select(WorldRow)
        if owner_id is not None:
            # Shared worlds (no owner, like the demo world) are listed for everyone.
            query = query.where((WorldRow.owner_id == owner_id) | WorldRow.owner_id.is_(None))
        total = (await self._session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = await self._session.execute(
            query.order_by(WorldRow.created_at, WorldRow.id).limit(page.limit).offset(page.offset)
        )
        return [world_record(r) for r in rows.scalars()], int(total)

    async def delete(self, world_id: uuid.UUID) -> None:
        await self._session.execute(delete(AgentRow).where(AgentRow.world_id == world_id))
        await self._session.execute(delete(WorldRow).where(WorldRow.id == world_id))


class SqlAgentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, records: list[AgentRecord]) -> None:
        self._session.add_all(
            AgentRow(
                id=r.id,
                owner_id=r.owner_id,
                world_id=r.world_id,
                name=r.name,
                template=r.template,
                model_spec=r.model_spec,
                parameters=r.parameters,
                status=r.status,
                generation=r.generation,
                last_error=r.last_error,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in records
        )
        await self._session.flush()

    async def get(self, agent_id: uuid.UUID) -> AgentRecord | None:
        row = await self._session.get(AgentRow, agent_id)
        return None if row is None else agent_record(row)

    async def list(self, filters: AgentFilter, page: Page) -> tuple[list[AgentRecord], int]:
        query = select(AgentRow)
        if filters.status is not None:
            query = query.where(AgentRow.status == filters.status)
        if filters.world_id is not None:
            query = query.where(AgentRow.world_id == filters.world_id)
        if filters.template is not None:
            query = query.where(AgentRow.template == filters.template)
        if filters.owner_id is not None:
            query = query.where(AgentRow.owner_id == filters.owner_id)
        if filters.name_contains:
            escaped = filters.name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(AgentRow.name.ilike(f"%{escaped}%", escape="\\"))
        total = (await self._session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = await self._session.execute(
            query.order_by(AgentRow.created_at, AgentRow.id).limit(page.limit).offset(page.offset)
        )
        return [agent_record(r) for r in rows.scalars()], int(total)

    async def update(self, agent_id: uuid.UUID, **values: Any) -> AgentRecord | None:
        row = await self._session.get(AgentRow, agent_id, with_for_update=True)
        if row is None:
            return None
        for name, value in values.items():
            if name == "generation_increment":
                row.generation = row.generation + int(value)
            else:
                setattr(row, name, value)
        row.updated_at = dt.datetime.now(dt.UTC)
        await self._session.flush()
        return agent_record(row)

    async def delete(self, agent_id: uuid.UUID) -> bool:
        result = await self._session.execute(delete(AgentRow).where(AgentRow.id == agent_id))
        return bool(getattr(result, "rowcount", 0))

    async def count_by_status(self) -> dict[str, int]:
        rows = await self._session.execute(select(AgentRow.status, func.count()).group_by(AgentRow.status))
        return {status: int(count) for status, count in rows.all()}


class SqlRuntimeStore:
    """The runtime owner's persistence; every method is one short transaction of its own."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def load_worlds(self) -> list[WorldRecord]:
        async with self._sessions() as session:
            rows = await session.execute(select(WorldRow).order_by(WorldRow.created_at))
            return [world_record(r) for r in rows.scalars()]

    async def load_agents(self) -> list[AgentRecord]:
        async with self._sessions() as session:
            rows = await session.execute(select(AgentRow).order_by(AgentRow.created_at, AgentRow.id))
            return [agent_record(r) for r in rows.scalars()]

    async def changes_since(self, since: dt.datetime | None) -> AgentChanges:
        async with self._sessions() as session:
            query = select(AgentRow)
            if since is not None:
                query = query.where(AgentRow.updated_at >= since)
            changed = [agent_record(r) for r in (await session.execute(query)).scalars()]
            count = (await session.execute(select(func.count()).select_from(AgentRow))).scalar_one()
            return AgentChanges(changed=changed, existing_count=int(count))

    async def existing_agent_ids(self) -> set[uuid.UUID]:
        async with self._sessions() as session:
            return set((await session.execute(select(AgentRow.id))).scalars())

    async def mark_error(self, agent_ids: list[uuid.UUID], message: str) -> None:
        if not agent_ids:
            return
        async with self._sessions() as session:
            await session.execute(
                update(AgentRow)
                .where(AgentRow.id.in_(agent_ids))
                .values(status="error", last_error=message[:2000], updated_at=dt.datetime.now(dt.UTC))
            )
            await session.commit()

    async def load_checkpoint(self, world_id: uuid.UUID) -> bytes | None:
        async with self._sessions() as session:
            row = await session.get(WorldCheckpointRow, world_id)
            return None if row is None else bytes(row.payload)

    async def save_checkpoint(
        self, world_id: uuid.UUID, tick: int, agent_count: int, payload: bytes | memoryview
    ) -> None:
        # An upsert, not session.merge: merge loads the previous checkpoint first (tens of MB at 50,000
        # agents, turned into bytes while holding the GIL) only to overwrite it.
        async with self._sessions() as session:
            if await session.get(WorldRow, world_id) is None:
                return  # the world was deleted meanwhile; its checkpoint would violate the foreign key
            insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            statement = insert(WorldCheckpointRow).values(
                world_id=world_id,
                tick=tick,
                agent_count=agent_count,
                payload=payload,
                saved_at=dt.datetime.now(dt.UTC),
            )
            excluded = statement.excluded
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[WorldCheckpointRow.world_id],
                    set_={
                        "tick": excluded.tick,
                        "agent_count": excluded.agent_count,
                        "payload": excluded.payload,
                        "saved_at": excluded.saved_at,
                    },
                )
            )
            await session.commit()
