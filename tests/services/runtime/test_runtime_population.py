"""Population: batched state of one model's agents; rows, running mask, learning and preferences."""

from __future__ import annotations

import numpy as np
import pytest
from tests.services.runtime.runtime_helpers import collectors, explorers, new_ids, runtime_with, small_spec

from freeagentics.domain.world import GridWorld
from freeagentics.services.runtime.catalog import blueprint
from freeagentics.services.runtime.world_runtime import WorldRuntime, engine_config_for


def _world_with(count: int, **parameters: object) -> tuple[WorldRuntime, list]:
    spec = small_spec()
    world = WorldRuntime(new_ids(1)[0], spec, seed=5)
    ids = new_ids(count)
    world.add_agents(ids, explorers(spec, count, **parameters))
    return world, ids


def test_rows_stay_aligned_when_agents_leave_from_the_middle() -> None:
    world, ids = _world_with(6)
    [population] = world.populations.values()
    population.set_running(ids, True)
    for _ in range(2):
        world.tick()
    before = {
        a: (int(population.slots[population.row_of[a]]), population.state.qs[0][population.row_of[a]].copy())
        for a in ids
    }
    freed = population.remove([ids[1], ids[4]])
    assert sorted(freed.tolist()) == sorted([before[ids[1]][0], before[ids[4]][0]])
    assert population.size == 4
    assert population.state.num_agents == 4
    for agent in (ids[0], ids[2], ids[3], ids[5]):
        row = population.row_of[agent]
        assert population.agent_ids[row] == agent
        assert int(population.slots[row]) == before[agent][0]
        np.testing.assert_array_equal(population.state.qs[0][row], before[agent][1])
    assert all(len(a) == 4 for a in (population.slots, population.running, population.ticks, population.vfe))


def test_step_makes_one_engine_call_for_the_running_rows_only() -> None:
    world, ids = _world_with(5)
    [population] = world.populations.values()
    population.set_running(ids[:3], True)
    slots, actions = population.step(world.observations)
    assert population.engine_calls == 1
    assert slots.shape == actions.shape == (3,)
    assert population.ticks.tolist() == [1, 1, 1, 0, 0]
    assert (population.last_action[3:] == -1).all()
    population.set_running(ids, False)
    slots, actions = population.step(world.observations)
    assert slots.size == 0
    assert population.engine_calls == 1, "no engine call without running agents"


def test_collector_actions_are_sampled_as_whole_policies_so_its_factors_never_split() -> None:
    spec = small_spec()
    ids = new_ids(40)
    bps = collectors(spec, 40, action_selection="stochastic")
    assert engine_config_for(bps[0]).sampling_mode == "full"
    runtime, world = runtime_with(spec, [(ids, bps)])
    for _ in range(6):
        runtime.tick()
        view = runtime.view(world)
        assert view is not None
        action = view.populations[0].state.action
        np.testing.assert_array_equal(action[:, 0], action[:, 1])


def test_learn_b_is_on_when_the_template_asks_for_it_and_the_counts_move() -> None:
    spec = small_spec()
    learner = blueprint("grid_explorer", {"seed": 1, "learn_B": True}, spec)
    fixed = blueprint("grid_explorer", {"seed": 1}, spec)
    assert engine_config_for(learner).learn_B
    assert not engine_config_for(fixed).learn_B
    ids = new_ids(4)
    runtime, world = runtime_with(spec, [(ids, [learner] * 4)])
    view = runtime.view(world)
    assert view is not None
    assert view.populations[0].state.pB is not None
    initial = view.populations[0].state.pB[0].copy()
    for _ in range(3):
        runtime.tick()
    view = runtime.view(world)
    assert view is not None
    learned = view.populations[0].state.pB
    assert learned is not None
    assert learned[0] is not None
    assert learned[0].sum() > initial.sum(), "three steps of B learning add counts"


@pytest.mark.parametrize("first_has_preferences", [True, False])
def test_agents_with_preferences_can_found_or_join_a_population(first_has_preferences: bool) -> None:
    spec = small_spec()
    cells = spec.height * spec.width
    custom = {"location": [float(-i) for i in range(cells)]}
    with_prefs = blueprint("grid_explorer", {"seed": 3, "preferences": custom}, spec)
    plain = blueprint("grid_explorer", {"seed": 4}, spec)
    order = [with_prefs, plain] if first_has_preferences else [plain, with_prefs]
    world = WorldRuntime(new_ids(1)[0], spec, seed=1)
    ids = new_ids(2)
    world.add_agents(ids[:1], order[:1])
    world.add_agents(ids[1:], order[1:])
    [population] = world.populations.values()
    assert population.state.C is not None
    assert population.state.C[0] is not None
    assert population.state.C[0].shape == (2, cells)
    custom_row = population.row_of[ids[0] if first_has_preferences else ids[1]]
    np.testing.assert_array_equal(population.state.C[0][custom_row], np.float32(custom["location"]))
    population.set_running(ids, True)
    world.tick()
    assert population.ticks.tolist() == [1, 1]


def test_world_slots_of_a_runtime_match_the_grid_world() -> None:
    world, ids = _world_with(4)
    grid: GridWorld = world.world
    [population] = world.populations.values()
    assert sorted(population.slots.tolist()) == grid.active_slots().tolist()
    world.remove_agents(ids[:2])
    assert grid.num_agents == 2
    assert sorted(population.slots.tolist()) == grid.active_slots().tolist()
