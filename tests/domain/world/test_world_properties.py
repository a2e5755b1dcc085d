"""Hypothesis properties of the grid world over random specs, populations and action sequences.

- agents never stand on a wall or off the grid;
- moves agree with a plain per-agent reference implementation;
- resources are conserved: left + carried + deposited = initial, whatever agents do or however they come
  and go;
- the same seed and actions give the same trajectory;
- snapshot -> restore -> continue gives the same trajectory as continuing.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from freeagentics.domain.conventions import MOVE_DELTAS, CollectorAction, Move
from freeagentics.domain.world import GridWorld, GridWorldSpec, ResourcePile, StepResult

NUM_ACTIONS = len(CollectorAction)


@st.composite
def world_specs(draw: st.DrawFn) -> GridWorldSpec:
    height = draw(st.integers(1, 6))
    width = draw(st.integers(1, 6))
    cells = [(row, col) for row in range(height) for col in range(width)]
    kinds = draw(
        st.lists(
            st.sampled_from(["open", "open", "wall", "resource", "goal"]),
            min_size=len(cells),
            max_size=len(cells),
        )
    )
    if all(kind == "wall" for kind in kinds):
        kinds[0] = "open"
    walls = tuple(cell for cell, kind in zip(cells, kinds, strict=True) if kind == "wall")
    goals = tuple(cell for cell, kind in zip(cells, kinds, strict=True) if kind == "goal")
    resources = tuple(
        ResourcePile(cell=cell, amount=draw(st.integers(1, 4)))
        for cell, kind in zip(cells, kinds, strict=True)
        if kind == "resource"
    )
    return GridWorldSpec(height=height, width=width, walls=walls, resources=resources, goals=goals)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[GridWorldSpec, int, int, list[tuple[str, int]]]:
    """A spec, a seed, a starting population and a script of steps and population changes."""
    spec = draw(world_specs())
    seed = draw(st.integers(0, 2**32 - 1))
    num_agents = draw(st.integers(0, 12))
    script = draw(
        st.lists(
            st.tuples(st.sampled_from(["step", "step", "step", "add", "remove"]), st.integers(0, 2**31)),
            max_size=25,
        )
    )
    return spec, seed, num_agents, script


def play(world: GridWorld, script: list[tuple[str, int]]) -> list[StepResult]:
    """Run the script; every choice comes from the script's own integers so replays are identical."""
    results = []
    for command, value in script:
        choices = np.random.default_rng(value)
        if command == "step":
            results.append(world.step(choices.integers(0, NUM_ACTIONS, size=world.capacity)))
        elif command == "add":
            world.add_agents(count=int(choices.integers(1, 4)))
        elif world.num_agents:
            slots = world.active_slots()
            world.remove_agents(choices.choice(slots, size=min(2, slots.size), replace=False))
    return results


def assert_invariants(world: GridWorld) -> None:
    spec = world.spec
    positions = world.positions()[world.active_slots()]
    assert ((positions >= 0) & (positions < [spec.height, spec.width])).all()
    walls = set(spec.walls)
    assert not any(tuple(cell) in walls for cell in positions.tolist())
    carrying = world.carrying()
    assert not carrying[~world.active].any()
    total = int(world.resources_left().sum()) + int(carrying.sum()) + world.total_deposited
    assert total == spec.total_resources
    assert (world.resources_left() >= 0).all()


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_agents_stay_on_open_cells_and_resources_are_conserved(
    scenario: tuple[GridWorldSpec, int, int, list[tuple[str, int]]],
) -> None:
    spec, seed, num_agents, script = scenario
    world = GridWorld(spec)
    world.reset(seed, num_agents=num_agents)
    assert_invariants(world)
    for step in script:
        play(world, [step])
        assert_invariants(world)


@settings(max_examples=100, deadline=None)
@given(world_specs(), st.integers(0, 2**32 - 1), st.data())
def test_moves_agree_with_a_per_agent_reference(spec: GridWorldSpec, seed: int, data: st.DataObject) -> None:
    world = GridWorld(spec)
    world.reset(seed, num_agents=data.draw(st.integers(1, 10)))
    walls = set(spec.walls)
    for _ in range(5):
        moves = np.array(
            data.draw(st.lists(st.sampled_from(list(Move)), min_size=world.capacity, max_size=world.capacity))
        )
        before = world.positions().tolist()
        result = world.step(moves)
        expected, bumped = [], []
        for slot, ((row, col), move) in enumerate(zip(before, moves, strict=True)):
            d_row, d_col = MOVE_DELTAS[move]
            target = (row + d_row, col + d_col)
            if 0 <= target[0] < spec.height and 0 <= target[1] < spec.width and target not in walls:
                expected.append(list(target))
            else:
                expected.append([row, col])
                bumped.append(slot)
        assert world.positions().tolist() == expected
        assert result.events.bumped.tolist() == bumped


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_the_same_seed_and_actions_give_the_same_trajectory(
    scenario: tuple[GridWorldSpec, int, int, list[tuple[str, int]]],
) -> None:
    spec, seed, num_agents, script = scenario
    runs = []
    for _ in range(2):
        world = GridWorld(spec)
        world.reset(seed, num_agents=num_agents)
        results = play(world, script)
        runs.append(([r.events.as_records() for r in results], world.snapshot()))
    assert runs[0] == runs[1]


@settings(max_examples=60, deadline=None)
@given(scenarios(), scenarios())
def test_snapshot_restore_round_trip_continues_identically(
    first: tuple[GridWorldSpec, int, int, list[tuple[str, int]]],
    second: tuple[GridWorldSpec, int, int, list[tuple[str, int]]],
) -> None:
    spec, seed, num_agents, script = first
    continuation = second[3]
    world = GridWorld(spec)
    world.reset(seed, num_agents=num_agents)
    play(world, script)
    snapshot = json.loads(json.dumps(world.snapshot()))
    restored = GridWorld.from_snapshot(snapshot)
    assert restored.snapshot() == world.snapshot()
    original_events = [r.events.as_records() for r in play(world, continuation)]
    restored_events = [r.events.as_records() for r in play(restored, continuation)]
    assert restored_events == original_events
    assert restored.snapshot() == world.snapshot()
