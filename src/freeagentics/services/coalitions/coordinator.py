"""The Coalition Coordinator of the runtime owner: activates coalitions by steering their members'
preferences, watches them reach their objectives, credits the value, releases the members, and forms
new coalitions periodically when objectives are open and agents are free.

It runs on the process that owns the runtime (it needs live positions). Each background pass is its own
command: it opens a unit of work, applies the decisions, and commits through the port.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import numpy as np

from freeagentics.domain.world import Objectives, objective_status
from freeagentics.services.coalitions.records import CoalitionRecord, CoalitionRepository
from freeagentics.services.coalitions.service import CoalitionService, FormationOutcome
from freeagentics.services.coalitions.steering import location_preferences
from freeagentics.services.metrics_ports import CoalitionMetrics
from freeagentics.services.runtime.core import AgentRuntime, TickReport
from freeagentics.services.runtime.records import Page, WorldRepository
from freeagentics.services.runtime.supervisor import RuntimeSupervisor

logger = logging.getLogger(__name__)
agents_log = logging.getLogger("freeagentics.agents")


class CoalitionUnitOfWork(Protocol):
    coalitions: CoalitionRepository
    worlds: WorldRepository

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[CoalitionUnitOfWork]]
EventSink = Callable[[uuid.UUID, dict[str, Any]], None]


class CoalitionCoordinator:
    def __init__(
        self,
        supervisor: RuntimeSupervisor,
        unit_of_work: UnitOfWorkFactory,
        metrics: CoalitionMetrics | None = None,
        events: EventSink | None = None,
        check_interval_seconds: float = 1.0,
        formation_interval_seconds: float = 10.0,
    ) -> None:
        self._supervisor = supervisor
        self._unit_of_work = unit_of_work
        self._metrics = metrics
        self.events = events
        self._check_interval = check_interval_seconds
        self.formation_interval_seconds = formation_interval_seconds
        self._last_check = 0.0
        self._last_formation = 0.0
        self._steered: set[uuid.UUID] = set()
        self._owner_generation: float | None = None
        self._running: asyncio.Task[None] | None = None
        self.value_credited_total = 0.0

    def live_view(self, world_id: uuid.UUID) -> Any:
        if not self._supervisor.is_owner:
            return None
        return self._supervisor.runtime.view(world_id)

    # ------------------------------------------------------------------ steering

    def _steer(self, coalition: CoalitionRecord, region: dict[str, int]) -> None:
        view = self.live_view(coalition.world_id)
        if view is None:
            return
        preferences = location_preferences(view.spec, region)
        runtime = self._supervisor.runtime
        runtime.submit(lambda: runtime.set_preferences(list(coalition.member_ids), 0, preferences))
        self._steered.add(coalition.id)
        for agent_id in coalition.member_ids:
            agents_log.info(
                f"coalition_joined agent_id:{agent_id} coalition:{coalition.id}",
                extra={"fields": {"agent_id": str(agent_id), "coalition_id": str(coalition.id)}},
            )

    def release(self, coalition_id: uuid.UUID, member_ids: tuple[uuid.UUID, ...] | list[uuid.UUID]) -> None:
        """Give members their model's own preferences back."""
        self._steered.discard(coalition_id)
        runtime: AgentRuntime = self._supervisor.runtime
        runtime.submit(lambda: runtime.reset_preferences(list(member_ids), 0))
        for agent_id in member_ids:
            agents_log.info(
                f"coalition_left agent_id:{agent_id} coalition:{coalition_id}",
                extra={"fields": {"agent_id": str(agent_id), "coalition_id": str(coalition_id)}},
            )

    async def activate(self, outcome: FormationOutcome) -> None:
        """After the formation was committed: steer members and mark the coalitions active."""
        objectives = {o.id: o for o in outcome.objectives}
        async with self._unit_of_work() as uow:
            for coalition in outcome.coalitions:
                self._steer(coalition, objectives[coalition.objective_id].region)
                await uow.coalitions.set_state(coalition.id, "active")
                self._emit(coalition.world_id, coalition, "active")
            await uow.commit()
        if self._metrics is not None:
            self._metrics.formation_completed(outcome.duration_seconds)
        await self._report_states()

    def _emit(self, world_id: uuid.UUID, coalition: CoalitionRecord, state: str) -> None:
        if self.events is not None:
            self.events(
                world_id,
                {
                    "type": "coalition",
                    "coalition_id": str(coalition.id),
                    "objective_id": str(coalition.objective_id),
                    "state": state,
                    "members": [str(m) for m in coalition.member_ids],
                    "value": coalition.value,
                },
            )

    async def _report_states(self) -> None:
        if self._metrics is None:
            return
        async with self._unit_of_work() as uow:
            self._metrics.set_coalitions_by_state(await uow.coalitions.count_by_state())

    # ------------------------------------------------------------------ background passes

    def on_tick(self, report: TickReport, runtime: AgentRuntime) -> None:
        """Tick listener: at most one background pass at a time, every ``check_interval_seconds``."""
        now = time.monotonic()
        if now - self._last_check < self._check_interval:
            return
        if self._running is not None and not self._running.done():
            return
        self._last_check = now
        self._running = asyncio.get_running_loop().create_task(self._pass())

    async def _pass(self) -> None:
        try:
            if self._owner_generation != self._supervisor.owner_since:
                # A new ownership (start-up or takeover): re-steer the coalitions that are still live.
                self._owner_generation = self._supervisor.owner_since
                self._steered.clear()
            await self.check_progress()
            if self.formation_interval_seconds > 0 and (
                time.monotonic() - self._last_formation >= self.formation_interval_seconds
            ):
                self._last_formation = time.monotonic()
                await self.form_periodically()
        except Exception:
            logger.exception("coalition_pass_failed")

    async def check_progress(self) -> None:
        """Complete coalitions whose members stand in the target region with the required capabilities;
        dissolve those past their objective's deadline."""
        async with self._unit_of_work() as uow:
            live = await uow.coalitions.live_coalitions()
            changed = False
            for coalition in live:
                objective = await uow.coalitions.get_objective(coalition.objective_id)
                view = self.live_view(coalition.world_id)
                if objective is None or view is None:
                    continue
                if coalition.id not in self._steered and coalition.state == "active":
                    self._steer(coalition, objective.region)
                if objective.deadline_tick is not None and view.tick > objective.deadline_tick:
                    await uow.coalitions.end_coalition(coalition.id, "dissolved")
                    await uow.coalitions.update_objective(objective.id, status="expired")
                    self.release(coalition.id, coalition.member_ids)
                    self._emit(coalition.world_id, coalition, "dissolved")
                    changed = True
                    continue
                if self._complete(view, coalition, objective.region, objective.required):
                    await uow.coalitions.end_coalition(coalition.id, "completed")
                    credited = objective.value * objective.priority
                    await uow.coalitions.update_objective(
                        objective.id,
                        status="completed",
                        value_credited=credited,
                        completed_at=dt.datetime.now(dt.UTC),
                    )
                    self.value_credited_total += credited
                    if self._metrics is not None:
                        self._metrics.value_achieved(credited)
                    self.release(coalition.id, coalition.member_ids)
                    self._emit(coalition.world_id, coalition, "completed")
                    logger.info(
                        "coalition_completed",
                        extra={"fields": {"coalition_id": str(coalition.id), "value": credited}},
                    )
                    changed = True
            await uow.commit()
        if changed:
            await self._report_states()

    @staticmethod
    def _complete(
        view: Any, coalition: CoalitionRecord, region: dict[str, int], required: dict[str, float]
    ) -> bool:
        names = sorted(required)
        positions = []
        capabilities = []
        for agent_id in coalition.member_ids:
            found = view.locate(agent_id)
            if found is None:
                continue
            population, row = found
            positions.append(view.positions[population.slots[row]])
            capabilities.append([population.capabilities[row].get(n, 0.0) for n in names])
        if not positions:
            return False
        objectives = Objectives(
            regions=np.array([[region["top"], region["left"], region["bottom"], region["right"]]]),
            required=np.array([[required[n] for n in names]]),
        )
        status = objective_status(
            objectives,
            np.asarray(positions),
            np.asarray(capabilities, dtype=np.float64),
            grid_shape=(view.spec.height, view.spec.width),
        )
        return bool(status.complete[0])

    async def form_periodically(self) -> None:
        """Scalable formation for every live world with open objectives (a no-op when there are none)."""
        for world_id in list(self._supervisor.runtime.world_ids):
            async with self._unit_of_work() as uow:
                _, open_count = await uow.coalitions.list_objectives(world_id, None, "open", Page(limit=1))
                if open_count == 0:
                    continue
                service = CoalitionService(uow.coalitions, uow.worlds, self.live_view)
                outcome = await service.form(None, world_id, "scalable", None)
                await uow.commit()
            if outcome.coalitions:
                await self.activate(outcome)
