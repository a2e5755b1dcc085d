"""Records and persistence ports of the coalition coordinator."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from freeagentics.services.runtime.records import Page

ObjectiveStatus = Literal["open", "assigned", "completed", "expired"]
CoalitionState = Literal["forming", "active", "completed", "dissolved"]
OBJECTIVE_STATUSES: tuple[ObjectiveStatus, ...] = ("open", "assigned", "completed", "expired")
COALITION_STATES: tuple[CoalitionState, ...] = ("forming", "active", "completed", "dissolved")


@dataclass(frozen=True)
class ObjectiveRecord:
    id: uuid.UUID
    owner_id: uuid.UUID | None
    world_id: uuid.UUID
    name: str
    region: dict[str, int]
    required: dict[str, float]
    value: float
    priority: float
    deadline_tick: int | None
    status: ObjectiveStatus
    value_credited: float
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None


@dataclass(frozen=True)
class CoalitionRecord:
    id: uuid.UUID
    objective_id: uuid.UUID
    world_id: uuid.UUID
    state: CoalitionState
    algorithm: str
    value: float
    member_ids: tuple[uuid.UUID, ...]
    created_at: dt.datetime
    updated_at: dt.datetime
    ended_at: dt.datetime | None


class CoalitionRepository(Protocol):
    async def add_objective(self, record: ObjectiveRecord) -> None: ...

    async def get_objective(self, objective_id: uuid.UUID) -> ObjectiveRecord | None: ...

    async def list_objectives(
        self,
        world_id: uuid.UUID | None,
        owner_id: uuid.UUID | None,
        status: ObjectiveStatus | None,
        page: Page,
    ) -> tuple[list[ObjectiveRecord], int]: ...

    async def update_objective(self, objective_id: uuid.UUID, **values: Any) -> ObjectiveRecord | None: ...

    async def delete_objective(self, objective_id: uuid.UUID) -> bool: ...

    async def add_coalition(self, record: CoalitionRecord) -> None:
        """Insert the coalition and its members; raises ``MembershipConflictError`` if one is taken."""
        ...

    async def get_coalition(self, coalition_id: uuid.UUID) -> CoalitionRecord | None: ...

    async def list_coalitions(
        self, world_id: uuid.UUID | None, state: CoalitionState | None, page: Page
    ) -> tuple[list[CoalitionRecord], int]: ...

    async def live_coalitions(self, world_id: uuid.UUID | None = None) -> list[CoalitionRecord]:
        """Coalitions that are forming or active."""
        ...

    async def end_coalition(self, coalition_id: uuid.UUID, state: CoalitionState) -> CoalitionRecord | None:
        """Set a final state and release the members (their membership rows go)."""
        ...

    async def set_state(self, coalition_id: uuid.UUID, state: CoalitionState) -> None: ...

    async def busy_agents(self, world_id: uuid.UUID) -> set[uuid.UUID]: ...

    async def count_by_state(self) -> dict[str, int]: ...


class MembershipConflictError(RuntimeError):
    """An agent is already a member of a live coalition (no agent belongs to two)."""
