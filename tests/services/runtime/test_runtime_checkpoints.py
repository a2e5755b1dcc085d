"""World checkpoints: exact encode/decode round trips and restores after agents came and went."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from tests.services.runtime.runtime_helpers import (
    agent_snapshot,
    assert_same_agent,
    collectors,
    explorers,
    new_ids,
    runtime_with,
    small_spec,
)

from freeagentics.services.runtime.array_pack import pack_arrays, unpack_arrays
from freeagentics.services.runtime.catalog import AgentBlueprint, blueprint
from freeagentics.services.runtime.core import (
    AgentRuntime,
    RestoredAgent,
    decode_checkpoint,
    encode_checkpoint,
)


def _ticked_runtime() -> tuple[AgentRuntime, uuid.UUID, list[uuid.UUID], list[AgentBlueprint]]:
    spec = small_spec(7, 7)
    cells = spec.height * spec.width
    ids = new_ids(10)
    blueprints = [
        *explorers(spec, 4, action_selection="stochastic"),
        *explorers(spec, 2, learn_B=True, action_selection="deterministic"),
        blueprint(
            "grid_explorer",
            {"seed": 9, "action_selection": "deterministic", "preferences": {"location": [0.5] * cells}},
            spec,
        ),
        *collectors(spec, 3, action_selection="stochastic"),
    ]
    runtime, world = runtime_with(spec, [(ids, blueprints)])
    for _ in range(6):
        runtime.tick()
    runtime.submit(lambda: runtime.set_running(ids[:2], False))
    runtime.tick()
    return runtime, world, ids, blueprints


def _checkpoint(runtime: AgentRuntime, world: uuid.UUID) -> bytes:
    snapshot, view = runtime.capture(world)
    return encode_checkpoint(snapshot, view)


def test_encode_decode_round_trip_is_exact() -> None:
    runtime, world, ids, _ = _ticked_runtime()
    payload = _checkpoint(runtime, world)
    decoded = decode_checkpoint(payload)
    view = runtime.view(world)
    assert view is not None
    assert decoded.tick == view.tick == 7
    assert set(decoded.slot_of) == set(ids)
    for agent in ids:
        saved = decoded.agent_arrays(agent)
        assert saved is not None
        live = agent_snapshot(view, agent)
        assert int(saved["ticks"]) == live["ticks"]
        assert int(saved["last_action"]) == live["last_action"]
        assert float(saved["vfe"]) == live["vfe"]
        for name, array in live["arrays"].items():
            np.testing.assert_array_equal(saved[name], array, err_msg=name)
            assert saved[name].dtype == array.dtype
    assert decoded.world_snapshot["tick"] == view.tick


def test_restore_gives_back_beliefs_counters_positions_and_learned_counts_exactly() -> None:
    runtime, world, ids, blueprints = _ticked_runtime()
    payload = _checkpoint(runtime, world)
    view = runtime.view(world)
    assert view is not None
    before = {agent: agent_snapshot(view, agent) for agent in ids}
    restored_runtime = AgentRuntime()
    agents = [RestoredAgent(a, bp, running=a not in ids[:2]) for a, bp in zip(ids, blueprints, strict=True)]
    restored = restored_runtime.restore_world(world, small_spec(7, 7), 3, agents, payload)
    assert restored == len(ids)
    after_view = restored_runtime.view(world)
    assert after_view is not None
    assert after_view.tick == view.tick
    for agent in ids:
        assert_same_agent(before[agent], agent_snapshot(after_view, agent))
    np.testing.assert_array_equal(after_view.resources_left, view.resources_left)


def _as_npz(payload: bytes | memoryview) -> bytes:
    """The same checkpoint as format 2 wrote it before the packed layout: a NumPy ``.npz``."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **unpack_arrays(payload))
    return buffer.getvalue()


def _as_format_1(payload: bytes | memoryview) -> bytes:
    """The same checkpoint as format 1 wrote it: agent ids and per-agent world state as JSON lists."""
    import io
    import json

    arrays = dict(unpack_arrays(payload))
    meta = json.loads(arrays.pop("meta").tobytes())
    world = json.loads(arrays.pop("world").tobytes())
    world["agents"] = {
        name.removeprefix("world_agents/"): arrays.pop(name).tolist()
        for name in list(arrays)
        if name.startswith("world_agents/")
    }
    for index, population in enumerate(meta["populations"]):
        raw = arrays.pop(f"p{index}/agent_ids")
        population["agent_ids"] = [uuid.UUID(bytes=row.tobytes()).hex for row in raw]
    meta["format"] = "freeagentics.world_checkpoint/1"
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    arrays["world"] = np.frombuffer(json.dumps(world).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("older", [_as_format_1, _as_npz], ids=["format-1", "format-2-npz"])
def test_a_checkpoint_written_in_an_older_layout_still_restores_exactly(older) -> None:
    runtime, world, ids, blueprints = _ticked_runtime()
    payload = older(_checkpoint(runtime, world))
    view = runtime.view(world)
    assert view is not None
    before = {agent: agent_snapshot(view, agent) for agent in ids}
    restored_runtime = AgentRuntime()
    agents = [RestoredAgent(a, bp, running=a not in ids[:2]) for a, bp in zip(ids, blueprints, strict=True)]
    assert restored_runtime.restore_world(world, small_spec(7, 7), 3, agents, payload) == len(ids)
    after_view = restored_runtime.view(world)
    assert after_view is not None
    for agent in ids:
        assert_same_agent(before[agent], agent_snapshot(after_view, agent))


@pytest.mark.parametrize("listed", ["in-creation-order", "reversed"])
def test_restored_runtime_continues_exactly_like_the_original(listed: str) -> None:
    runtime, world, ids, blueprints = _ticked_runtime()
    payload = _checkpoint(runtime, world)
    restored_runtime = AgentRuntime()
    agents = [RestoredAgent(a, bp, running=a not in ids[:2]) for a, bp in zip(ids, blueprints, strict=True)]
    if listed == "reversed":  # the database may list them in another order than they joined
        agents.reverse()
    restored_runtime.restore_world(world, small_spec(7, 7), 3, agents, payload)
    # Beliefs, learned counts, the world and every population's random stream (stochastic selection) are
    # held exactly, so stochastic agents draw the same actions as in the uninterrupted run.
    for _ in range(5):
        runtime.tick()
        restored_runtime.tick()
    original, again = runtime.view(world), restored_runtime.view(world)
    assert original is not None
    assert again is not None
    for agent in ids[2:]:
        left, right = agent_snapshot(original, agent), agent_snapshot(again, agent)
        assert left["ticks"] == right["ticks"] == 12
        assert_same_agent(left, right)


def _damage_streams(meta: dict) -> None:
    meta["populations"][0]["rng"]["state"]["state"] = -1
    meta["populations"][-1]["rng"] = {"bit_generator": "MT19937", "state": {}}


def _drop_streams(meta: dict) -> None:
    assert all("rng" in population for population in meta["populations"])
    for population in meta["populations"]:
        del population["rng"]


@pytest.mark.parametrize("edit", [_damage_streams, _drop_streams], ids=["damaged", "absent"])
def test_a_checkpoint_with_damaged_or_absent_random_streams_still_restores_and_runs(edit) -> None:
    runtime, world, ids, blueprints = _ticked_runtime()
    arrays = dict(unpack_arrays(_checkpoint(runtime, world)))
    meta = json.loads(arrays["meta"].tobytes())
    edit(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    restored_runtime = AgentRuntime()
    agents = [RestoredAgent(a, bp, running=True) for a, bp in zip(ids, blueprints, strict=True)]
    assert restored_runtime.restore_world(world, small_spec(7, 7), 3, agents, pack_arrays(arrays)) == len(ids)
    assert restored_runtime.tick().agent_steps == len(ids)


def test_restore_drops_agents_deleted_since_and_frees_their_slots() -> None:
    runtime, world, ids, blueprints = _ticked_runtime()
    payload = _checkpoint(runtime, world)
    view = runtime.view(world)
    assert view is not None
    before = {agent: agent_snapshot(view, agent) for agent in ids}
    kept = [i for i in range(len(ids)) if i not in (1, 5, 8)]
    agents = [RestoredAgent(ids[i], blueprints[i], running=True) for i in kept]
    restored_runtime = AgentRuntime()
    assert restored_runtime.restore_world(world, small_spec(7, 7), 3, agents, payload) == len(kept)
    restored_world = restored_runtime._worlds[world].world
    assert restored_world.num_agents == len(kept)
    again = restored_runtime.view(world)
    assert again is not None
    assert set(again.population_of) == {ids[i] for i in kept}
    for i in kept:
        snapshot = agent_snapshot(again, ids[i])
        expected = dict(before[ids[i]], running=True)
        assert_same_agent(expected, snapshot)
    report = restored_runtime.tick()
    assert report.agent_steps == len(kept)


def test_restore_starts_agents_created_since_from_their_priors() -> None:
    runtime, world, ids, blueprints = _ticked_runtime()
    payload = _checkpoint(runtime, world)
    spec = small_spec(7, 7)
    late_ids = new_ids(3)
    late = [*explorers(spec, 2, action_selection="stochastic"), *collectors(spec, 1)]
    agents = [RestoredAgent(a, bp, running=True) for a, bp in zip(ids, blueprints, strict=True)]
    agents += [RestoredAgent(a, bp, running=True) for a, bp in zip(late_ids, late, strict=True)]
    restored_runtime = AgentRuntime()
    assert restored_runtime.restore_world(world, spec, 3, agents, payload) == len(ids)
    view = restored_runtime.view(world)
    assert view is not None
    assert len(view.population_of) == len(ids) + 3
    assert restored_runtime._worlds[world].world.num_agents == len(ids) + 3
    fresh_runtime, fresh_world = runtime_with(spec, [(late_ids, late)])
    fresh_view = fresh_runtime.view(fresh_world)
    assert fresh_view is not None
    for agent in late_ids:
        restored_agent = agent_snapshot(view, agent)
        assert restored_agent["ticks"] == 0
        prior = agent_snapshot(fresh_view, agent)
        for name in ("qs.0", "q_pi"):
            np.testing.assert_array_equal(restored_agent["arrays"][name], prior["arrays"][name])
    occupied = sorted(int(p.slots[r]) for p in view.populations for r in range(len(p.agent_ids)))
    assert len(set(occupied)) == len(occupied), "no two agents share a slot"
    assert restored_runtime.tick().agent_steps == len(ids) + 3


def test_restore_without_a_checkpoint_builds_every_agent_from_its_priors() -> None:
    spec = small_spec()
    ids = new_ids(3)
    agents = [
        RestoredAgent(a, bp, running=i == 0)
        for i, (a, bp) in enumerate(zip(ids, explorers(spec, 3), strict=True))
    ]
    runtime = AgentRuntime()
    world = uuid.uuid4()
    assert runtime.restore_world(world, spec, 1, agents, None) == 0
    assert runtime.tick().agent_steps == 1


def test_a_payload_of_another_format_is_refused() -> None:
    runtime, world, _, _ = _ticked_runtime()
    arrays = dict(unpack_arrays(_checkpoint(runtime, world)))
    arrays["meta"] = np.frombuffer(b'{"format": "something/9"}', dtype=np.uint8)
    with pytest.raises(ValueError, match="unknown checkpoint format"):
        decode_checkpoint(pack_arrays(arrays))
