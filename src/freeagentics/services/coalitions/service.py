"""Objective and coalition use cases (request-scoped; the caller commits) and the formation step."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from freeagentics.domain.coalitions import (
    MAX_EXACT_AGENTS,
    AgentBatch,
    CoalitionStructure,
    FormationProblem,
    InvalidFormationProblemError,
    Objective,
    Region,
    form_coalitions_exact,
    form_coalitions_scalable,
)
from freeagentics.domain.models import ModelValidationError, ValidationIssue
from freeagentics.domain.world import (
    FieldError,
    WorldValidationError,
    region_from_mapping,
    spec_from_mapping,
)
from freeagentics.services.agents import NotFoundError
from freeagentics.services.auth.rbac import Principal
from freeagentics.services.coalitions.records import (
    CoalitionRecord,
    CoalitionRepository,
    CoalitionState,
    ObjectiveRecord,
    ObjectiveStatus,
)
from freeagentics.services.runtime.records import Page, WorldRecord, WorldRepository
from freeagentics.services.runtime.world_runtime import WorldView

Algorithm = Literal["exact", "scalable"]


class NotLiveError(RuntimeError):
    """The world is not running in this process, so there are no live positions to form from."""


@dataclass(frozen=True)
class FormationOutcome:
    world_id: uuid.UUID
    algorithm: str
    structure: CoalitionStructure
    coalitions: tuple[CoalitionRecord, ...]
    objectives: tuple[ObjectiveRecord, ...]
    duration_seconds: float
    agents_considered: int


def _check_required(required: Mapping[str, Any]) -> dict[str, float]:
    issues: list[FieldError] = []
    result: dict[str, float] = {}
    if not isinstance(required, Mapping) or not required or len(required) > 16:
        raise WorldValidationError([FieldError(("required",), "1 to 16 capability amounts", "invalid_value")])
    for name, amount in required.items():
        ok_name = isinstance(name, str) and name.isidentifier() and len(name) <= 32
        ok_amount = (
            isinstance(amount, int | float)
            and not isinstance(amount, bool)
            and math.isfinite(amount)
            and amount >= 0
        )
        if not ok_name or not ok_amount:
            issues.append(
                FieldError(("required", str(name)[:32]), "identifier -> finite amount >= 0", "invalid_value")
            )
        else:
            result[name] = float(amount)
    if not issues and not any(v > 0 for v in result.values()):
        issues.append(FieldError(("required",), "at least one amount must be > 0", "invalid_value"))
    if issues:
        raise WorldValidationError(issues)
    return result


def build_problem(
    view: WorldView,
    objectives: Sequence[ObjectiveRecord],
    busy: set[uuid.UUID],
) -> tuple[FormationProblem, list[uuid.UUID]]:
    """The formation problem of a live world: running agents not in a live coalition, and ``objectives``."""
    vocabulary = sorted({name for o in objectives for name in o.required})
    agent_ids: list[uuid.UUID] = []
    positions: list[Any] = []
    capabilities: list[list[float]] = []
    for population in view.populations:
        rows = [
            i
            for i, agent_id in enumerate(population.agent_ids)
            if population.running[i] and agent_id not in busy
        ]
        if not rows:
            continue
        agent_ids.extend(population.agent_ids[i] for i in rows)
        positions.append(view.positions[population.slots[rows]])
        capabilities.extend([population.capabilities[i].get(name, 0.0) for name in vocabulary] for i in rows)
    position_array = np.concatenate(positions) if positions else np.zeros((0, 2), dtype=np.int64)
    capability_array = (
        np.asarray(capabilities, dtype=np.float64).reshape(len(agent_ids), len(vocabulary))
        if agent_ids
        else np.zeros((0, len(vocabulary)))
    )
    problem = FormationProblem(
        capability_names=tuple(vocabulary),
        objectives=tuple(
            Objective(
                id=str(o.id),
                target=Region(o.region["top"], o.region["left"], o.region["bottom"], o.region["right"]),
                required=tuple(o.required.get(name, 0.0) for name in vocabulary),
                value=o.value,
                priority=o.priority,
                deadline=None if o.deadline_tick is None else max(0, o.deadline_tick - view.tick),
            )
            for o in objectives
        ),
        agents=AgentBatch(positions=position_array, capabilities=capability_array),
        current_tick=0,
    )
    return problem, agent_ids


def run_algorithm(problem: FormationProblem, algorithm: Algorithm, seed: int) -> CoalitionStructure:
    if algorithm == "exact":
        return form_coalitions_exact(problem, seed=seed)
    return form_coalitions_scalable(problem, seed=seed)


class CoalitionService:
    def __init__(self, coalitions: CoalitionRepository, worlds: WorldRepository, live_view: Any) -> None:
        """``live_view(world_id)`` returns the world's current :class:`WorldView` or None (not the owner)."""
        self._coalitions = coalitions
        self._worlds = worlds
        self._live_view = live_view

    async def _world(self, principal: Principal | None, world_id: uuid.UUID) -> WorldRecord:
        world = await self._worlds.get(world_id)
        visible = world is not None and (
            principal is None or world.owner_id is None or principal.can_access_owned(world.owner_id)
        )
        if world is None or not visible:
            raise NotFoundError("world", world_id)
        return world

    # ------------------------------------------------------------------ objectives

    async def create_objective(
        self,
        principal: Principal | None,
        world_id: uuid.UUID,
        name: str,
        region: Mapping[str, Any],
        required: Mapping[str, Any],
        value: float,
        priority: float,
        deadline_tick: int | None,
    ) -> ObjectiveRecord:
        world = await self._world(principal, world_id)
        spec = spec_from_mapping(world.spec)
        parsed = region_from_mapping(dict(region), spec)
        now = dt.datetime.now(dt.UTC)
        record = ObjectiveRecord(
            id=uuid.uuid4(),
            owner_id=principal.user_id if principal is not None else None,
            world_id=world_id,
            name=name,
            region=parsed.to_mapping(),
            required=_check_required(required),
            value=float(value),
            priority=float(priority),
            deadline_tick=deadline_tick,
            status="open",
            value_credited=0.0,
            created_at=now,
            updated_at=now,
            completed_at=None,
        )
        await self._coalitions.add_objective(record)
        return record

    async def get_objective(self, principal: Principal, objective_id: uuid.UUID) -> ObjectiveRecord:
        record = await self._coalitions.get_objective(objective_id)
        if record is None or not (record.owner_id is None or principal.can_access_owned(record.owner_id)):
            raise NotFoundError("objective", objective_id)
        return record

    async def list_objectives(
        self, principal: Principal, world_id: uuid.UUID | None, status: ObjectiveStatus | None, page: Page
    ) -> tuple[list[ObjectiveRecord], int]:
        return await self._coalitions.list_objectives(world_id, principal.owner_filter(), status, page)

    async def update_objective(
        self, principal: Principal, objective_id: uuid.UUID, changes: Mapping[str, Any]
    ) -> ObjectiveRecord:
        await self.get_objective(principal, objective_id)
        values = dict(changes)
        if "required" in values:
            values["required"] = _check_required(values["required"])
        updated = await self._coalitions.update_objective(objective_id, **values)
        if updated is None:
            raise NotFoundError("objective", objective_id)
        return updated

    async def delete_objective(self, principal: Principal, objective_id: uuid.UUID) -> list[uuid.UUID]:
        """Delete an objective; returns the members its live coalitions released."""
        await self.get_objective(principal, objective_id)
        released: list[uuid.UUID] = []
        for coalition in await self._coalitions.live_coalitions():
            if coalition.objective_id == objective_id:
                await self._coalitions.end_coalition(coalition.id, "dissolved")
                released.extend(coalition.member_ids)
        await self._coalitions.delete_objective(objective_id)
        return released

    # ------------------------------------------------------------------ coalitions

    async def _visible_coalition(self, principal: Principal, coalition: CoalitionRecord) -> bool:
        objective = await self._coalitions.get_objective(coalition.objective_id)
        return objective is not None and (
            objective.owner_id is None or principal.can_access_owned(objective.owner_id)
        )

    async def get_coalition(self, principal: Principal, coalition_id: uuid.UUID) -> CoalitionRecord:
        record = await self._coalitions.get_coalition(coalition_id)
        if record is None or not await self._visible_coalition(principal, record):
            raise NotFoundError("coalition", coalition_id)
        return record

    async def list_coalitions(
        self, principal: Principal, world_id: uuid.UUID | None, state: CoalitionState | None, page: Page
    ) -> tuple[list[CoalitionRecord], int]:
        records, total = await self._coalitions.list_coalitions(world_id, state, page)
        if principal.sees_all:
            return records, total
        visible = [r for r in records if await self._visible_coalition(principal, r)]
        return visible, len(visible)

    async def dissolve(self, principal: Principal, coalition_id: uuid.UUID) -> CoalitionRecord:
        record = await self.get_coalition(principal, coalition_id)
        if record.state not in ("forming", "active"):
            return record
        ended = await self._coalitions.end_coalition(coalition_id, "dissolved")
        await self._coalitions.update_objective(record.objective_id, status="open")
        assert ended is not None
        return ended

    async def form(
        self,
        principal: Principal | None,
        world_id: uuid.UUID,
        algorithm: Algorithm,
        objective_ids: Sequence[uuid.UUID] | None,
        seed: int = 0,
    ) -> FormationOutcome:
        """Form coalitions for the world's open objectives (or the given ones) from its free running agents.

        Persists the coalitions in state ``forming`` and their objectives as ``assigned``; the caller
        commits and then lets the coordinator activate them (steer the members).
        """
        await self._world(principal, world_id)
        view: WorldView | None = self._live_view(world_id)
        if view is None:
            raise NotLiveError("the world is not running in this process")
        if objective_ids:
            objectives = []
            for objective_id in objective_ids:
                objective = await self._coalitions.get_objective(objective_id)
                visible = objective is not None and (
                    principal is None
                    or objective.owner_id is None
                    or principal.can_access_owned(objective.owner_id)
                )
                if objective is None or not visible or objective.world_id != world_id:
                    raise NotFoundError("objective", objective_id)
                if objective.status != "open":
                    raise ModelValidationError(
                        [
                            ValidationIssue(
                                ("objective_ids",),
                                f"objective {objective_id} is {objective.status}",
                                "invalid_value",
                            )
                        ]
                    )
                objectives.append(objective)
        else:
            objectives, _ = await self._coalitions.list_objectives(world_id, None, "open", Page(limit=1000))
        busy = await self._coalitions.busy_agents(world_id)
        started = time.perf_counter()
        if not objectives:
            raise ModelValidationError([ValidationIssue(("objective_ids",), "no open objectives", "missing")])
        problem, agent_ids = build_problem(view, objectives, busy)
        try:
            structure = await asyncio.to_thread(run_algorithm, problem, algorithm, seed)
        except InvalidFormationProblemError as exc:
            hint = (
                f" (exact handles at most {MAX_EXACT_AGENTS} candidates per objective)"
                if algorithm == "exact"
                else ""
            )
            raise ModelValidationError(
                [ValidationIssue(("algorithm",), f"{exc}{hint}", "invalid_value")]
            ) from None
        duration = time.perf_counter() - started
        now = dt.datetime.now(dt.UTC)
        by_id = {str(o.id): o for o in objectives}
        created: list[CoalitionRecord] = []
        for coalition in structure.coalitions:
            if not coalition.members or not coalition.satisfied:
                continue
            record = CoalitionRecord(
                id=uuid.uuid4(),
                objective_id=by_id[coalition.objective_id].id,
                world_id=world_id,
                state="forming",
                algorithm=algorithm,
                value=float(coalition.value),
                member_ids=tuple(agent_ids[i] for i in coalition.members),
                created_at=now,
                updated_at=now,
                ended_at=None,
            )
            await self._coalitions.add_coalition(record)
            await self._coalitions.update_objective(record.objective_id, status="assigned")
            created.append(record)
        return FormationOutcome(
            world_id=world_id,
            algorithm=algorithm,
            structure=structure,
            coalitions=tuple(created),
            objectives=tuple(objectives),
            duration_seconds=duration,
            agents_considered=len(agent_ids),
        )
