"""Request and response bodies of the objectives and coalitions API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from freeagentics.api.schemas.agents import Name, StrictModel
from freeagentics.services.coalitions.records import CoalitionRecord, ObjectiveRecord
from freeagentics.services.coalitions.service import FormationOutcome


class ObjectiveCreate(StrictModel):
    world_id: uuid.UUID
    name: Name
    region: dict[str, Any] = Field(
        description="{'cell': [row, col]} or {'top', 'left', 'bottom', 'right'} (inclusive)",
        json_schema_extra={"example": {"top": 8, "left": 8, "bottom": 9, "right": 9}},
    )
    required: dict[str, float] = Field(
        description="Capability amounts the members must bring, e.g. {'explore': 2}",
        json_schema_extra={"example": {"explore": 2}},
    )
    value: float = Field(ge=0, le=1e9)
    priority: float = Field(default=1.0, gt=0, le=1e6)
    deadline_tick: int | None = Field(default=None, ge=0)


class ObjectiveUpdate(StrictModel):
    name: Name | None = None
    required: dict[str, float] | None = None
    value: float | None = Field(default=None, ge=0, le=1e9)
    priority: float | None = Field(default=None, gt=0, le=1e6)
    deadline_tick: int | None = Field(default=None, ge=0)


class ObjectiveOut(BaseModel):
    id: uuid.UUID
    world_id: uuid.UUID
    owner_id: uuid.UUID | None
    name: str
    region: dict[str, int]
    required: dict[str, float]
    value: float
    priority: float
    deadline_tick: int | None
    status: str
    value_credited: float
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None

    @classmethod
    def of(cls, r: ObjectiveRecord) -> ObjectiveOut:
        return cls(
            id=r.id,
            world_id=r.world_id,
            owner_id=r.owner_id,
            name=r.name,
            region=r.region,
            required=r.required,
            value=r.value,
            priority=r.priority,
            deadline_tick=r.deadline_tick,
            status=r.status,
            value_credited=r.value_credited,
            created_at=r.created_at,
            updated_at=r.updated_at,
            completed_at=r.completed_at,
        )


class ObjectivePage(BaseModel):
    items: list[ObjectiveOut]
    total: int
    limit: int
    offset: int


class CoalitionOut(BaseModel):
    id: uuid.UUID
    objective_id: uuid.UUID
    world_id: uuid.UUID
    state: str
    algorithm: str
    value: float
    members: list[uuid.UUID]
    created_at: dt.datetime
    updated_at: dt.datetime
    ended_at: dt.datetime | None

    @classmethod
    def of(cls, r: CoalitionRecord) -> CoalitionOut:
        return cls(
            id=r.id,
            objective_id=r.objective_id,
            world_id=r.world_id,
            state=r.state,
            algorithm=r.algorithm,
            value=r.value,
            members=list(r.member_ids),
            created_at=r.created_at,
            updated_at=r.updated_at,
            ended_at=r.ended_at,
        )


class CoalitionPage(BaseModel):
    items: list[CoalitionOut]
    total: int
    limit: int
    offset: int


class FormRequest(StrictModel):
    world_id: uuid.UUID
    algorithm: Literal["exact", "scalable"] = "scalable"
    objective_ids: list[uuid.UUID] | None = Field(default=None, max_length=1000)
    seed: int = Field(default=0, ge=0, le=2**62)


class FormResult(BaseModel):
    world_id: uuid.UUID
    algorithm: str
    value: float = Field(description="Total value of the structure found")
    upper_bound: float | None = Field(description="Upper bound on the optimum, where it can be computed")
    gap: float | None = Field(description="upper_bound - value")
    duration_ms: float
    agents_considered: int
    coalitions: list[CoalitionOut]
    unassigned_agents: int
    structure: list[dict[str, Any]]

    @classmethod
    def of(cls, outcome: FormationOutcome) -> FormResult:
        structure = outcome.structure
        bound = structure.upper_bound
        return cls(
            world_id=outcome.world_id,
            algorithm=outcome.algorithm,
            value=structure.total_value,
            upper_bound=bound,
            gap=None if bound is None else max(0.0, bound - structure.total_value),
            duration_ms=round(outcome.duration_seconds * 1000, 3),
            agents_considered=outcome.agents_considered,
            coalitions=[CoalitionOut.of(c) for c in outcome.coalitions],
            unassigned_agents=len(structure.unassigned),
            structure=[
                {
                    "objective_id": c.objective_id,
                    "members": len(c.members),
                    "value": c.value,
                    "satisfied": c.satisfied,
                }
                for c in structure.coalitions
            ],
        )
