"""A population: the agents of one world that share one generative model, stepped by one engine call."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.engine import (
    EngineConfig,
    GenerativeModel,
    PopulationState,
    init_population,
    reset_agents,
    set_preferences,
    step,
)
from freeagentics.domain.world import GridObservations
from freeagentics.services.runtime import state_ops
from freeagentics.services.runtime.catalog import AgentBlueprint, Observe

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float32]


@dataclass(frozen=True)
class ModelNames:
    """Readable names of a population's model (from its compiled form)."""

    factors: tuple[str, ...] = ()
    states: tuple[tuple[str, ...], ...] = ()
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class PopulationView:
    """An immutable picture of a population after a tick, safe to read from any thread."""

    key: str
    template: str
    model: GenerativeModel
    agent_ids: tuple[uuid.UUID, ...]
    #: ``agent_ids`` as 16 raw bytes per row ``(n, 16)``, kept up to date on add/remove for checkpoints.
    agent_id_bytes: NDArray[np.uint8]
    row_of: dict[uuid.UUID, int]
    slots: IntArray
    running: NDArray[np.bool_]
    ticks: IntArray
    last_action: IntArray
    vfe: FloatArray
    state: PopulationState
    capabilities: tuple[dict[str, float], ...]
    names: ModelNames


class Population:
    """Owns the batched state of its agents; mutated only by the runtime's tick thread.

    Row ``i`` of every array (``agent_ids``, ``slots`` in the world, ``running``, ``ticks``, the engine
    state) is the same agent. Stopped agents keep their beliefs and are left out of the engine call.
    """

    def __init__(
        self,
        key: str,
        template: str,
        model: GenerativeModel,
        config: EngineConfig,
        control_factor: int,
        observe: Observe,
        rng: np.random.Generator,
        essential: bool = False,
        names: ModelNames | None = None,
    ) -> None:
        self.names = names or ModelNames()
        self.key = key
        self.essential = essential
        self.template = template
        self.model = model
        self.config = config
        self.control_factor = control_factor
        self.observe = observe
        self.rng = rng
        self.agent_ids: list[uuid.UUID] = []
        self.agent_id_bytes: NDArray[np.uint8] = np.zeros((0, 16), dtype=np.uint8)
        self.row_of: dict[uuid.UUID, int] = {}
        self.slots: IntArray = np.zeros(0, dtype=np.int64)
        self.running: NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self.ticks: IntArray = np.zeros(0, dtype=np.int64)
        self.last_action: IntArray = np.full(0, -1, dtype=np.int64)
        self.vfe: FloatArray = np.zeros(0, dtype=np.float32)
        self.capabilities: list[dict[str, float]] = []
        self.state: PopulationState = init_population(model, config, 0)
        self.engine_calls = 0
        self._membership: tuple[tuple[uuid.UUID, ...], dict[uuid.UUID, int]] | None = None

    @property
    def size(self) -> int:
        return len(self.agent_ids)

    def add(
        self, agent_ids: Sequence[uuid.UUID], slots: IntArray, blueprints: Sequence[AgentBlueprint]
    ) -> None:
        """Append agents with fresh beliefs (priors) at the given world slots; they start stopped."""
        count = len(agent_ids)
        fresh = init_population(self.model, self.config, count)
        for modality in {m for bp in blueprints for m in bp.preferences}:
            rows = np.array(
                [i for i, bp in enumerate(blueprints) if modality in bp.preferences], dtype=np.intp
            )
            values = np.array([blueprints[i].preferences[modality] for i in rows], dtype=np.float64)
            fresh = set_preferences(self.model, fresh, modality, values, rows)
        if self.state.C is not None or fresh.C is not None:
            self.state, fresh = self._align_preferences(self.state, fresh)
        first = self.size
        self.state = state_ops.concat(self.state, fresh)
        self.agent_ids.extend(agent_ids)
        added = np.frombuffer(b"".join(a.bytes for a in agent_ids), dtype=np.uint8).reshape(-1, 16)
        self.agent_id_bytes = np.concatenate([self.agent_id_bytes, added])
        for offset, agent_id in enumerate(agent_ids):
            self.row_of[agent_id] = first + offset
        self.slots = np.concatenate([self.slots, np.asarray(slots, dtype=np.int64)])
        self.running = np.concatenate([self.running, np.zeros(count, dtype=bool)])
        self.ticks = np.concatenate([self.ticks, np.zeros(count, dtype=np.int64)])
        self.last_action = np.concatenate([self.last_action, np.full(count, -1, dtype=np.int64)])
        self.vfe = np.concatenate([self.vfe, np.zeros(count, dtype=np.float32)])
        self.capabilities.extend(dict(bp.capabilities) for bp in blueprints)
        self._membership = None

    def _align_preferences(
        self, current: PopulationState, fresh: PopulationState
    ) -> tuple[PopulationState, PopulationState]:
        """Give both states per-agent ``C`` for the same modalities (the model's row where none was set)."""
        modalities = {
            m for s in (current, fresh) if s.C is not None for m, table in enumerate(s.C) if table is not None
        }
        for m in sorted(modalities):
            if current.C is None or current.C[m] is None:
                current = self._with_model_preferences(current, m)
            if fresh.C is None or fresh.C[m] is None:
                fresh = self._with_model_preferences(fresh, m)
        return current, fresh

    def _with_model_preferences(self, state: PopulationState, modality: int) -> PopulationState:
        """``state`` with a per-agent ``C`` table for ``modality`` (the model's row unless it has one)."""
        if state.C is not None and state.C[modality] is not None:
            return state
        return set_preferences(self.model, state, modality, np.asarray(self.model.C[modality]))

    def rows(self, agent_ids: Sequence[uuid.UUID]) -> NDArray[np.intp]:
        return np.array([self.row_of[agent_id] for agent_id in agent_ids], dtype=np.intp)

    def remove(self, agent_ids: Sequence[uuid.UUID]) -> IntArray:
        """Drop agents; returns their world slots so the world can free them."""
        rows = self.rows(agent_ids)
        freed = self.slots[rows].copy()
        keep = np.ones(self.size, dtype=bool)
        keep[rows] = False
        self.state = state_ops.drop(self.state, rows)
        self.slots = self.slots[keep]
        self.running = self.running[keep]
        self.ticks = self.ticks[keep]
        self.last_action = self.last_action[keep]
        self.vfe = self.vfe[keep]
        kept = np.flatnonzero(keep)
        self.capabilities = [self.capabilities[i] for i in kept]
        self.agent_ids = [self.agent_ids[i] for i in kept]
        self.agent_id_bytes = self.agent_id_bytes[keep]
        self.row_of = {agent_id: row for row, agent_id in enumerate(self.agent_ids)}
        self._membership = None
        return freed

    def set_running(self, agent_ids: Sequence[uuid.UUID], running: bool) -> None:
        self.running[self.rows(agent_ids)] = running

    def restart(self, agent_ids: Sequence[uuid.UUID]) -> None:
        """Beliefs back to the priors and tick counters to zero; learned counts and preferences are kept."""
        rows = self.rows(agent_ids)
        self.state = reset_agents(self.model, self.config, self.state, rows)
        self.ticks[rows] = 0
        self.last_action[rows] = -1
        self.vfe[rows] = 0.0

    def set_preferences(self, agent_ids: Sequence[uuid.UUID], modality: int, values: FloatArray) -> None:
        self.state = set_preferences(self.model, self.state, modality, values, self.rows(agent_ids))

    def step(self, observations: GridObservations) -> tuple[IntArray, IntArray]:
        """One engine call for the running agents; returns their world slots and chosen actions."""
        running_rows = np.flatnonzero(self.running)
        if running_rows.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        every_agent_runs = running_rows.size == self.size
        slots = self.slots if every_agent_runs else self.slots[running_rows]
        obs = self.observe(observations, slots)
        current = self.state if every_agent_runs else state_ops.take(self.state, running_rows)
        new_state, actions, diagnostics = step(self.model, self.config, current, obs, self.rng)
        self.engine_calls += 1
        self.state = new_state if every_agent_runs else state_ops.put(self.state, running_rows, new_state)
        chosen = actions[:, self.control_factor].astype(np.int64)
        self.ticks[running_rows] += 1
        self.last_action[running_rows] = chosen
        self.vfe[running_rows] = diagnostics.vfe
        return slots, chosen

    def view(self) -> PopulationView:
        # Membership changes rarely; views between changes share one immutable copy of the id index.
        if self._membership is None:
            self._membership = (tuple(self.agent_ids), dict(self.row_of))
        agent_ids, row_of = self._membership
        return PopulationView(
            key=self.key,
            template=self.template,
            model=self.model,
            agent_ids=agent_ids,
            agent_id_bytes=self.agent_id_bytes,
            row_of=row_of,
            slots=self.slots.copy(),
            running=self.running.copy(),
            ticks=self.ticks.copy(),
            last_action=self.last_action.copy(),
            vfe=self.vfe.copy(),
            state=self.state,
            capabilities=tuple(self.capabilities),
            names=self.names,
        )
