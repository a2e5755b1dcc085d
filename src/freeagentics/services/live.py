"""Live world updates for WebSocket clients, with a bounded buffer per client.

After every tick the runtime owner calls :meth:`LiveHub.publish`. For each world somebody watches, one
message is built (positions of every agent as flat integer lists, in the order of the last ``members``
message) and offered to each subscriber's queue. A subscriber whose queue is full — a client that does
not read — is marked slow and its socket is closed by its sender task; nothing is ever buffered without
bound. Clients get at most ``max_hz`` messages a second (the tick rate by default).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from freeagentics.services.runtime.core import AgentRuntime, TickReport
from freeagentics.services.runtime.world_runtime import WorldView

QUEUE_LIMIT = 8


@dataclass(eq=False)
class Subscription:
    world_id: uuid.UUID
    max_hz: float
    agent_ids: frozenset[uuid.UUID] | None = None
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=QUEUE_LIMIT))
    slow: asyncio.Event = field(default_factory=asyncio.Event)
    last_sent: float = float("-inf")  # never sent: the first message goes out whatever the clock reads
    members_version: int = -1
    dropped_messages: int = 0


class LiveHub:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._members_version: dict[uuid.UUID, tuple[dict[uuid.UUID, int], int]] = {}

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, subscription: Subscription) -> None:
        self._subscriptions.add(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def _offer(self, subscription: Subscription, message: str) -> None:
        try:
            subscription.queue.put_nowait(message)
        except asyncio.QueueFull:
            subscription.dropped_messages += 1
            subscription.slow.set()

    def broadcast(self, world_id: uuid.UUID, message: dict[str, Any]) -> None:
        """An event (e.g. a coalition change) to every subscriber of ``world_id``."""
        text = json.dumps(message)
        for subscription in list(self._subscriptions):
            if subscription.world_id == world_id:
                self._offer(subscription, text)

    def publish(self, report: TickReport, runtime: AgentRuntime) -> None:
        """Called on the event loop after each tick."""
        for gone in [w for w in self._members_version if runtime.view(w) is None]:
            del self._members_version[gone]  # it holds the deleted world's whole id index
        if not self._subscriptions:
            return
        now = time.monotonic()
        by_world: dict[uuid.UUID, list[Subscription]] = {}
        for subscription in self._subscriptions:
            if now - subscription.last_sent >= 1.0 / subscription.max_hz:
                by_world.setdefault(subscription.world_id, []).append(subscription)
        for world_id, subscriptions in by_world.items():
            view = runtime.view(world_id)
            if view is None:
                continue
            version = self._version(world_id, view)
            positions = _positions_message(view, report.events.get(world_id, ()))
            for subscription in subscriptions:
                if subscription.members_version != version:
                    self._offer(subscription, _members_message(view, version))
                    subscription.members_version = version
                if subscription.agent_ids is not None:
                    self._offer(subscription, _agents_message(view, subscription.agent_ids))
                else:
                    self._offer(subscription, positions)
                subscription.last_sent = now

    def _version(self, world_id: uuid.UUID, view: WorldView) -> int:
        # The id index object changes exactly when membership changes (it is rebuilt, never mutated). Hold
        # the object itself: comparing id()s failed once the old index was freed and a new one took its
        # address, and clients then read positions against the wrong agent ids.
        marker = view.population_of
        previous = self._members_version.get(world_id)
        if previous is None or previous[0] is not marker:
            number = 0 if previous is None else previous[1] + 1
            self._members_version[world_id] = (marker, number)
            return number
        return previous[1]


def _members_message(view: WorldView, version: int) -> str:
    ids: list[str] = []
    populations: list[int] = []
    templates = []
    for index, population in enumerate(view.populations):
        ids.extend(str(a) for a in population.agent_ids)
        populations.extend([index] * len(population.agent_ids))
        templates.append(population.template)
    return json.dumps(
        {
            "type": "members",
            "world_id": str(view.world_id),
            "version": version,
            "agent_ids": ids,
            "population": populations,
            "templates": templates,
        }
    )


def _positions_message(view: WorldView, events: tuple[dict[str, Any], ...]) -> str:
    slots = (
        np.concatenate([p.slots for p in view.populations])
        if view.populations
        else np.zeros(0, dtype=np.int64)
    )
    cells = view.positions[slots] if slots.size else np.zeros((0, 2), dtype=np.int64)
    running = (
        np.concatenate([p.running for p in view.populations]) if view.populations else np.zeros(0, dtype=bool)
    )
    return json.dumps(
        {
            "type": "tick",
            "world_id": str(view.world_id),
            "tick": view.tick,
            "rows": cells[:, 0].tolist(),
            "cols": cells[:, 1].tolist(),
            "running": running.astype(np.int8).tolist(),
            "carrying": view.carrying[slots].astype(np.int8).tolist() if slots.size else [],
            "resources_left": view.resources_left.tolist(),
            "events": list(events[:50]),
        }
    )


def _agents_message(view: WorldView, agent_ids: frozenset[uuid.UUID]) -> str:
    agents = []
    for agent_id in agent_ids:
        found = view.locate(agent_id)
        if found is None:
            continue
        population, row = found
        slot = int(population.slots[row])
        agents.append(
            {
                "id": str(agent_id),
                "row": int(view.positions[slot, 0]),
                "col": int(view.positions[slot, 1]),
                "ticks": int(population.ticks[row]),
                "last_action": int(population.last_action[row]),
                "free_energy": float(population.vfe[row]),
                "running": bool(population.running[row]),
            }
        )
    return json.dumps({"type": "agents", "world_id": str(view.world_id), "tick": view.tick, "agents": agents})
