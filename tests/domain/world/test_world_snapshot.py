"""Snapshots are plain JSON-ready data, restore continues exactly, and bad snapshots change nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

from freeagentics.domain.conventions import CollectorAction
from freeagentics.domain.world import GridWorld, WorldValidationError, spec_from_mapping

SPEC = spec_from_mapping(
    {
        "height": 5,
        "width": 5,
        "walls": [[2, 2]],
        "resources": [{"cell": [0, 0], "amount": 3}, {"cell": [4, 0], "amount": 2}],
        "goals": [[4, 4], [0, 4]],
    }
)


def played_world(seed: int = 5, steps: int = 30) -> GridWorld:
    world = GridWorld(SPEC)
    world.reset(seed, num_agents=12)
    actions = np.random.default_rng(seed)
    for _ in range(steps):
        world.step(actions.integers(0, len(CollectorAction), size=world.capacity))
    world.remove_agents([3])
    return world


def errors_of(world: GridWorld, snapshot: dict[str, Any]) -> list[tuple[tuple[object, ...], str]]:
    with pytest.raises(WorldValidationError) as raised:
        world.restore(snapshot)
    return [(e.loc, e.type) for e in raised.value.errors]


def test_snapshot_is_json_ready_and_describes_the_state() -> None:
    world = played_world()
    snapshot = world.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    agents = snapshot["agents"]
    assert agents["slots"] == world.active_slots().tolist()
    assert agents["positions"] == world.positions()[world.active_slots()].tolist()
    assert agents["carrying"] == world.carrying()[world.active_slots()].tolist()
    assert snapshot["resources_left"] == world.resources_left().tolist()
    assert snapshot["credits"] == {"deposited": world.deposited().tolist(), "total": world.total_deposited}
    assert snapshot["tick"] == 30
    assert snapshot["spec"] == SPEC.to_mapping()


def test_restore_continues_exactly_where_the_snapshot_was_taken() -> None:
    world = played_world()
    snapshot = json.loads(json.dumps(world.snapshot()))
    clone = GridWorld.from_snapshot(snapshot)
    assert clone.snapshot() == world.snapshot()
    actions = np.random.default_rng(99).integers(0, len(CollectorAction), size=(40, world.capacity))
    for row in actions:
        expected = world.step(row)
        got = clone.step(row)
        assert got.events.as_records() == expected.events.as_records()
        assert np.array_equal(got.observations.collector(), expected.observations.collector())
    assert clone.snapshot() == world.snapshot()
    assert np.array_equal(clone.add_agents(count=5), world.add_agents(count=5))
    assert np.array_equal(clone.positions(), world.positions())


def test_restore_into_an_existing_world_replaces_its_state() -> None:
    world = played_world(seed=1)
    other = played_world(seed=2, steps=3)
    other.restore(world.snapshot())
    assert other.snapshot() == world.snapshot()


def test_snapshot_before_reset_restores_an_unreset_world() -> None:
    snapshot = GridWorld(SPEC).snapshot()
    assert snapshot["rng"] is None
    restored = GridWorld.from_snapshot(snapshot)
    with pytest.raises(RuntimeError, match="reset"):
        restored.add_agents(count=1)


def test_the_spec_is_compared_by_meaning_not_by_spelling() -> None:
    world = played_world()
    snapshot = world.snapshot()
    del snapshot["spec"]["max_agents"]
    clone = GridWorld.from_snapshot(snapshot)
    assert clone.snapshot() == world.snapshot()


def test_a_snapshot_without_its_spec_restores_into_a_world_of_that_spec() -> None:
    world = played_world()
    light = world.snapshot(include_spec=False)
    assert "spec" not in light
    clone = GridWorld(SPEC)
    clone.restore(json.loads(json.dumps(light)))
    assert clone.snapshot() == world.snapshot()
    with pytest.raises(WorldValidationError):
        GridWorld.from_snapshot(light)


def test_a_snapshot_of_another_world_is_rejected() -> None:
    world = played_world()
    snapshot = world.snapshot()
    other = GridWorld(spec_from_mapping({"height": 5, "width": 5}))
    other.reset(0)
    assert errors_of(other, snapshot) == [(("spec",), "spec_mismatch")]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.update(format="other/9"), [(("format",), "invalid_value")]),
        (lambda s: s.update(tick=-1), [(("tick",), "type_error")]),
        (lambda s: s["agents"].update(slots="0,1"), [(("agents", "slots"), "type_error")]),
        (lambda s: s["agents"]["positions"].pop(), [(("agents", "positions"), "length_mismatch")]),
        (lambda s: s.update(resources_left=[1]), [(("resources_left",), "length_mismatch")]),
        (
            lambda s: s["agents"]["positions"].__setitem__(0, [2, 2]),
            [(("agents", "positions", 0), "conflict")],
        ),
        (
            lambda s: s["agents"]["positions"].__setitem__(1, [9, 0]),
            [(("agents", "positions", 1), "out_of_range")],
        ),
        (lambda s: s["credits"]["deposited"].__setitem__(0, 50), [(("resources_left",), "not_conserved")]),
        (
            lambda s: s["agents"]["carried_from"].__setitem__(0, 7),
            [(("agents", "carried_from"), "invalid_value")],
        ),
        (lambda s: s["agents"]["slots"].__setitem__(0, 10_000), [(("agents", "slots"), "invalid_value")]),
        (lambda s: s.update(rng={"bit_generator": "Evil"}), [(("rng",), "invalid_value")]),
        (lambda s: s.update(rng={"bit_generator": "PCG64", "state": 3}), [(("rng",), "invalid_value")]),
    ],
)
def test_bad_snapshots_are_rejected_with_the_field_and_change_nothing(edit: Any, expected: list[Any]) -> None:
    world = played_world()
    before = world.snapshot()
    snapshot = copy.deepcopy(before)
    edit(snapshot)
    assert errors_of(world, snapshot) == expected
    assert world.snapshot() == before


def test_from_snapshot_reports_spec_errors_under_spec() -> None:
    snapshot = played_world().snapshot()
    snapshot["spec"]["width"] = 0
    with pytest.raises(WorldValidationError) as raised:
        GridWorld.from_snapshot(snapshot)
    assert raised.value.errors[0].loc == ("spec", "width")
    with pytest.raises(WorldValidationError):
        GridWorld.from_snapshot({"tick": 1})


@pytest.mark.parametrize("bit_generator", ["PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"])
def test_every_numpy_bit_generator_survives_a_json_round_trip(bit_generator: str) -> None:
    world = GridWorld(SPEC)
    world.reset(np.random.Generator(getattr(np.random, bit_generator)(3)), num_agents=20)
    clone = GridWorld.from_snapshot(json.loads(json.dumps(world.snapshot())))
    assert np.array_equal(clone.add_agents(count=50), world.add_agents(count=50))
    assert np.array_equal(clone.positions(), world.positions())
