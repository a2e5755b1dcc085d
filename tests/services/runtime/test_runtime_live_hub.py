"""LiveHub: members messages whenever membership changes, bounded queues, throttling."""

from __future__ import annotations

import json
import uuid

import pytest
from tests.services.runtime.runtime_helpers import explorers, new_ids, runtime_with, small_spec

from freeagentics.services.live import QUEUE_LIMIT, LiveHub, Subscription


def _drain(subscription: Subscription) -> list[dict[str, object]]:
    messages = []
    while not subscription.queue.empty():
        messages.append(json.loads(subscription.queue.get_nowait()))
    return messages


def test_members_then_ticks_and_new_members_after_a_change() -> None:
    spec = small_spec()
    ids = new_ids(3)
    runtime, world = runtime_with(spec, [(ids, explorers(spec, 3))])
    hub = LiveHub()
    subscription = Subscription(world_id=world, max_hz=1e9)
    hub.subscribe(subscription)
    hub.publish(runtime.tick(), runtime)
    first = _drain(subscription)
    assert [m["type"] for m in first] == ["members", "tick"]
    assert sorted(first[0]["agent_ids"]) == sorted(str(a) for a in ids)  # type: ignore[arg-type]
    hub.publish(runtime.tick(), runtime)
    assert [m["type"] for m in _drain(subscription)] == ["tick"]
    more = new_ids(2)
    runtime.submit(lambda: runtime.add_agents(world, more, explorers(spec, 2), running=True))
    hub.publish(runtime.tick(), runtime)
    changed = _drain(subscription)
    assert [m["type"] for m in changed] == ["members", "tick"]
    assert len(changed[0]["agent_ids"]) == 5  # type: ignore[arg-type]
    assert len(changed[1]["rows"]) == 5  # type: ignore[arg-type]


def test_a_membership_change_is_announced_even_when_the_new_index_reuses_the_old_address() -> None:
    # The hub once compared id() of the membership index; CPython reuses a freed dict's address, so a
    # change could go unannounced and clients would read positions against the wrong agent ids.
    spec = small_spec(7, 7)
    runtime, world = runtime_with(spec, [(new_ids(2), explorers(spec, 2))])
    hub = LiveHub()
    subscription = Subscription(world_id=world, max_hz=1e9)
    hub.subscribe(subscription)
    hub.publish(runtime.tick(), runtime)
    _drain(subscription)
    view = runtime.view(world)
    assert view is not None
    announced_address = id(view.population_of)
    del view
    size = 2
    one_more = explorers(spec, 1)
    for _ in range(300):
        runtime.submit(lambda: runtime.add_agents(world, new_ids(1), one_more, running=True))
        runtime.apply_pending()
        size += 1
        current = runtime.view(world)
        assert current is not None
        if id(current.population_of) == announced_address:
            break
    hub.publish(runtime.tick(), runtime)
    messages = _drain(subscription)
    assert messages[0]["type"] == "members"
    assert len(messages[0]["agent_ids"]) == size  # type: ignore[arg-type]


def test_a_subscriber_that_never_reads_is_marked_slow_and_its_queue_stays_bounded() -> None:
    spec = small_spec()
    runtime, world = runtime_with(spec, [(new_ids(4), explorers(spec, 4))])
    hub = LiveHub()
    stuck = Subscription(world_id=world, max_hz=1e9)
    hub.subscribe(stuck)
    for _ in range(QUEUE_LIMIT * 3):
        hub.publish(runtime.tick(), runtime)
        assert stuck.queue.qsize() <= QUEUE_LIMIT
    assert stuck.slow.is_set()
    assert stuck.dropped_messages > 0


def test_subscribers_of_other_worlds_get_nothing_and_max_hz_throttles() -> None:
    spec = small_spec()
    runtime, world = runtime_with(spec, [(new_ids(2), explorers(spec, 2))])
    hub = LiveHub()
    elsewhere = Subscription(world_id=uuid.uuid4(), max_hz=1e9)
    slow_rate = Subscription(world_id=world, max_hz=0.001)
    hub.subscribe(elsewhere)
    hub.subscribe(slow_rate)
    for _ in range(5):
        hub.publish(runtime.tick(), runtime)
    assert elsewhere.queue.empty()
    assert [m["type"] for m in _drain(slow_rate)] == ["members", "tick"], "one update per 1000 s at most"


def test_the_first_update_goes_out_however_early_the_monotonic_clock_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # time.monotonic() counts from boot on Linux: on a machine up for less than 1 / max_hz seconds, a
    # subscription that had "last sent at 0" never got its first update.
    import freeagentics.services.live as live

    spec = small_spec()
    runtime, world = runtime_with(spec, [(new_ids(2), explorers(spec, 2))])
    monkeypatch.setattr(live.time, "monotonic", lambda: 5.0)
    hub = LiveHub()
    slow_rate = Subscription(world_id=world, max_hz=0.001)
    hub.subscribe(slow_rate)
    hub.publish(runtime.tick(), runtime)
    assert [m["type"] for m in _drain(slow_rate)] == ["members", "tick"]
