"""Runs the agent runtime of this process: owner election, the tick loop, reconciliation with the
database, checkpoints, and the measurements behind ``/api/v1/system/metrics``.

- **Owner.** Only the holder of the runtime lock (PostgreSQL advisory lock, or a file lock on the embedded
  default) steps agents. The others serve the API and poll the lock every ``lock_poll_seconds``; when the
  owner dies its lock is released by the database or the OS and a standby takes over.
- **Database first.** The API writes agent definitions and desired status to the database and commits;
  the owner applies what changed (:meth:`reconcile`), immediately when the change came through its own API
  (``sync_now``), else within ``sync_interval_seconds``.
- **Ticks** run on one dedicated thread at ``tick_rate_hz``; a tick that takes longer than its period
  delays the next one (never overlaps it) and counts as an overrun.
- **Checkpoints** every ``checkpoint_every_ticks`` and at shutdown: at most that many ticks of belief
  evolution are lost to a crash, never a definition or a committed API write.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from freeagentics.domain.engine.config import Accelerator
from freeagentics.domain.models import ModelValidationError
from freeagentics.domain.world import WorldValidationError, spec_from_mapping
from freeagentics.services.metrics_ports import RuntimeMetrics
from freeagentics.services.runtime.catalog import AgentBlueprint, blueprint, blueprint_from_spec
from freeagentics.services.runtime.core import AgentRuntime, RestoredAgent, TickReport, encode_checkpoint
from freeagentics.services.runtime.pools import InstrumentedPool, PoolStats
from freeagentics.services.runtime.records import AgentRecord, RuntimeLock, RuntimeStore, WorldRecord

logger = logging.getLogger(__name__)
agents_log = logging.getLogger("freeagentics.agents")

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class RuntimeOptions:
    tick_rate_hz: float = 10.0
    emergency_tick_rate_hz: float = 1.0
    checkpoint_every_ticks: int = 50
    emergency_mode: bool = False
    enabled: bool = True
    engine_workers: int = 2
    io_workers: int = 4
    engine_accelerator: Accelerator = "numpy"
    sync_interval_seconds: float = 1.0
    lock_poll_seconds: float = 1.0

    @property
    def period_seconds(self) -> float:
        rate = self.emergency_tick_rate_hz if self.emergency_mode else self.tick_rate_hz
        return 1.0 / rate


#: Longest interval between two reads of every agent id (deletions the row count cannot see).
FULL_CHECK_SECONDS = 30.0


@dataclass
class _Known:
    world_id: uuid.UUID
    status: str
    generation: int


@dataclass
class RuntimeStats:
    """Sliding one-minute windows of what the runtime did; read by the system-metrics endpoint."""

    steps: deque[tuple[float, int]] = field(default_factory=deque)
    tick_durations: deque[tuple[float, float]] = field(default_factory=deque)
    ticks: int = 0
    overruns: int = 0
    checkpoints: int = 0
    failed_ticks: int = 0
    failed_checkpoints: int = 0
    last_checkpoint_seconds: float | None = None

    def record(self, report: TickReport, overran: bool) -> None:
        now = time.monotonic()
        self.steps.append((now, report.agent_steps))
        self.tick_durations.append((now, report.duration_s))
        self.ticks += 1
        self.overruns += int(overran)
        cutoff = now - WINDOW_SECONDS
        while self.steps and self.steps[0][0] < cutoff:
            self.steps.popleft()
        while self.tick_durations and self.tick_durations[0][0] < cutoff:
            self.tick_durations.popleft()

    def processing_rate(self) -> float:
        """Agent-steps per second over the last minute (or since the first tick, if more recent)."""
        if len(self.steps) < 2:
            return 0.0
        span = self.steps[-1][0] - self.steps[0][0]
        total = sum(count for _, count in list(self.steps)[1:])
        return total / span if span > 0 else 0.0

    def tick_duration_percentiles(self) -> dict[str, float]:
        values = sorted(d for _, d in self.tick_durations)
        if not values:
            return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}

        def pick(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 3)

        return {
            "p50_ms": pick(0.5),
            "p95_ms": pick(0.95),
            "p99_ms": pick(0.99),
            "max_ms": round(values[-1] * 1000, 3),
        }


class RuntimeSupervisor:
    def __init__(
        self,
        store: RuntimeStore,
        lock: RuntimeLock,
        options: RuntimeOptions,
        metrics: RuntimeMetrics | None = None,
        on_tick: Callable[[TickReport, AgentRuntime], None] | None = None,
    ) -> None:
        self.options = options
        self.engine_pool = InstrumentedPool("engine", options.engine_workers)
        self.io_pool = InstrumentedPool("io", options.io_workers)
        self.tick_pool = InstrumentedPool("tick", 1)
        self.runtime = AgentRuntime(self.engine_pool, self.options.engine_accelerator)
        self.runtime.emergency = options.emergency_mode
        self.stats = RuntimeStats()
        self._store = store
        self._lock = lock
        self._metrics = metrics
        self._tick_listeners: list[Callable[[TickReport, AgentRuntime], None]] = [on_tick] if on_tick else []
        self._task: asyncio.Task[None] | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._sync_requested = asyncio.Event()
        self._sync_done: asyncio.Event = asyncio.Event()
        self._known: dict[uuid.UUID, _Known] = {}
        # Agents this runtime cannot run (no world, or a model that does not build); never reloaded for.
        self._ignored: set[uuid.UUID] = set()
        self._worlds: dict[uuid.UUID, WorldRecord] = {}
        self._last_sync: dt.datetime | None = None
        self._next_full_check = 0.0
        self._status_counted = False
        self.is_owner = False
        self.owner_since: float | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if not self.options.enabled:
            logger.info("runtime_disabled: this process serves the API only")
            return
        self._task = asyncio.create_task(self._run(), name="freeagentics-runtime")

    async def stop(self) -> None:
        """Stop ticking, write a final checkpoint of every world, release the lock."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        if self._checkpointing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointing
        if self.is_owner:
            await self.checkpoint_all()
            await self._lock.release()
            self.is_owner = False
        for pool in (self.tick_pool, self.engine_pool, self.io_pool):
            pool.shutdown()

    def add_tick_listener(self, listener: Callable[[TickReport, AgentRuntime], None]) -> None:
        """``listener(report, runtime)`` runs on the event loop after every tick."""
        self._tick_listeners.append(listener)

    def update_options(self, options: RuntimeOptions) -> None:
        """Config reload: new tick rate, checkpoint interval and emergency mode apply from the next tick."""
        self.options = options
        self.runtime.emergency = options.emergency_mode

    async def sync_now(self, wait_seconds: float = 10.0) -> bool:
        """Apply database changes to the runtime now (owner only); True when they were applied."""
        if not self.is_owner or self._task is None:
            return False
        done = asyncio.Event()
        self._sync_done = done
        self._sync_requested.set()
        try:
            await asyncio.wait_for(done.wait(), wait_seconds)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while not self._stopping.is_set():
            if not self.is_owner:
                try:
                    acquired = await self._lock.try_acquire()
                except Exception:
                    logger.exception("runtime_lock_error")
                    acquired = False
                if acquired:
                    try:
                        await self._become_owner()
                    except Exception:
                        logger.exception("runtime_start_failed")
                        await self._lock.release()
                        await self._sleep(self.options.lock_poll_seconds)
                    continue
                await self._sleep(self.options.lock_poll_seconds)
                continue
            await self._owner_loop()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _in_tick_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wrap_future(self.tick_pool.submit(fn, *args))

    async def _become_owner(self) -> None:
        started = time.perf_counter()
        worlds = await self._store.load_worlds()
        records = await self._store.load_agents()
        self.runtime = AgentRuntime(self.engine_pool, self.options.engine_accelerator)
        self.runtime.emergency = self.options.emergency_mode
        self._known.clear()
        self._ignored.clear()
        self._status_counted = False
        self._worlds = {w.id: w for w in worlds}
        restored_total = 0
        by_world: dict[uuid.UUID, list[AgentRecord]] = {}
        for record in records:
            if record.world_id is not None:
                by_world.setdefault(record.world_id, []).append(record)
        failed: list[uuid.UUID] = []
        for world in worlds:
            restored_agents = []
            for record in by_world.get(world.id, []):
                built = self._blueprint(record)
                if built is None:
                    failed.append(record.id)
                    self._ignored.add(record.id)
                    continue
                restored_agents.append(RestoredAgent(record.id, built, record.status == "running"))
                self._known[record.id] = _Known(world.id, record.status, record.generation)
            checkpoint = await self._store.load_checkpoint(world.id)
            spec = spec_from_mapping(world.spec)
            try:
                restored_total += await self._in_tick_thread(
                    self.runtime.restore_world, world.id, spec, world.seed, restored_agents, checkpoint
                )
            except Exception:
                if checkpoint is None:
                    raise
                # A checkpoint that cannot be read (another format, a damaged file) must not keep every
                # agent from running: they start again from their priors, and the log says so.
                logger.exception("checkpoint_unreadable", extra={"fields": {"world_id": str(world.id)}})
                agents_log.error(
                    f"checkpoint_unreadable world:{world.id}: its agents restart from their priors",
                    extra={"fields": {"world_id": str(world.id)}},
                )
                await self._in_tick_thread(
                    self.runtime.restore_world, world.id, spec, world.seed, restored_agents, None
                )
        if failed:
            await self._store.mark_error(failed, "model could not be rebuilt from its definition")
        gc.freeze()  # see reconcile: the restored agents are long-lived
        self._last_sync = dt.datetime.now(dt.UTC)
        self.is_owner = True
        self.owner_since = time.monotonic()
        logger.info(
            "runtime_owner_acquired",
            extra={
                "fields": {
                    "worlds": len(worlds),
                    "agents": len(self._known),
                    "restored_from_checkpoint": restored_total,
                    "seconds": round(time.perf_counter() - started, 3),
                }
            },
        )

    def _blueprint(self, record: AgentRecord) -> AgentBlueprint | None:
        world = self._worlds.get(record.world_id) if record.world_id else None
        if world is None:
            return None
        try:
            spec = spec_from_mapping(world.spec)
            if record.model_spec is not None:
                return blueprint_from_spec(record.model_spec, record.parameters, spec)
            return blueprint(record.template or "", record.parameters, spec)
        except (ModelValidationError, WorldValidationError) as exc:
            agents_log.error(
                f"agent_error agent_id:{record.id} model rebuild failed: {exc}",
                extra={"fields": {"agent_id": str(record.id)}},
            )
            return None

    # ------------------------------------------------------------------ owner loop

    async def _owner_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        last_sync = loop.time()
        last_lock_check = loop.time()
        while not self._stopping.is_set():
            if self._sync_requested.is_set() or loop.time() - last_sync >= self.options.sync_interval_seconds:
                self._sync_requested.clear()
                done = self._sync_done
                try:
                    await self.reconcile()
                except Exception:
                    logger.exception("runtime_sync_failed")
                last_sync = loop.time()
                done.set()
            if loop.time() - last_lock_check >= self.options.lock_poll_seconds:
                last_lock_check = loop.time()
                if not await self._lock.still_held():
                    logger.error("runtime_owner_lost: lock no longer held; stopping the runtime")
                    if self._checkpointing is not None:
                        self._checkpointing.cancel()  # the new owner writes the checkpoints now
                    self.is_owner = False
                    self.runtime = AgentRuntime(self.engine_pool, self.options.engine_accelerator)
                    return
            try:
                report: TickReport = await self._in_tick_thread(self.runtime.tick)
            except Exception:
                # Never let one bad tick end the loop: this process would keep the owner lock and step
                # nothing, and no standby could take over.
                logger.exception("runtime_tick_failed")
                self.stats.failed_ticks += 1
                await self._sleep(self.options.period_seconds)
                continue
            if report.failures:
                await self._record_failures(report)
            period = self.options.period_seconds
            overran = report.duration_s > period
            self.stats.record(report, overran)
            self._report_metrics(report, overran)
            for listener in self._tick_listeners:
                try:
                    listener(report, self.runtime)
                except Exception:
                    logger.exception("tick_listener_failed")
            if self.runtime.tick_count % self.options.checkpoint_every_ticks == 0:
                self._checkpoint_in_background()
            next_tick = max(next_tick + period, loop.time()) if overran else next_tick + period
            delay = next_tick - loop.time()
            if delay > 0:
                # Wake early for a sync request so API writes reach the runtime without waiting a tick.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait_for_wakeup(), delay)

    async def _record_failures(self, report: TickReport) -> None:
        """Agents of a population whose engine call raised were stopped by the runtime; show why."""
        for failure in report.failures:
            for agent_id in failure.agent_ids:
                known = self._known.get(agent_id)
                if known is not None:
                    known.status = "error"
                agents_log.error(
                    f"agent_error agent_id:{agent_id} step failed: {failure.message}",
                    extra={"fields": {"agent_id": str(agent_id)}},
                )
            try:
                await self._store.mark_error(list(failure.agent_ids), f"step failed: {failure.message}")
            except Exception:
                logger.exception("runtime_mark_error_failed")

    def _checkpoint_in_background(self) -> None:
        """Start a periodic checkpoint unless one is still being written.

        The capture runs on the tick thread between two ticks; encoding and the database write overlap the
        next ticks instead of delaying them, and a failed write (database busy or down) is logged and
        retried at the next interval instead of ending the owner loop.
        """
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        self._checkpointing = asyncio.create_task(self._checkpoint_logged(), name="freeagentics-checkpoint")

    async def _checkpoint_logged(self) -> None:
        try:
            await self.checkpoint_all()
        except Exception:
            self.stats.failed_checkpoints += 1
            logger.exception("checkpoint_failed")

    async def _wait_for_wakeup(self) -> None:
        stop = asyncio.ensure_future(self._stopping.wait())
        sync = asyncio.ensure_future(self._sync_requested.wait())
        try:
            await asyncio.wait({stop, sync}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            sync.cancel()

    def _report_metrics(self, report: TickReport, overran: bool) -> None:
        if self._metrics is None:
            return
        self._metrics.agent_steps(report.agent_steps)
        self._metrics.tick_completed(report.duration_s, overran)
        self._metrics.set_queue_length(self.runtime.queue_length)
        for pool in (self.engine_pool, self.io_pool):
            stats = pool.stats()
            self._metrics.set_thread_pool_utilization(pool.name, stats.active, stats.size)

    def pool_stats(self) -> list[PoolStats]:
        return [self.engine_pool.stats(), self.io_pool.stats(), self.tick_pool.stats()]

    # ------------------------------------------------------------------ reconciliation

    async def reconcile(self) -> None:
        """Bring the runtime in line with the database: new, changed, restarted and deleted agents."""
        since = self._last_sync - dt.timedelta(seconds=2) if self._last_sync else None
        now = dt.datetime.now(dt.UTC)
        changes = await self._store.changes_since(since)
        seen = {record.id for record in changes.changed}
        existing_ids: set[uuid.UUID] | None = None
        known_ids = self._known.keys()
        accounted = len(known_ids) + len(self._ignored - known_ids) + len(seen - known_ids - self._ignored)
        if changes.existing_count != accounted or time.monotonic() >= self._next_full_check:
            # Reading every id costs a row per agent, so it happens only when the count says something was
            # deleted (or committed late), and as a backstop every FULL_CHECK_SECONDS for a deletion and a
            # late commit that cancel out in the count.
            existing_ids = await self._store.existing_agent_ids()
            self._next_full_check = time.monotonic() + FULL_CHECK_SECONDS
            self._ignored &= existing_ids
            if any(a not in self._known and a not in self._ignored and a not in seen for a in existing_ids):
                # Rows are stamped before their transaction commits; a large batch can commit after the
                # window moved past its stamp. Such agents would never join, so read every row this once.
                changes = await self._store.changes_since(None)
        worlds = {w.id: w for w in await self._store.load_worlds()}
        for world_id, world in worlds.items():
            if world_id not in self._worlds:
                self._worlds[world_id] = world
                self.runtime.submit(
                    partial(self.runtime.add_world, world.id, spec_from_mapping(world.spec), world.seed)
                )
        removed_worlds = [w for w in self._worlds if w not in worlds]
        for world_id in removed_worlds:
            del self._worlds[world_id]
            self.runtime.submit(partial(self.runtime.remove_world, world_id))

        deleted = [] if existing_ids is None else [a for a in self._known if a not in existing_ids]
        for agent_id in deleted:
            del self._known[agent_id]
        if deleted:
            self.runtime.submit(partial(self.runtime.remove_agents, deleted))
            for agent_id in deleted:
                agents_log.info(
                    f"agent_removed agent_id:{agent_id}", extra={"fields": {"agent_id": str(agent_id)}}
                )

        new_by_world: dict[uuid.UUID, tuple[list[uuid.UUID], list[AgentBlueprint], list[bool]]] = {}
        start_ids: list[uuid.UUID] = []
        stop_ids: list[uuid.UUID] = []
        restart_ids: list[uuid.UUID] = []
        failed: list[uuid.UUID] = []
        for record in changes.changed:
            if record.world_id is None or record.world_id not in self._worlds:
                self._ignored.add(record.id)
                continue
            known = self._known.get(record.id)
            if known is None:
                built = self._blueprint(record)
                if built is None:
                    failed.append(record.id)
                    self._ignored.add(record.id)
                    continue
                ids, blueprints, running = new_by_world.setdefault(record.world_id, ([], [], []))
                ids.append(record.id)
                blueprints.append(built)
                running.append(record.status == "running")
                self._known[record.id] = _Known(record.world_id, record.status, record.generation)
                continue
            if record.generation > known.generation:
                restart_ids.append(record.id)
            if record.status != known.status:
                (start_ids if record.status == "running" else stop_ids).append(record.id)
            known.status = record.status
            known.generation = record.generation
        additions: list[tuple[list[uuid.UUID], Future[None]]] = []
        for world_id, (ids, blueprints, running) in new_by_world.items():
            additions.append(
                (ids, self.runtime.submit(partial(self.runtime.add_agents, world_id, ids, blueprints)))
            )
            started = [agent_id for agent_id, run in zip(ids, running, strict=True) if run]
            start_ids.extend(started)
        if restart_ids:
            self.runtime.submit(partial(self.runtime.restart, restart_ids))
        if start_ids:
            self.runtime.submit(partial(self.runtime.set_running, start_ids, True))
        if stop_ids:
            self.runtime.submit(partial(self.runtime.set_running, stop_ids, False))
        if failed:
            await self._store.mark_error(failed, "model could not be built from its definition")
        # Apply now, between ticks, so a caller of sync_now sees the result in the next view.
        await self._in_tick_thread(self.runtime.apply_pending)
        for ids, addition in additions:
            error = addition.exception() if addition.done() else None
            if error is None:
                continue
            # The agents never joined the world; an error status says so instead of a silent "running".
            for agent_id in ids:
                self._known[agent_id].status = "error"
            agents_log.error(
                f"agent_error agent_id:{ids[0]} could not join its world ({len(ids)} agents): {error}",
                extra={"fields": {"agent_id": str(ids[0])}},
            )
            await self._store.mark_error(ids, f"could not join its world: {error}"[:500])
        self._last_sync = now
        if additions:
            # Agents are long-lived: their definitions, ids and bookkeeping would otherwise be traversed by
            # every full garbage collection, a pause of tens of milliseconds per 10^4 agents that stops the
            # API and the tick alike. Frozen objects are left out of collections (they are still freed
            # normally by reference counting when agents are removed).
            gc.freeze()
        if self._metrics is not None and (changes.changed or deleted or not self._status_counted):
            # Counting walks every agent, so only after a reconciliation that changed something.
            counts: dict[str, int] = {}
            for entry in self._known.values():
                counts[entry.status] = counts.get(entry.status, 0) + 1
            self._status_counted = True
            self._metrics.set_agents_by_status(counts)

    # ------------------------------------------------------------------ checkpoints

    async def checkpoint_all(self) -> None:
        for world_id in list(self.runtime.world_ids):
            try:
                snapshot, view = await self._in_tick_thread(self.runtime.capture, world_id)
            except LookupError:
                continue
            payload = await asyncio.wrap_future(self.io_pool.submit(encode_checkpoint, snapshot, view))
            await self._store.save_checkpoint(world_id, view.tick, len(view.population_of), payload)
            self.stats.checkpoints += 1
            self.stats.last_checkpoint_seconds = time.time()
            agents_log.info(
                f"checkpoint world:{world_id} tick:{view.tick} agents:{len(view.population_of)}",
                extra={"fields": {"world_id": str(world_id), "bytes": len(payload)}},
            )
