"""RuntimeSupervisor with an in-memory store and lock: reconciliation, checkpoints, failures, ownership."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from tests.services.runtime.runtime_api_helpers import SMALL_WORLD, wait_for

from freeagentics.services.runtime import population as population_module
from freeagentics.services.runtime.core import decode_checkpoint
from freeagentics.services.runtime.records import AgentChanges, AgentRecord, WorldRecord
from freeagentics.services.runtime.supervisor import RuntimeOptions, RuntimeSupervisor


class MemoryStore:
    """The RuntimeStore port over dicts, with updated_at stamps like the SQL store."""

    def __init__(self) -> None:
        self.worlds: dict[uuid.UUID, WorldRecord] = {}
        self.agents: dict[uuid.UUID, AgentRecord] = {}
        self.checkpoints: dict[uuid.UUID, tuple[int, int, bytes]] = {}
        self.saved_ticks: list[int] = []

    async def load_worlds(self) -> list[WorldRecord]:
        return list(self.worlds.values())

    async def load_agents(self) -> list[AgentRecord]:
        return list(self.agents.values())

    async def changes_since(self, since: dt.datetime | None) -> AgentChanges:
        changed = [a for a in self.agents.values() if since is None or a.updated_at >= since]
        return AgentChanges(changed=changed, existing_count=len(self.agents))

    async def existing_agent_ids(self) -> set[uuid.UUID]:
        return set(self.agents)

    async def mark_error(self, agent_ids: list[uuid.UUID], message: str) -> None:
        for agent_id in agent_ids:
            if agent_id in self.agents:
                self.set(agent_id, status="error", last_error=message)

    async def load_checkpoint(self, world_id: uuid.UUID) -> bytes | None:
        saved = self.checkpoints.get(world_id)
        return None if saved is None else saved[2]

    async def save_checkpoint(
        self, world_id: uuid.UUID, tick: int, agent_count: int, payload: bytes | memoryview
    ) -> None:
        self.checkpoints[world_id] = (tick, agent_count, bytes(payload))
        self.saved_ticks.append(tick)

    # what the API would write
    def add_world(self) -> uuid.UUID:
        world = WorldRecord(uuid.uuid4(), None, "w", dict(SMALL_WORLD), 7, dt.datetime.now(dt.UTC))
        self.worlds[world.id] = world
        return world.id

    def add_agent(self, world_id: uuid.UUID, status: str = "running", **parameters: Any) -> uuid.UUID:
        now = dt.datetime.now(dt.UTC)
        record = AgentRecord(
            id=uuid.uuid4(),
            owner_id=None,
            world_id=world_id,
            name="a",
            template=parameters.pop("template", "grid_explorer"),
            model_spec=None,
            parameters=parameters,
            status=status,  # type: ignore[arg-type]
            generation=0,
            last_error=None,
            created_at=now,
            updated_at=now,
        )
        self.agents[record.id] = record
        return record.id

    def set(self, agent_id: uuid.UUID, **values: Any) -> None:
        self.agents[agent_id] = replace(self.agents[agent_id], updated_at=dt.datetime.now(dt.UTC), **values)


class MemoryLock:
    def __init__(self) -> None:
        self.held = False
        self.lost = False

    async def try_acquire(self) -> bool:
        if self.lost:
            return False
        self.held = True
        return True

    async def still_held(self) -> bool:
        return self.held and not self.lost

    async def release(self) -> None:
        self.held = False


OPTIONS = RuntimeOptions(
    tick_rate_hz=50.0, checkpoint_every_ticks=5, sync_interval_seconds=0.05, lock_poll_seconds=0.05
)


@pytest.fixture
async def running() -> AsyncIterator[tuple[RuntimeSupervisor, MemoryStore, MemoryLock]]:
    store, lock = MemoryStore(), MemoryLock()
    supervisor = RuntimeSupervisor(store, lock, OPTIONS)
    yield supervisor, store, lock
    await supervisor.stop()


def _ticks(supervisor: RuntimeSupervisor, agent_id: uuid.UUID) -> int | None:
    found = supervisor.runtime.locate(agent_id)
    if found is None:
        return None
    _, population, row = found
    return int(population.ticks[row])


async def _ticks_of(supervisor: RuntimeSupervisor, agent_id: uuid.UUID) -> int | None:
    return _ticks(supervisor, agent_id)


async def test_reconcile_applies_new_stopped_restarted_and_deleted_agents(
    running: tuple[RuntimeSupervisor, MemoryStore, MemoryLock],
) -> None:
    supervisor, store, _ = running
    world = store.add_world()
    first = store.add_agent(world, seed=1)
    await supervisor.start()
    await wait_for(lambda: _ticks_of(supervisor, first), lambda t: (t or 0) >= 3, what="first agent ticks")
    assert supervisor.is_owner

    second = store.add_agent(world, seed=2)
    assert await supervisor.sync_now()
    assert supervisor.runtime.locate(second) is not None

    store.set(first, status="stopped")
    assert await supervisor.sync_now()
    frozen = _ticks(supervisor, first)
    await wait_for(lambda: _ticks_of(supervisor, second), lambda t: (t or 0) >= 5, what="second agent ticks")
    assert _ticks(supervisor, first) == frozen

    store.set(first, status="running", generation=1)
    assert await supervisor.sync_now()
    assert (_ticks(supervisor, first) or 0) < (frozen or 0)

    del store.agents[second]
    assert await supervisor.sync_now()
    assert supervisor.runtime.locate(second) is None
    assert supervisor.runtime._worlds[world].world.num_agents == 1


async def test_checkpoints_every_k_ticks_and_at_shutdown(
    running: tuple[RuntimeSupervisor, MemoryStore, MemoryLock],
) -> None:
    supervisor, store, _ = running
    world = store.add_world()
    agents = [store.add_agent(world, seed=i) for i in range(3)]
    await supervisor.start()

    async def saved() -> list[int]:
        return list(store.saved_ticks)

    await wait_for(saved, lambda ticks: len(ticks) >= 2, what="two periodic checkpoints")
    periodic = list(store.saved_ticks)
    # One checkpoint per interval, captured at the first tick boundary after it (written in the background).
    intervals = [tick // OPTIONS.checkpoint_every_ticks for tick in periodic]
    assert intervals == sorted(set(intervals)), periodic
    assert all(tick >= OPTIONS.checkpoint_every_ticks for tick in periodic), periodic
    await supervisor.stop()
    assert len(store.saved_ticks) > len(periodic), "a final checkpoint at shutdown"
    tick, count, payload = store.checkpoints[world]
    assert count == 3
    decoded = decode_checkpoint(payload)
    assert decoded.tick == tick
    assert set(decoded.slot_of) == set(agents)
    assert not store.agents[agents[0]].last_error


async def test_a_new_owner_resumes_from_the_last_checkpoint(
    running: tuple[RuntimeSupervisor, MemoryStore, MemoryLock],
) -> None:
    supervisor, store, _ = running
    world = store.add_world()
    walker = store.add_agent(world, seed=1)
    idle = store.add_agent(world, seed=2)
    await supervisor.start()
    await wait_for(lambda: _ticks_of(supervisor, walker), lambda t: (t or 0) >= 4, what="ticks")
    store.set(idle, status="stopped")
    assert await supervisor.sync_now()
    await supervisor.stop()
    saved_tick = decode_checkpoint(store.checkpoints[world][2]).agent_arrays(walker)
    assert saved_tick is not None
    walker_ticks = int(saved_tick["ticks"])

    successor = RuntimeSupervisor(store, MemoryLock(), OPTIONS)
    await successor.start()
    try:
        await wait_for(lambda: _ticks_of(successor, walker), lambda t: (t or 0) > walker_ticks, what="resume")
        found = successor.runtime.locate(idle)
        assert found is not None
        _, population, row = found
        assert not population.running[row]
    finally:
        await successor.stop()


async def test_a_failing_population_is_marked_error_and_the_others_keep_ticking(
    running: tuple[RuntimeSupervisor, MemoryStore, MemoryLock], monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor, store, _ = running
    world = store.add_world()
    healthy = store.add_agent(world, seed=1)
    doomed = store.add_agent(world, template="resource_collector", seed=2)
    real_step = population_module.step

    def failing_step(model: Any, *args: Any, **kwargs: Any) -> Any:
        if model.num_factors == 2:  # the collector's model
            raise FloatingPointError("engine diverged")
        return real_step(model, *args, **kwargs)

    monkeypatch.setattr(population_module, "step", failing_step)
    await supervisor.start()
    await wait_for(
        lambda: _ticks_of(supervisor, healthy), lambda t: (t or 0) >= 10, what="healthy agent keeps ticking"
    )
    assert supervisor.is_owner

    async def doomed_record() -> AgentRecord:
        return store.agents[doomed]

    record = await wait_for(doomed_record, lambda r: r.status == "error", what="error status")
    assert record.last_error is not None
    assert "engine diverged" in record.last_error


async def test_losing_the_lock_stops_stepping(
    running: tuple[RuntimeSupervisor, MemoryStore, MemoryLock],
) -> None:
    supervisor, store, lock = running
    world = store.add_world()
    agent = store.add_agent(world, seed=1)
    await supervisor.start()
    await wait_for(lambda: _ticks_of(supervisor, agent), lambda t: (t or 0) >= 2, what="ticks")
    lock.lost = True

    async def owner() -> bool:
        return supervisor.is_owner

    await wait_for(owner, lambda is_owner: not is_owner, what="ownership to end")
    assert supervisor.runtime.locate(agent) is None


async def test_a_failing_checkpoint_write_does_not_stop_the_ticks(
    running: tuple[RuntimeSupervisor, MemoryStore, MemoryLock], monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor, store, _ = running
    world = store.add_world()
    agent = store.add_agent(world, seed=1)

    async def database_is_locked(*_: Any) -> None:
        raise OSError("database is locked")

    monkeypatch.setattr(store, "save_checkpoint", database_is_locked)
    await supervisor.start()
    await wait_for(
        lambda: _ticks_of(supervisor, agent),
        lambda t: (t or 0) >= 4 * OPTIONS.checkpoint_every_ticks,
        what="ticks past several checkpoint intervals",
    )
    assert supervisor.stats.failed_checkpoints >= 2
    assert supervisor.is_owner
    monkeypatch.undo()
    await supervisor.stop()
    assert world in store.checkpoints, "the final checkpoint is written once the database is back"


async def test_an_unreadable_checkpoint_restores_the_agents_from_their_priors(
    running: tuple[RuntimeSupervisor, MemoryStore, MemoryLock],
) -> None:
    supervisor, store, _ = running
    world = store.add_world()
    agent = store.add_agent(world, seed=1)
    store.checkpoints[world] = (50, 1, b"PK\x03\x04 truncated by a disk that filled up")
    await supervisor.start()
    await wait_for(
        lambda: _ticks_of(supervisor, agent), lambda t: (t or 0) >= 2, what="ticks from the priors"
    )
    assert supervisor.is_owner


async def test_agents_committed_late_by_a_long_transaction_still_join(
    running: tuple[RuntimeSupervisor, MemoryStore, MemoryLock],
) -> None:
    # A batch of thousands of agents is stamped when validated and committed seconds later; rows stamped
    # before the reconciliation window must not be missed for good.
    supervisor, store, _ = running
    world = store.add_world()
    first = store.add_agent(world, seed=1)
    await supervisor.start()
    await wait_for(lambda: _ticks_of(supervisor, first), lambda t: (t or 0) >= 1, what="first agent")
    late = store.add_agent(world, seed=2)
    store.agents[late] = replace(
        store.agents[late], updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    assert await supervisor.sync_now()
    await wait_for(lambda: _ticks_of(supervisor, late), lambda t: (t or 0) >= 1, what="the late agent to run")


async def test_a_deletion_and_a_late_commit_that_cancel_out_in_the_count_are_found_by_the_backstop(
    running: tuple[RuntimeSupervisor, MemoryStore, MemoryLock],
) -> None:
    # Reconciliation reads every agent id only when the row count disagrees with what it knows, and at the
    # latest every FULL_CHECK_SECONDS; here one agent is deleted while another commits with an old stamp,
    # so the count matches and only the periodic full read can see either change.
    supervisor, store, _ = running
    world = store.add_world()
    first = store.add_agent(world, seed=1)
    second = store.add_agent(world, seed=2)
    await supervisor.start()
    await wait_for(lambda: _ticks_of(supervisor, second), lambda t: (t or 0) >= 1, what="second agent")
    assert await supervisor.sync_now()
    supervisor._next_full_check = float("inf")  # not due during the first part
    del store.agents[first]
    late = store.add_agent(world, seed=3)
    store.agents[late] = replace(
        store.agents[late], updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    assert await supervisor.sync_now()
    assert supervisor.runtime.locate(first) is not None, "the count matched, so no full read yet"
    assert supervisor.runtime.locate(late) is None

    supervisor._next_full_check = 0.0  # the backstop is due
    assert await supervisor.sync_now()
    assert supervisor.runtime.locate(first) is None
    await wait_for(lambda: _ticks_of(supervisor, late), lambda t: (t or 0) >= 1, what="the late agent to run")
