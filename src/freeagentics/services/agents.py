"""Agent and world use cases behind the API: validate, persist (the caller commits), then let the runtime
owner apply the change.

Every method takes the calling :class:`Principal`: researchers see and change only their own rows, and
another owner's id behaves exactly like an id that does not exist (:class:`NotFoundError`). Nothing is
written when validation fails.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from freeagentics.domain.models import ModelValidationError, ValidationIssue
from freeagentics.domain.world import FieldError, GridWorldSpec, WorldValidationError, spec_from_mapping
from freeagentics.services.auth.rbac import Principal
from freeagentics.services.runtime.catalog import blueprint, blueprint_from_spec
from freeagentics.services.runtime.records import (
    AgentFilter,
    AgentRecord,
    AgentRepository,
    AgentStatus,
    Page,
    WorldRecord,
    WorldRepository,
)
from freeagentics.services.runtime.supervisor import RuntimeSupervisor
from freeagentics.services.runtime.world_runtime import WorldView

agents_log = logging.getLogger("freeagentics.agents")


class NotFoundError(LookupError):
    def __init__(self, kind: str, identifier: object) -> None:
        super().__init__(f"{kind} {identifier} not found")
        self.kind = kind


class LimitExceededError(ValueError):
    pass


@dataclass(frozen=True)
class NewAgent:
    name: str
    world_id: uuid.UUID
    template: str | None
    model_spec: Mapping[str, Any] | None
    parameters: Mapping[str, Any]
    start: bool = True


@dataclass(frozen=True)
class AgentStatusView:
    record: AgentRecord
    live: bool
    ticks: int | None = None
    last_action: int | None = None
    last_action_name: str | None = None
    position: tuple[int, int] | None = None
    belief_entropy: float | None = None
    free_energy: float | None = None


@dataclass(frozen=True)
class BeliefsView:
    record: AgentRecord
    tick: int
    factors: list[dict[str, Any]]
    policy_posterior: list[float]
    free_energy: float | None


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _log_agent(event: str, agent_id: uuid.UUID, **fields: Any) -> None:
    agents_log.info(f"{event} agent_id:{agent_id}", extra={"fields": {"agent_id": str(agent_id), **fields}})


def _entropy(q: np.ndarray) -> float:
    p = q[q > 0].astype(np.float64)
    return float(-(p * np.log(p)).sum())


def _world_visible(principal: Principal, world: WorldRecord) -> bool:
    """Shared worlds (no owner, like the demo world) are visible to every reader; others by ownership."""
    return world.owner_id is None or principal.can_access_owned(world.owner_id)


class AgentService:
    def __init__(
        self,
        agents: AgentRepository,
        worlds: WorldRepository,
        supervisor: RuntimeSupervisor | None,
        max_agents: int,
        max_batch: int,
    ) -> None:
        self._agents = agents
        self._worlds = worlds
        self._supervisor = supervisor
        self._max_agents = max_agents
        self._max_batch = max_batch

    # ------------------------------------------------------------------ worlds

    async def create_world(
        self, principal: Principal | None, name: str, spec: Mapping[str, Any], seed: int
    ) -> WorldRecord:
        try:
            parsed = spec_from_mapping(dict(spec))
        except WorldValidationError as exc:
            raise WorldValidationError(
                FieldError(("spec", *e.loc), e.msg, e.type) for e in exc.errors
            ) from None
        record = WorldRecord(
            id=uuid.uuid4(),
            owner_id=principal.user_id if principal is not None else None,
            name=name,
            spec=parsed.to_mapping(),
            seed=seed,
            created_at=dt.datetime.now(dt.UTC),
        )
        await self._worlds.add(record)
        return record

    async def find_world(self, name: str) -> WorldRecord | None:
        return await self._worlds.find_by_name(name)

    async def get_world(self, principal: Principal, world_id: uuid.UUID) -> WorldRecord:
        record = await self._worlds.get(world_id)
        if record is None or not _world_visible(principal, record):
            raise NotFoundError("world", world_id)
        return record

    async def list_worlds(self, principal: Principal, page: Page) -> tuple[list[WorldRecord], int]:
        return await self._worlds.list(principal.owner_filter(), page)

    async def delete_world(self, principal: Principal, world_id: uuid.UUID) -> None:
        record = await self._worlds.get(world_id)
        if record is None or not principal.can_access_owned(record.owner_id):
            raise NotFoundError("world", world_id)
        await self._worlds.delete(world_id)

    # ------------------------------------------------------------------ agents

    async def create_agents(self, principal: Principal | None, new: Sequence[NewAgent]) -> list[AgentRecord]:
        """Validate every agent first (all or nothing), then insert them; the caller commits."""
        if not new:
            raise ModelValidationError([ValidationIssue(("agents",), "at least one agent", "missing")])
        if len(new) > self._max_batch:
            raise LimitExceededError(f"at most {self._max_batch} agents per request")
        counts = await self._agents.count_by_status()
        if sum(counts.values()) + len(new) > self._max_agents:
            raise LimitExceededError(f"the platform is configured for at most {self._max_agents} agents")
        worlds: dict[uuid.UUID, GridWorldSpec] = {}
        per_world: dict[uuid.UUID, int] = {}
        issues: list[ValidationIssue] = []
        prefix_batch = len(new) > 1
        now = dt.datetime.now(dt.UTC)
        records: list[AgentRecord] = []
        for index, item in enumerate(new):
            loc_prefix: tuple[str | int, ...] = ("agents", index) if prefix_batch else ()
            if item.world_id not in worlds:
                world = await self._worlds.get(item.world_id)
                if world is None or (principal is not None and not _world_visible(principal, world)):
                    issues.append(ValidationIssue((*loc_prefix, "world_id"), "world not found", "not_found"))
                    continue
                worlds[item.world_id] = spec_from_mapping(world.spec)
            spec = worlds[item.world_id]
            per_world[item.world_id] = per_world.get(item.world_id, 0) + 1
            try:
                if item.model_spec is not None:
                    blueprint_from_spec(item.model_spec, item.parameters, spec)
                elif item.template is not None:
                    blueprint(item.template, item.parameters, spec)
                else:
                    issues.append(
                        ValidationIssue(
                            (*loc_prefix, "template"), "give a template or a model_spec", "missing"
                        )
                    )
                    continue
            except ModelValidationError as exc:
                issues.extend(
                    ValidationIssue((*loc_prefix, *issue.loc), issue.msg, issue.type, issue.index)
                    for issue in exc.issues
                )
                continue
            status: AgentStatus = "running" if item.start else "created"
            records.append(
                AgentRecord(
                    id=uuid.uuid4(),
                    owner_id=principal.user_id if principal is not None else None,
                    world_id=item.world_id,
                    name=item.name,
                    template=item.template if item.model_spec is None else None,
                    model_spec=dict(item.model_spec) if item.model_spec is not None else None,
                    parameters=dict(item.parameters),
                    status=status,
                    generation=0,
                    last_error=None,
                    created_at=now,
                    updated_at=now,
                )
            )
        for world_id, adding in per_world.items():
            _, present = await self._agents.list(AgentFilter(world_id=world_id), Page(limit=1))
            limit = worlds[world_id].agent_limit
            if present + adding > limit:
                issues.append(
                    ValidationIssue(("world_id",), f"the world holds at most {limit} agents", "too_large")
                )
        if issues:
            raise ModelValidationError(issues[:200])
        await self._agents.add_many(records)
        for record in records:
            _log_agent("agent_created", record.id, template=record.template, world_id=str(record.world_id))
        return records

    async def _visible(self, principal: Principal, agent_id: uuid.UUID) -> AgentRecord:
        record = await self._agents.get(agent_id)
        if record is None or not principal.can_access_owned(record.owner_id):
            raise NotFoundError("agent", agent_id)
        return record

    async def get(self, principal: Principal, agent_id: uuid.UUID) -> AgentRecord:
        return await self._visible(principal, agent_id)

    async def list(
        self, principal: Principal, filters: AgentFilter, page: Page
    ) -> tuple[list[AgentRecord], int]:
        scoped = AgentFilter(
            status=filters.status,
            world_id=filters.world_id,
            template=filters.template,
            owner_id=principal.owner_filter(),
            name_contains=filters.name_contains,
        )
        return await self._agents.list(scoped, page)

    async def rename(self, principal: Principal, agent_id: uuid.UUID, name: str) -> AgentRecord:
        await self._visible(principal, agent_id)
        updated = await self._agents.update(agent_id, name=name)
        if updated is None:
            raise NotFoundError("agent", agent_id)
        return updated

    async def set_status(self, principal: Principal, agent_id: uuid.UUID, action: str) -> AgentRecord:
        """``start``, ``stop`` or ``restart`` (beliefs back to the priors, then running)."""
        await self._visible(principal, agent_id)
        values: dict[str, Any]
        if action == "start":
            values = {"status": "running", "last_error": None}
        elif action == "stop":
            values = {"status": "stopped"}
        elif action == "restart":
            values = {"status": "running", "last_error": None, "generation_increment": 1}
        else:
            raise ValueError(f"unknown action {action!r}")
        updated = await self._agents.update(agent_id, **values)
        if updated is None:
            raise NotFoundError("agent", agent_id)
        _log_agent(f"agent_{action}", agent_id, generation=updated.generation)
        return updated

    async def delete(self, principal: Principal, agent_id: uuid.UUID) -> None:
        await self._visible(principal, agent_id)
        await self._agents.delete(agent_id)
        _log_agent("agent_deleted", agent_id)

    async def applied(self) -> None:
        """After the caller committed: let this process's runtime apply the change now, if it owns it."""
        if self._supervisor is not None:
            await self._supervisor.sync_now()

    # ------------------------------------------------------------------ live state

    def world_view(self, world_id: uuid.UUID) -> WorldView | None:
        if self._supervisor is None or not self._supervisor.is_owner:
            return None
        return self._supervisor.runtime.view(world_id)

    def _locate(self, agent_id: uuid.UUID) -> tuple[Any, Any, int] | None:
        if self._supervisor is None or not self._supervisor.is_owner:
            return None
        return self._supervisor.runtime.locate(agent_id)

    async def status(self, principal: Principal, agent_id: uuid.UUID) -> AgentStatusView:
        record = await self._visible(principal, agent_id)
        found = self._locate(agent_id)
        if found is None:
            return AgentStatusView(record=record, live=False)
        world_view, population, row = found
        slot = int(population.slots[row])
        position = world_view.positions[slot]
        entropy = sum(_entropy(q[row]) for q in population.state.qs)
        action = int(population.last_action[row])
        actions = population.names.actions
        action_name = actions[action] if 0 <= action < len(actions) else None
        vfe = float(population.vfe[row])
        return AgentStatusView(
            record=record,
            live=True,
            ticks=int(population.ticks[row]),
            last_action=action if action >= 0 else None,
            last_action_name=action_name,
            position=(int(position[0]), int(position[1])),
            belief_entropy=round(entropy, 6),
            free_energy=vfe if math.isfinite(vfe) else None,
        )

    async def beliefs(self, principal: Principal, agent_id: uuid.UUID) -> BeliefsView | None:
        record = await self._visible(principal, agent_id)
        found = self._locate(agent_id)
        if found is None:
            return None
        _world_view, population, row = found
        factors = []
        state_names = population.names.states
        factor_names = population.names.factors
        for f, q in enumerate(population.state.qs):
            factors.append(
                {
                    "factor": factor_names[f] if f < len(factor_names) else f"factor_{f}",
                    "states": list(state_names[f]) if f < len(state_names) else None,
                    "posterior": [round(float(x), 7) for x in q[row]],
                }
            )
        return BeliefsView(
            record=record,
            tick=int(population.ticks[row]),
            factors=factors,
            policy_posterior=[round(float(x), 7) for x in population.state.q_pi[row]],
            free_energy=_finite_or_none(float(population.vfe[row])),
        )
