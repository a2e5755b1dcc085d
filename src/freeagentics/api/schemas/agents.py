"""Request and response bodies of the agents, worlds and templates API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from freeagentics.services.agents import AgentStatusView, BeliefsView
from freeagentics.services.runtime.records import AgentRecord, WorldRecord

#: Printable names: no NUL or other control characters, which could forge log lines or break clients.
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
TemplateName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z_][a-z0-9_]*$")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class AgentCreate(StrictModel):
    name: Name
    world_id: uuid.UUID
    template: TemplateName | None = Field(default=None, description="A template from GET /api/v1/templates.")
    model_spec: dict[str, Any] | None = Field(
        default=None, description="A declarative generative model instead of a template."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Template parameters plus runtime ones: start [row, col], seed, capabilities {name: amount}, "
            "action_selection (deterministic|stochastic), preferences {modality: [log-preferences]}, "
            "priority (normal|essential)."
        ),
    )
    start: bool = Field(default=True, description="Run at once (status running) or stay created.")

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "name": "explorer-1",
                    "world_id": "7b0c7b0e-0a4f-4d55-9c3e-0a4c1f7e2a11",
                    "template": "grid_explorer",
                    "parameters": {"goal": [9, 9], "start": [0, 0], "policy_len": 1, "seed": 7},
                }
            ]
        },
    )


class AgentBatchCreate(StrictModel):
    agents: list[AgentCreate] = Field(min_length=1, max_length=10_000)


class AgentUpdate(StrictModel):
    name: Name


class AgentOut(BaseModel):
    id: uuid.UUID
    name: str
    owner_id: uuid.UUID | None
    world_id: uuid.UUID | None
    template: str | None
    model_spec: dict[str, Any] | None
    parameters: dict[str, Any]
    status: str
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, record: AgentRecord) -> AgentOut:
        return cls(
            id=record.id,
            name=record.name,
            owner_id=record.owner_id,
            world_id=record.world_id,
            template=record.template,
            model_spec=record.model_spec,
            parameters=record.parameters,
            status=record.status,
            last_error=record.last_error,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class AgentPage(BaseModel):
    items: list[AgentOut]
    total: int
    limit: int
    offset: int


class AgentBatchOut(BaseModel):
    created: int
    ids: list[uuid.UUID]


class AgentStatusOut(BaseModel):
    id: uuid.UUID
    name: str
    state: str
    live: bool = Field(description="Whether these figures come from this process's running runtime.")
    ticks: int | None
    last_action: int | None
    last_action_name: str | None
    position: tuple[int, int] | None
    belief_entropy: float | None = Field(description="Entropy of the posterior over hidden states, in nats.")
    free_energy: float | None = Field(description="Variational free energy of the last update.")
    last_error: str | None

    @classmethod
    def of(cls, view: AgentStatusView) -> AgentStatusOut:
        return cls(
            id=view.record.id,
            name=view.record.name,
            state=view.record.status,
            live=view.live,
            ticks=view.ticks,
            last_action=view.last_action,
            last_action_name=view.last_action_name,
            position=view.position,
            belief_entropy=view.belief_entropy,
            free_energy=view.free_energy,
            last_error=view.record.last_error,
        )


class FactorBeliefs(BaseModel):
    factor: str
    states: list[str] | None
    posterior: list[float]


class BeliefsOut(BaseModel):
    id: uuid.UUID
    tick: int
    factors: list[FactorBeliefs]
    policy_posterior: list[float]
    free_energy: float | None

    @classmethod
    def of(cls, view: BeliefsView) -> BeliefsOut:
        return cls(
            id=view.record.id,
            tick=view.tick,
            factors=[FactorBeliefs(**factor) for factor in view.factors],
            policy_posterior=view.policy_posterior,
            free_energy=view.free_energy,
        )


class WorldCreate(StrictModel):
    name: Name
    spec: dict[str, Any] = Field(
        description="height, width, walls [[r, c]], resources [{cell, amount}], goals [[r, c]], max_agents",
        json_schema_extra={
            "example": {
                "height": 10,
                "width": 10,
                "walls": [[4, 4], [4, 5]],
                "resources": [{"cell": [2, 7], "amount": 5}],
                "goals": [[9, 9]],
            }
        },
    )
    seed: int = Field(default=0, ge=0, le=2**62)


class WorldOut(BaseModel):
    id: uuid.UUID
    name: str
    owner_id: uuid.UUID | None
    spec: dict[str, Any]
    seed: int
    created_at: dt.datetime

    @classmethod
    def of(cls, record: WorldRecord) -> WorldOut:
        return cls(
            id=record.id,
            name=record.name,
            owner_id=record.owner_id,
            spec=record.spec,
            seed=record.seed,
            created_at=record.created_at,
        )


class WorldPage(BaseModel):
    items: list[WorldOut]
    total: int
    limit: int
    offset: int


class WorldAgentState(BaseModel):
    id: uuid.UUID
    row: int
    col: int
    population: int
    running: bool
    carrying: bool


class WorldStateOut(BaseModel):
    world_id: uuid.UUID
    live: bool
    tick: int
    height: int
    width: int
    walls: list[tuple[int, int]]
    goals: list[tuple[int, int]]
    resources: list[dict[str, Any]]
    populations: list[dict[str, Any]]
    agents: list[WorldAgentState]


AgentAction = Literal["start", "stop", "restart"]
