"""The agent runtime of one process: every world, its populations, the tick, and checkpoints.

Threading model. All runtime state is mutated on one thread, the *tick thread*. Other threads (the API's
event loop) never touch it: they :meth:`AgentRuntime.submit` commands, which run on the tick thread at the
start of the next tick, and they read :meth:`AgentRuntime.view` — immutable :class:`WorldView` objects
published after each tick. So a request never waits for the engine, and a tick never sees a half-applied
change.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from freeagentics.domain.engine.config import Accelerator
from freeagentics.domain.world import GridWorldSpec
from freeagentics.domain.world.snapshots import plain
from freeagentics.services.runtime import state_ops
from freeagentics.services.runtime.array_pack import is_packed, pack_arrays, unpack_arrays
from freeagentics.services.runtime.catalog import AgentBlueprint
from freeagentics.services.runtime.pools import InstrumentedPool
from freeagentics.services.runtime.world_runtime import PopulationFailure, WorldRuntime, WorldView

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHECKPOINT_FORMAT = "freeagentics.world_checkpoint/2"
#: Key of :meth:`AgentRuntime.capture`'s snapshot holding each population's random stream by population key.
POPULATION_RNG = "population_rng"
#: Still read: agent ids and per-agent world state as JSON lists (written before the arrays of format 2).
CHECKPOINT_FORMAT_V1 = "freeagentics.world_checkpoint/1"


class UnknownWorldError(LookupError):
    pass


@dataclass(frozen=True)
class TickReport:
    """What one tick did: agent-steps, engine calls (one per stepping population), duration, events."""

    tick: int
    agent_steps: int
    engine_calls: int
    duration_s: float
    events: Mapping[uuid.UUID, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    failures: tuple[PopulationFailure, ...] = ()


@dataclass(frozen=True)
class RestoredAgent:
    """An agent definition to rebuild at start-up, with whether it should run."""

    agent_id: uuid.UUID
    blueprint: AgentBlueprint
    running: bool


class AgentRuntime:
    def __init__(
        self, engine_pool: InstrumentedPool | None = None, accelerator: Accelerator = "numpy"
    ) -> None:
        self.engine_pool = engine_pool
        self.accelerator: Accelerator = accelerator
        self._worlds: dict[uuid.UUID, WorldRuntime] = {}
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._views: dict[uuid.UUID, WorldView] = {}
        self._tick = 0
        self._tick_lock = threading.Lock()
        self.emergency = False

    # ------------------------------------------------------------------ reading (any thread)

    def view(self, world_id: uuid.UUID) -> WorldView | None:
        return self._views.get(world_id)

    def views(self) -> dict[uuid.UUID, WorldView]:
        return self._views

    def locate(self, agent_id: uuid.UUID) -> tuple[WorldView, Any, int] | None:
        for world_view in self._views.values():
            found = world_view.locate(agent_id)
            if found is not None:
                return world_view, found[0], found[1]
        return None

    @property
    def tick_count(self) -> int:
        return self._tick

    @property
    def queue_length(self) -> int:
        return self._commands.qsize()

    @property
    def world_ids(self) -> list[uuid.UUID]:
        return list(self._views)

    # ------------------------------------------------------------------ commands

    def submit(self, command: Callable[[], T]) -> Future[T]:
        """Queue ``command`` for the tick thread; the future resolves when it ran (or raises its error)."""
        future: Future[T] = Future()
        self._commands.put((command, future))
        return future

    def _drain(self) -> None:
        while True:
            try:
                command, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(command())
            except Exception as exc:  # handed to the waiting caller, who maps it to an HTTP error
                future.set_exception(exc)

    def apply_pending(self) -> None:
        """Run queued commands and publish views without stepping (used while paused or not the owner)."""
        with self._tick_lock:
            self._drain()
            self._publish(self._worlds.keys())

    # The command bodies below run on the tick thread.

    def add_world(self, world_id: uuid.UUID, spec: GridWorldSpec, seed: int) -> None:
        if world_id not in self._worlds:
            self._worlds[world_id] = WorldRuntime(world_id, spec, seed, self.accelerator)

    def remove_world(self, world_id: uuid.UUID) -> None:
        self._worlds.pop(world_id, None)
        self._views.pop(world_id, None)

    def _world(self, world_id: uuid.UUID) -> WorldRuntime:
        world = self._worlds.get(world_id)
        if world is None:
            raise UnknownWorldError(str(world_id))
        return world

    def add_agents(
        self,
        world_id: uuid.UUID,
        agent_ids: Sequence[uuid.UUID],
        blueprints: Sequence[AgentBlueprint],
        running: bool = False,
    ) -> None:
        world = self._world(world_id)
        world.add_agents(agent_ids, blueprints)
        if running:
            self.set_running(agent_ids, True)

    def remove_agents(self, agent_ids: Iterable[uuid.UUID]) -> None:
        ids = list(agent_ids)
        for world in self._worlds.values():
            world.remove_agents([a for a in ids if a in world.population_of])

    def _grouped(self, agent_ids: Iterable[uuid.UUID]) -> Iterable[tuple[WorldRuntime, str, list[uuid.UUID]]]:
        ids = list(agent_ids)
        for world in self._worlds.values():
            for key, members in world.group(ids).items():
                yield world, key, members

    def set_running(self, agent_ids: Iterable[uuid.UUID], running: bool) -> None:
        for world, key, members in self._grouped(agent_ids):
            world.populations[key].set_running(members, running)

    def restart(self, agent_ids: Iterable[uuid.UUID]) -> None:
        for world, key, members in self._grouped(agent_ids):
            world.populations[key].restart(members)

    def set_preferences(self, agent_ids: Iterable[uuid.UUID], modality: int, values: np.ndarray) -> None:
        for world, key, members in self._grouped(agent_ids):
            world.populations[key].set_preferences(members, modality, values)

    def reset_preferences(self, agent_ids: Iterable[uuid.UUID], modality: int) -> None:
        """Give agents their model's own preferences for ``modality`` back."""
        for world, key, members in self._grouped(agent_ids):
            population = world.populations[key]
            population.set_preferences(members, modality, np.asarray(population.model.C[modality]))

    # ------------------------------------------------------------------ ticking (tick thread)

    def tick(self) -> TickReport:
        """Apply queued commands, step every world once, publish new views."""
        with self._tick_lock:
            started = time.perf_counter()
            self._drain()
            agent_steps = 0
            engine_calls = 0
            events: dict[uuid.UUID, tuple[dict[str, Any], ...]] = {}
            stepped: list[uuid.UUID] = []
            failures: list[PopulationFailure] = []
            for world_id, world in self._worlds.items():
                stats = world.tick(self.emergency, self.engine_pool)
                agent_steps += stats.agent_steps
                engine_calls += stats.engine_calls
                failures.extend(stats.failures)
                if stats.events is not None:
                    events[world_id] = world.last_events
                stepped.append(world_id)
            self._tick += 1
            self._publish(stepped)
            return TickReport(
                self._tick, agent_steps, engine_calls, time.perf_counter() - started, events, tuple(failures)
            )

    def _publish(self, world_ids: Iterable[uuid.UUID]) -> None:
        views = dict(self._views)
        for world_id in list(world_ids):
            views[world_id] = self._worlds[world_id].view()
        self._views = views

    # ------------------------------------------------------------------ checkpoints

    def capture(self, world_id: uuid.UUID) -> tuple[dict[str, Any], WorldView]:
        """Tick thread: the world's snapshot (mutable state, copied now, with each population's random
        stream under ``POPULATION_RNG``) and its current immutable view."""
        world = self._world(world_id)
        # The spec is stored with the world row; leaving it out keeps frequent checkpoints small.
        snapshot = world.world.snapshot(include_spec=False, agents_as_arrays=True)
        # Only here, not in every tick's view: a restored world must draw what the uninterrupted one would.
        snapshot[POPULATION_RNG] = {
            key: population.rng.bit_generator.state for key, population in world.populations.items()
        }
        return snapshot, world.view()

    def restore_world(
        self,
        world_id: uuid.UUID,
        spec: GridWorldSpec,
        seed: int,
        agents: Sequence[RestoredAgent],
        checkpoint: bytes | None,
    ) -> int:
        """Tick thread: rebuild a world and its agents, from a checkpoint when one is given.

        Agents present in the checkpoint get their saved beliefs, counters and cells back; agents created
        after it start from their priors; agents deleted since are dropped. Returns how many agents were
        restored from the checkpoint.
        """
        runtime = WorldRuntime(world_id, spec, seed, self.accelerator)
        self._worlds[world_id] = runtime
        saved = decode_checkpoint(checkpoint) if checkpoint else None
        restored = 0
        if saved is not None:
            runtime.world.restore(saved.world_snapshot)
            wanted = {agent.agent_id for agent in agents}
            stale_slots = [slot for agent_id, slot in saved.slot_of.items() if agent_id not in wanted]
            if stale_slots:
                runtime.world.remove_agents(np.asarray(stale_slots, dtype=np.int64))
            # Rows in the checkpoint's order, whatever order the caller lists the agents in: a population
            # draws its random stream row by row, so the restored stream must meet the same agents.
            known = sorted(
                (a for a in agents if a.agent_id in saved.slot_of), key=lambda a: saved.location[a.agent_id]
            )
            if known:
                runtime.attach_agents(
                    [a.agent_id for a in known],
                    [a.blueprint for a in known],
                    np.asarray([saved.slot_of[a.agent_id] for a in known], dtype=np.int64),
                )
                restored = saved.apply(runtime)
            fresh = [a for a in agents if a.agent_id not in saved.slot_of]
        else:
            fresh = list(agents)
        if fresh:
            runtime.add_agents([a.agent_id for a in fresh], [a.blueprint for a in fresh])
        self.set_running([a.agent_id for a in agents if a.running], True)
        self._publish([world_id])
        return restored


def encode_checkpoint(world_snapshot: Mapping[str, Any], view: WorldView) -> memoryview:
    """Serialise a world snapshot and every agent's state (:mod:`.array_pack`; exact, no pickling)."""
    arrays: dict[str, np.ndarray] = {}
    world_rest = dict(world_snapshot)
    rng_states = world_rest.pop(POPULATION_RNG, {})
    populations = []
    for index, population in enumerate(view.populations):
        populations.append({"key": population.key, "rng": plain(rng_states.get(population.key))})
        arrays[f"p{index}/agent_ids"] = population.agent_id_bytes
        arrays[f"p{index}/slots"] = population.slots
        arrays[f"p{index}/ticks"] = population.ticks
        arrays[f"p{index}/last_action"] = population.last_action
        arrays[f"p{index}/vfe"] = population.vfe
        for name, array in state_ops.row_arrays(population.state).items():
            arrays[f"p{index}/state/{name}"] = array
    meta = {"format": CHECKPOINT_FORMAT, "tick": view.tick, "populations": populations}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    # Per-agent world state goes in as arrays; the rest of the snapshot (a few numbers) as JSON.
    world_agents = dict(world_rest.pop("agents", {}))
    for name, values in world_agents.items():
        arrays[f"world_agents/{name}"] = np.asarray(values)
    arrays["world"] = np.frombuffer(json.dumps(plain(world_rest)).encode(), dtype=np.uint8)
    return pack_arrays(arrays)


@dataclass(frozen=True)
class DecodedCheckpoint:
    tick: int
    world_snapshot: dict[str, Any]
    slot_of: dict[uuid.UUID, int]
    location: dict[uuid.UUID, tuple[int, int]]
    arrays: dict[str, np.ndarray]
    #: Each population's random stream by population key (absent in checkpoints written before it was kept).
    rng_states: dict[str, dict[str, Any]] = field(default_factory=dict)

    def agent_arrays(self, agent_id: uuid.UUID) -> dict[str, np.ndarray] | None:
        """One agent's saved rows by name (``qs.0``, ``q_pi``, ``ticks``, ...)."""
        found = self.location.get(agent_id)
        if found is None:
            return None
        population, row = found
        prefix = f"p{population}/"
        out = {}
        for name, array in self.arrays.items():
            if name.startswith(prefix):
                out[name[len(prefix) :].removeprefix("state/")] = array[row]
        return out

    def apply(self, runtime: WorldRuntime) -> int:
        """Write saved rows and random streams into the rebuilt populations of ``runtime``; returns the
        agents restored."""
        restored = 0
        for population in runtime.populations.values():
            rng_state = self.rng_states.get(population.key)
            if rng_state is not None:
                try:
                    population.rng.bit_generator.state = rng_state
                except (TypeError, ValueError, KeyError, OverflowError):
                    # damaged, or another kind of generator wrote it: the population keeps its fresh
                    # seeded stream and every restored agent keeps its state
                    logger.warning("checkpoint_rng_state_ignored", extra={"population": population.key})
            by_saved: dict[int, tuple[list[int], list[int]]] = {}
            for row, agent_id in enumerate(population.agent_ids):
                found = self.location.get(agent_id)
                if found is not None:
                    rows, saved_rows = by_saved.setdefault(found[0], ([], []))
                    rows.append(row)
                    saved_rows.append(found[1])
            for saved_population, (rows, saved_rows) in by_saved.items():
                target = np.asarray(rows, dtype=np.intp)
                source = np.asarray(saved_rows, dtype=np.intp)
                prefix = f"p{saved_population}/"
                state_arrays = {
                    name[len(prefix) + len("state/") :]: array[source]
                    for name, array in self.arrays.items()
                    if name.startswith(prefix + "state/")
                }
                population.state = state_ops.with_rows(population.state, target, state_arrays)
                population.ticks[target] = self.arrays[prefix + "ticks"][source]
                population.last_action[target] = self.arrays[prefix + "last_action"][source]
                population.vfe[target] = self.arrays[prefix + "vfe"][source]
                restored += len(rows)
        return restored


def decode_checkpoint(payload: bytes | memoryview) -> DecodedCheckpoint:
    if is_packed(payload):
        arrays = unpack_arrays(payload)
    else:  # written before the packed layout: NumPy .npz
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    if meta.get("format") not in (CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_V1):
        raise ValueError(f"unknown checkpoint format {meta.get('format')!r}")
    world_snapshot = json.loads(arrays.pop("world").tobytes())
    world_agents = {
        name.removeprefix("world_agents/"): arrays.pop(name)
        for name in list(arrays)
        if name.startswith("world_agents/")
    }
    if world_agents:
        world_snapshot["agents"] = world_agents
    slot_of: dict[uuid.UUID, int] = {}
    location: dict[uuid.UUID, tuple[int, int]] = {}
    for index, population in enumerate(meta["populations"]):
        slots = arrays[f"p{index}/slots"]
        if "agent_ids" in population:
            ids = [uuid.UUID(hex=hex_id) for hex_id in population["agent_ids"]]
        else:
            raw = arrays.pop(f"p{index}/agent_ids")
            ids = [uuid.UUID(bytes=raw[row].tobytes()) for row in range(len(raw))]
        for row, agent_id in enumerate(ids):
            slot_of[agent_id] = int(slots[row])
            location[agent_id] = (index, row)
    rng_states = {p["key"]: p["rng"] for p in meta["populations"] if isinstance(p.get("rng"), dict)}
    return DecodedCheckpoint(int(meta["tick"]), world_snapshot, slot_of, location, arrays, rng_states)
