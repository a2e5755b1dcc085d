"""AgentRuntime: batched ticks, start/stop/restart, deletion, preferences, reproducibility."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from tests.services.runtime.runtime_helpers import (
    agent_row,
    beliefs_of,
    collectors,
    explorers,
    new_ids,
    runtime_with,
    small_spec,
)

from freeagentics.domain.engine import step as engine_step
from freeagentics.services.runtime import population as population_module
from freeagentics.services.runtime.catalog import blueprint
from freeagentics.services.runtime.core import AgentRuntime, UnknownWorldError


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every call of the engine's ``step`` made by a population, as the number of agents it stepped."""
    calls: list[int] = []

    def counting_step(*args: Any, **kwargs: Any) -> Any:
        state = args[2]
        calls.append(state.num_agents)
        return engine_step(*args, **kwargs)

    monkeypatch.setattr(population_module, "step", counting_step)
    return calls


@pytest.mark.parametrize("count", [1, 7, 60])
def test_one_engine_call_per_population_per_tick_whatever_the_agent_count(
    engine_calls: list[int], count: int
) -> None:
    spec = small_spec()
    runtime, _ = runtime_with(
        spec, [(new_ids(count), explorers(spec, count)), (new_ids(count), collectors(spec, count))]
    )
    for _ in range(3):
        engine_calls.clear()
        report = runtime.tick()
        assert report.engine_calls == 2
        assert sorted(engine_calls) == [count, count]
        assert report.agent_steps == 2 * count


def test_agents_with_other_model_parameters_form_their_own_population(engine_calls: list[int]) -> None:
    spec = small_spec()
    runtime, world = runtime_with(
        spec,
        [
            (new_ids(5), explorers(spec, 5)),
            (new_ids(4), explorers(spec, 4, goal=[0, 0])),
            (new_ids(3), explorers(spec, 3, action_selection="deterministic")),
        ],
    )
    report = runtime.tick()
    view = runtime.view(world)
    assert view is not None
    assert sorted(len(p.agent_ids) for p in view.populations) == [3, 4, 5]
    assert report.engine_calls == 3
    assert sorted(engine_calls) == [3, 4, 5]


def test_stopped_agents_are_not_stepped_and_keep_their_beliefs(engine_calls: list[int]) -> None:
    spec = small_spec()
    ids = new_ids(6)
    runtime, world = runtime_with(spec, [(ids, explorers(spec, 6))])
    for _ in range(3):
        runtime.tick()
    stopped = ids[:2]
    runtime.submit(lambda: runtime.set_running(stopped, False))
    runtime.apply_pending()
    view = runtime.view(world)
    assert view is not None
    frozen = {agent: beliefs_of(view, agent) for agent in stopped}
    frozen_positions = {
        agent: view.positions[agent_row(view, agent)[0].slots[agent_row(view, agent)[1]]].copy()
        for agent in stopped
    }
    engine_calls.clear()
    for _ in range(5):
        report = runtime.tick()
        assert report.agent_steps == 4
    assert engine_calls == [4] * 5
    view = runtime.view(world)
    assert view is not None
    for agent in stopped:
        population, row = agent_row(view, agent)
        assert population.ticks[row] == 3
        assert not population.running[row]
        for before, after in zip(frozen[agent], beliefs_of(view, agent), strict=True):
            np.testing.assert_array_equal(before, after)
        np.testing.assert_array_equal(view.positions[population.slots[row]], frozen_positions[agent])
    for agent in ids[2:]:
        population, row = agent_row(view, agent)
        assert population.ticks[row] == 8


def test_a_world_with_every_agent_stopped_makes_no_engine_call(engine_calls: list[int]) -> None:
    spec = small_spec()
    runtime, world = runtime_with(spec, [(new_ids(4), explorers(spec, 4))], running=False)
    report = runtime.tick()
    assert (report.engine_calls, report.agent_steps) == (0, 0)
    assert engine_calls == []
    view = runtime.view(world)
    assert view is not None
    assert view.tick == 0


def test_restart_resets_beliefs_to_priors_and_ticks_to_zero() -> None:
    spec = small_spec()
    ids = new_ids(5)
    runtime, world = runtime_with(spec, [(ids, explorers(spec, 5))])
    initial = runtime.view(world)
    assert initial is not None
    priors = {agent: beliefs_of(initial, agent) for agent in ids}
    for _ in range(4):
        runtime.tick()
    moved = runtime.view(world)
    assert moved is not None
    assert any(
        not np.array_equal(a, b)
        for agent in ids
        for a, b in zip(priors[agent], beliefs_of(moved, agent), strict=True)
    ), "ticking should have changed some beliefs"
    runtime.submit(lambda: runtime.restart(ids[:3]))
    runtime.apply_pending()
    view = runtime.view(world)
    assert view is not None
    for agent in ids[:3]:
        population, row = agent_row(view, agent)
        assert (int(population.ticks[row]), int(population.last_action[row])) == (0, -1)
        assert population.vfe[row] == 0.0
        assert (population.state.action[row] == -1).all()
        for prior, now in zip(priors[agent], beliefs_of(view, agent), strict=True):
            np.testing.assert_array_equal(prior, now)
        assert population.running[row], "a restart keeps the agent running"
    for agent in ids[3:]:
        population, row = agent_row(view, agent)
        assert population.ticks[row] == 4


def test_restart_keeps_learned_counts_and_preferences() -> None:
    spec = small_spec()
    ids = new_ids(3)
    bps = explorers(spec, 3, learn_B=True, preferences={"location": [float(i % 5) for i in range(36)]})
    runtime, world = runtime_with(spec, [(ids, bps)])
    for _ in range(4):
        runtime.tick()
    before = runtime.view(world)
    assert before is not None
    population, _ = agent_row(before, ids[0])
    assert population.state.pB is not None
    assert population.state.pB[0] is not None
    learned = population.state.pB[0].copy()
    preferences = population.state.C[0].copy() if population.state.C is not None else None
    runtime.submit(lambda: runtime.restart(ids))
    runtime.apply_pending()
    after = runtime.view(world)
    assert after is not None
    restarted, _ = agent_row(after, ids[0])
    assert restarted.state.pB is not None
    np.testing.assert_array_equal(restarted.state.pB[0], learned)
    assert preferences is not None
    assert restarted.state.C is not None
    np.testing.assert_array_equal(restarted.state.C[0], preferences)


def test_deleting_agents_frees_their_world_slots() -> None:
    spec = small_spec()
    ids = new_ids(6)
    runtime, world_id = runtime_with(spec, [(ids[:3], explorers(spec, 3)), (ids[3:], collectors(spec, 3))])
    runtime.tick()
    world = runtime._worlds[world_id].world
    assert world.num_agents == 6
    runtime.submit(lambda: runtime.remove_agents([ids[0], ids[4]]))
    runtime.apply_pending()
    assert world.num_agents == 4
    view = runtime.view(world_id)
    assert view is not None
    assert view.locate(ids[0]) is None
    assert view.locate(ids[4]) is None
    assert len(view.population_of) == 4
    occupied = {int(p.slots[r]) for p in view.populations for r in range(len(p.agent_ids))}
    assert occupied == set(world.active_slots().tolist())
    # Freed slots are reused: capacity does not grow when as many agents come back.
    capacity = world.capacity
    fresh = new_ids(2)
    runtime.submit(lambda: runtime.add_agents(world_id, fresh, explorers(spec, 2), running=True))
    runtime.tick()
    assert world.capacity == capacity
    assert world.num_agents == 6
    report = runtime.tick()
    assert report.agent_steps == 6


def test_deleting_every_agent_of_a_population_drops_the_population() -> None:
    spec = small_spec()
    ids = new_ids(4)
    runtime, world_id = runtime_with(spec, [(ids[:2], explorers(spec, 2)), (ids[2:], collectors(spec, 2))])
    runtime.submit(lambda: runtime.remove_agents(ids[2:]))
    report = runtime.tick()
    assert report.engine_calls == 1
    view = runtime.view(world_id)
    assert view is not None
    assert [p.template for p in view.populations] == ["grid_explorer"]


def test_per_agent_preferences_live_in_their_own_rows() -> None:
    spec = small_spec()
    cells = spec.height * spec.width
    likes_corner = [0.0] * cells
    likes_corner[0] = 8.0
    ids = new_ids(3)
    bps = [
        blueprint("grid_explorer", {"seed": 0}, spec),
        blueprint("grid_explorer", {"seed": 1, "preferences": {"location": likes_corner}}, spec),
        blueprint("grid_explorer", {"seed": 2}, spec),
    ]
    runtime, world = runtime_with(spec, [(ids, bps)])
    view = runtime.view(world)
    assert view is not None
    assert len(view.populations) == 1, "preferences are per agent, not a new population"
    population = view.populations[0]
    assert population.state.C is not None
    assert population.state.C[0] is not None
    model_c = np.asarray(population.model.C[0], dtype=np.float32)
    np.testing.assert_array_equal(population.state.C[0][population.row_of[ids[1]]], np.float32(likes_corner))
    np.testing.assert_array_equal(population.state.C[0][population.row_of[ids[0]]], model_c)
    np.testing.assert_array_equal(population.state.C[0][population.row_of[ids[2]]], model_c)


def test_preferences_of_agents_added_later_are_kept_next_to_earlier_ones() -> None:
    spec = small_spec()
    cells = spec.height * spec.width
    first, second = new_ids(2), new_ids(2)
    custom = [float(i) for i in range(cells)]
    runtime, world = runtime_with(spec, [(first, explorers(spec, 2))])
    later = [
        blueprint("grid_explorer", {"seed": 5, "preferences": {"location": custom}}, spec),
        *explorers(spec, 1),
    ]
    runtime.submit(lambda: runtime.add_agents(world, second, later, running=True))
    runtime.tick()
    view = runtime.view(world)
    assert view is not None
    assert len(view.populations) == 1
    population = view.populations[0]
    assert population.state.C is not None
    assert population.state.C[0] is not None
    table = population.state.C[0]
    model_c = np.asarray(population.model.C[0], dtype=np.float32)
    np.testing.assert_array_equal(table[population.row_of[second[0]]], np.float32(custom))
    for agent in (*first, second[1]):
        np.testing.assert_array_equal(table[population.row_of[agent]], model_c)


def _trajectory(world_id: uuid.UUID, ids: list[uuid.UUID], ticks: int) -> list[np.ndarray]:
    spec = small_spec(7, 7)
    runtime, world = runtime_with(
        spec, [(ids[:8], explorers(spec, 8)), (ids[8:], collectors(spec, 4))], world_id=world_id, seed=11
    )
    stop_at = 5
    positions = []
    for tick in range(ticks):
        if tick == stop_at:
            runtime.submit(lambda: runtime.set_running(ids[:2], False))
            runtime.submit(lambda: runtime.restart(ids[8:9]))
        runtime.tick()
        view = runtime.view(world)
        assert view is not None
        positions.append(np.concatenate([view.positions[p.slots] for p in view.populations]))
    return positions


def test_same_seed_and_commands_give_the_same_trajectories() -> None:
    world_id = uuid.uuid4()
    ids = new_ids(12)
    first = _trajectory(world_id, ids, 15)
    second = _trajectory(world_id, ids, 15)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    other = _trajectory(uuid.uuid4(), ids, 15)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True)), (
        "another world id seeds other random draws"
    )


def test_commands_run_on_the_tick_and_report_errors_to_the_caller() -> None:
    runtime = AgentRuntime()
    done = runtime.submit(lambda: 41 + 1)
    failing = runtime.submit(
        lambda: runtime.set_running([uuid.uuid4()], True) or runtime._world(uuid.uuid4())
    )
    assert not done.done()
    runtime.tick()
    assert done.result(timeout=0) == 42
    with pytest.raises(UnknownWorldError):
        failing.result(timeout=0)


def test_views_are_immutable_snapshots_of_a_finished_tick() -> None:
    spec = small_spec()
    ids = new_ids(4)
    runtime, world = runtime_with(spec, [(ids, explorers(spec, 4))])
    runtime.tick()
    old = runtime.view(world)
    assert old is not None
    ticks_then = old.populations[0].ticks.copy()
    positions_then = old.positions.copy()
    beliefs_then = beliefs_of(old, ids[0])
    for _ in range(3):
        runtime.tick()
    np.testing.assert_array_equal(old.populations[0].ticks, ticks_then)
    np.testing.assert_array_equal(old.positions, positions_then)
    for a, b in zip(beliefs_then, beliefs_of(old, ids[0]), strict=True):
        np.testing.assert_array_equal(a, b)
    new = runtime.view(world)
    assert new is not None
    assert new.tick == old.tick + 3


@pytest.mark.parametrize("bumps", [0, 5, 450])
def test_event_records_are_the_first_of_all_records_without_building_them_all(bumps: int) -> None:
    from freeagentics.domain.world import StepEvents
    from freeagentics.services.runtime.world_runtime import MAX_EVENT_RECORDS, _first_records

    slots = np.arange(bumps, dtype=np.int64)
    events = StepEvents(
        tick=4,
        bumped=slots,
        goal_reached=np.array([1, 7], dtype=np.int64),
        goal_reached_goal=np.array([0, 0], dtype=np.int64),
        collected=np.array([3], dtype=np.int64),
        collected_cell=np.array([[1, 1]], dtype=np.int64),
        deposited=np.array([9], dtype=np.int64),
        deposited_goal=np.array([0], dtype=np.int64),
    )
    assert _first_records(events, MAX_EVENT_RECORDS) == tuple(events.as_records()[:MAX_EVENT_RECORDS])


def test_emergency_mode_steps_only_essential_populations(engine_calls: list[int]) -> None:
    spec = small_spec()
    normal, essential = new_ids(4), new_ids(2)
    runtime, world = runtime_with(
        spec, [(normal, explorers(spec, 4)), (essential, explorers(spec, 2, priority="essential"))]
    )
    runtime.emergency = True
    report = runtime.tick()
    assert (report.engine_calls, report.agent_steps) == (1, 2)
    assert engine_calls == [2]
    view = runtime.view(world)
    assert view is not None
    assert {int(agent_row(view, a)[0].ticks[agent_row(view, a)[1]]) for a in normal} == {0}
    runtime.emergency = False
    assert runtime.tick().agent_steps == 6
