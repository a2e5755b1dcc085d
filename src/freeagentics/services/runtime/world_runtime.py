"""One grid world and the populations living in it; one tick = every population's engine call, then one
world step with all actions at once."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.conventions import Move
from freeagentics.domain.engine import EngineConfig, GenerativeModel
from freeagentics.domain.engine.config import Accelerator
from freeagentics.domain.world import GridObservations, GridWorld, GridWorldSpec, StepEvents
from freeagentics.services.runtime.catalog import AgentBlueprint, observe_function
from freeagentics.services.runtime.pools import InstrumentedPool
from freeagentics.services.runtime.population import ModelNames, Population, PopulationView

IntArray = NDArray[np.int64]
T = TypeVar("T")
#: Event records kept per tick for views and live updates.
MAX_EVENT_RECORDS = 200


def _run_now(fn: Callable[[GridObservations], T], observations: GridObservations) -> Future[T]:
    """Run ``fn`` here and hold its result or error like a pool's future would."""
    future: Future[T] = Future()
    try:
        future.set_result(fn(observations))
    except Exception as exc:
        future.set_exception(exc)
    return future


def _first_records(events: StepEvents, limit: int) -> tuple[dict[str, Any], ...]:
    """The first ``limit`` event records, without building one record per event first: with thousands of
    agents the bumps alone cost more than the world's step."""
    head = replace(
        events,
        bumped=events.bumped[:limit],
        goal_reached=events.goal_reached[:limit],
        goal_reached_goal=events.goal_reached_goal[:limit],
        collected=events.collected[:limit],
        collected_cell=events.collected_cell[:limit],
        deposited=events.deposited[:limit],
        deposited_goal=events.deposited_goal[:limit],
    )
    return tuple(head.as_records()[:limit])


def stable_seed(*parts: object) -> int:
    """A 63-bit seed derived from ``parts`` that is the same in every process and Python version."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def engine_config_for(blueprint: AgentBlueprint, accelerator: Accelerator = "numpy") -> EngineConfig:
    # float32 is where throughput comes from; parity with pymdp is established in float64 by the tests.
    selection: Literal["deterministic", "stochastic"] = (
        "deterministic" if blueprint.action_selection == "deterministic" else "stochastic"
    )
    model = blueprint.model
    # A template that ties actions across factors (the collector) asks for whole-policy sampling, else
    # stochastic selection could give its factors different actions.
    sampling: Literal["marginal", "full"] = (
        "full" if model.metadata.get("sampling_mode") == "full" else "marginal"
    )
    # Dirichlet counts in the model are how a template or spec turns learning on (``learn_B`` etc.).
    return EngineConfig(
        action_selection=selection,
        sampling_mode=sampling,
        learn_A=model.pA is not None,
        learn_B=model.pB is not None,
        learn_D=model.pD is not None,
        dtype="float32",
        num_threads=None,
        accelerator=accelerator,
    )


def _names(blueprint: AgentBlueprint) -> ModelNames:
    model = blueprint.model
    control = model.control_factors[0] if model.control_factors else 0
    actions = model.action_names[control] if control < len(model.action_names) else ()
    return ModelNames(tuple(model.factor_names), tuple(tuple(s) for s in model.state_names), tuple(actions))


@dataclass(frozen=True)
class WorldView:
    world_id: uuid.UUID
    spec: GridWorldSpec
    tick: int
    positions: IntArray
    carrying: NDArray[np.bool_]
    resources_left: IntArray
    deposited: IntArray
    populations: tuple[PopulationView, ...]
    population_of: dict[uuid.UUID, int]
    last_events: tuple[dict[str, Any], ...]

    def locate(self, agent_id: uuid.UUID) -> tuple[PopulationView, int] | None:
        """The agent's population view and its row there, or ``None`` when not in this world."""
        index = self.population_of.get(agent_id)
        if index is None:
            return None
        population = self.populations[index]
        return population, population.row_of[agent_id]


@dataclass(frozen=True)
class PopulationFailure:
    """A population whose engine call raised: its running agents were stopped and should show the error."""

    agent_ids: tuple[uuid.UUID, ...]
    message: str


@dataclass(frozen=True)
class TickStats:
    agent_steps: int
    engine_calls: int
    events: StepEvents | None
    failures: tuple[PopulationFailure, ...] = ()


class WorldRuntime:
    """Mutated only on the runtime's tick thread (see :class:`.core.AgentRuntime`)."""

    def __init__(
        self, world_id: uuid.UUID, spec: GridWorldSpec, seed: int, accelerator: Accelerator = "numpy"
    ) -> None:
        self.world_id = world_id
        self.accelerator: Accelerator = accelerator
        self.spec = spec
        self.seed = seed
        self.world = GridWorld(spec)
        self.world.reset(np.random.default_rng(stable_seed("world", world_id, seed)))
        self.observations: GridObservations = self.world.observe()
        self.populations: dict[str, Population] = {}
        self.population_of: dict[uuid.UUID, str] = {}
        self.last_events: tuple[dict[str, Any], ...] = ()
        self._population_index: dict[uuid.UUID, int] | None = None
        walls = set(spec.walls)
        self._open_cells = np.array(
            [(r, c) for r in range(spec.height) for c in range(spec.width) if (r, c) not in walls],
            dtype=np.int64,
        )

    @property
    def agent_count(self) -> int:
        return len(self.population_of)

    def population_for(self, blueprint: AgentBlueprint) -> Population:
        key = blueprint.model_key
        population = self.populations.get(key)
        if population is None:
            control_factor = blueprint.model.control_factors[0] if blueprint.model.control_factors else 0
            population = Population(
                key=key,
                template=blueprint.template,
                model=GenerativeModel.from_compiled(blueprint.model),
                config=engine_config_for(blueprint, self.accelerator),
                control_factor=control_factor,
                observe=observe_function(blueprint.template),
                rng=np.random.default_rng(stable_seed("population", self.world_id, self.seed, key)),
                essential=blueprint.essential,
                names=_names(blueprint),
            )
            self.populations[key] = population
        return population

    def add_agents(self, agent_ids: Sequence[uuid.UUID], blueprints: Sequence[AgentBlueprint]) -> None:
        """Place agents (at their start cell, else a cell drawn from their own seed) and join populations."""
        by_key: dict[str, list[int]] = {}
        for index, blueprint in enumerate(blueprints):
            by_key.setdefault(blueprint.model_key, []).append(index)
        free_cells = self._open_cells
        for indices in by_key.values():
            positions = np.array(
                [
                    blueprints[i].start
                    if blueprints[i].start is not None
                    else free_cells[stable_seed("start", agent_ids[i], blueprints[i].seed) % len(free_cells)]
                    for i in indices
                ],
                dtype=np.int64,
            ).reshape(-1, 2)
            slots = self.world.add_agents(positions)
            population = self.population_for(blueprints[indices[0]])
            ids = [agent_ids[i] for i in indices]
            population.add(ids, slots, [blueprints[i] for i in indices])
            for agent_id in ids:
                self.population_of[agent_id] = population.key
        self._population_index = None
        self.observations = self.world.observe()

    def attach_agents(
        self, agent_ids: Sequence[uuid.UUID], blueprints: Sequence[AgentBlueprint], slots: IntArray
    ) -> None:
        """Join agents that already occupy ``slots`` in the world (restored from a world snapshot)."""
        by_key: dict[str, list[int]] = {}
        for index, blueprint in enumerate(blueprints):
            by_key.setdefault(blueprint.model_key, []).append(index)
        for indices in by_key.values():
            population = self.population_for(blueprints[indices[0]])
            ids = [agent_ids[i] for i in indices]
            population.add(ids, slots[indices], [blueprints[i] for i in indices])
            for agent_id in ids:
                self.population_of[agent_id] = population.key
        self._population_index = None
        self.observations = self.world.observe()

    def remove_agents(self, agent_ids: Sequence[uuid.UUID]) -> None:
        by_key: dict[str, list[uuid.UUID]] = {}
        for agent_id in agent_ids:
            key = self.population_of.pop(agent_id, None)
            if key is not None:
                by_key.setdefault(key, []).append(agent_id)
        for key, ids in by_key.items():
            population = self.populations[key]
            self.world.remove_agents(population.remove(ids))
            if population.size == 0:
                del self.populations[key]
        self._population_index = None
        self.observations = self.world.observe()

    def group(self, agent_ids: Sequence[uuid.UUID]) -> dict[str, list[uuid.UUID]]:
        by_key: dict[str, list[uuid.UUID]] = {}
        for agent_id in agent_ids:
            key = self.population_of.get(agent_id)
            if key is not None:
                by_key.setdefault(key, []).append(agent_id)
        return by_key

    def tick(self, emergency: bool = False, pool: InstrumentedPool | None = None) -> TickStats:
        """Every population with running agents takes one engine call, then the world steps once.

        Populations step concurrently on ``pool`` (NumPy releases the GIL); each touches only itself, and
        the world moves only after all of them chose. In emergency mode only essential populations step.
        """
        stepping = [p for p in self.populations.values() if p.essential or not emergency]
        outcomes: list[Future[tuple[IntArray, IntArray]]]
        if pool is not None and len(stepping) > 1:
            outcomes = [pool.submit(p.step, self.observations) for p in stepping]
        else:
            outcomes = [_run_now(p.step, self.observations) for p in stepping]
        actions = np.full(self.world.capacity, int(Move.STAY), dtype=np.int64)
        agent_steps = 0
        engine_calls = 0
        failures: list[PopulationFailure] = []
        for population, outcome in zip(stepping, outcomes, strict=True):
            error = outcome.exception()
            if error is not None:
                # One bad population must not stop the world (or every other world) from ticking: its
                # agents stop where they are, and the supervisor records the error on each of them.
                failed = np.flatnonzero(population.running)
                population.running[failed] = False
                ids = tuple(population.agent_ids[i] for i in failed)
                failures.append(PopulationFailure(ids, f"{type(error).__name__}: {error}"[:500]))
                continue
            slots, chosen = outcome.result()
            if slots.size:
                actions[slots] = chosen
                agent_steps += int(slots.size)
                engine_calls += 1
        if agent_steps == 0:
            return TickStats(0, 0, None, tuple(failures))
        result = self.world.step(actions)
        self.observations = result.observations
        self.last_events = _first_records(result.events, MAX_EVENT_RECORDS)
        return TickStats(agent_steps, engine_calls, result.events, tuple(failures))

    def view(self) -> WorldView:
        populations = tuple(p.view() for p in self.populations.values())
        if self._population_index is None:
            index_of_key = {view.key: i for i, view in enumerate(populations)}
            self._population_index = {agent: index_of_key[key] for agent, key in self.population_of.items()}
        return WorldView(
            world_id=self.world_id,
            spec=self.spec,
            tick=self.world.tick,
            positions=self.world.positions(),
            carrying=self.world.carrying(),
            resources_left=self.world.resources_left(),
            deposited=self.world.deposited(),
            populations=populations,
            population_of=self._population_index,
            last_events=self.last_events,
        )
