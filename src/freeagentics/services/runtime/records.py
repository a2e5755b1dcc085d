"""Plain records the runtime and the agent service exchange with persistence (no ORM types here)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol

AgentStatus = Literal["created", "running", "stopped", "error"]
AGENT_STATUSES: tuple[AgentStatus, ...] = ("created", "running", "stopped", "error")


@dataclass(frozen=True)
class WorldRecord:
    id: uuid.UUID
    owner_id: uuid.UUID | None
    name: str
    spec: dict[str, Any]
    seed: int
    created_at: dt.datetime


@dataclass(frozen=True)
class AgentRecord:
    id: uuid.UUID
    owner_id: uuid.UUID | None
    world_id: uuid.UUID | None
    name: str
    template: str | None
    model_spec: dict[str, Any] | None
    parameters: dict[str, Any]
    status: AgentStatus
    generation: int
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class AgentFilter:
    status: AgentStatus | None = None
    world_id: uuid.UUID | None = None
    template: str | None = None
    owner_id: uuid.UUID | None = None
    name_contains: str | None = None


@dataclass(frozen=True)
class Page:
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class AgentChanges:
    """What the runtime owner must apply: rows changed since the last sync, and how many rows exist."""

    changed: list[AgentRecord]
    existing_count: int = 0


class WorldRepository(Protocol):
    async def add(self, record: WorldRecord) -> None: ...

    async def get(self, world_id: uuid.UUID) -> WorldRecord | None: ...

    async def list(self, owner_id: uuid.UUID | None, page: Page) -> tuple[list[WorldRecord], int]: ...

    async def find_by_name(self, name: str) -> WorldRecord | None: ...

    async def delete(self, world_id: uuid.UUID) -> None: ...


class AgentRepository(Protocol):
    async def add_many(self, records: list[AgentRecord]) -> None: ...

    async def get(self, agent_id: uuid.UUID) -> AgentRecord | None: ...

    async def list(self, filters: AgentFilter, page: Page) -> tuple[list[AgentRecord], int]: ...

    async def update(self, agent_id: uuid.UUID, **values: Any) -> AgentRecord | None: ...

    async def delete(self, agent_id: uuid.UUID) -> bool: ...

    async def count_by_status(self) -> dict[str, int]: ...


class RuntimeStore(Protocol):
    """What the runtime owner reads and writes outside a request; each call is its own transaction."""

    async def load_worlds(self) -> list[WorldRecord]: ...

    async def load_agents(self) -> list[AgentRecord]: ...

    async def changes_since(self, since: dt.datetime | None) -> AgentChanges: ...

    async def existing_agent_ids(self) -> set[uuid.UUID]: ...

    async def mark_error(self, agent_ids: list[uuid.UUID], message: str) -> None: ...

    async def load_checkpoint(self, world_id: uuid.UUID) -> bytes | None: ...

    async def save_checkpoint(
        self, world_id: uuid.UUID, tick: int, agent_count: int, payload: bytes | memoryview
    ) -> None: ...


class RuntimeLock(Protocol):
    """Exactly one process per database steps the agents: whoever holds this lock."""

    async def try_acquire(self) -> bool: ...

    async def still_held(self) -> bool: ...

    async def release(self) -> None: ...
