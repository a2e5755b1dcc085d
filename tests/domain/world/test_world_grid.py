"""GridWorld behaviour: moves, walls, shared cells, collect/deposit, events, slots and observations."""

from __future__ import annotations

import numpy as np
import pytest

from freeagentics.domain.conventions import MOVE_DELTAS, CellContent, CollectorAction, Move
from freeagentics.domain.world import (
    AgentLimitError,
    GridWorld,
    GridWorldSpec,
    ObjectiveRegion,
    Objectives,
    WorldValidationError,
    cell_content_grid,
    collector_observation,
    location_observation,
    spec_from_mapping,
)

A = CollectorAction


def small_spec(**overrides: object) -> GridWorldSpec:
    """A 4x5 world::

    . . . . R        R = pile of 2 units at (0, 4)
    . # # . .        # = walls at (1, 1) and (1, 2)
    . . . . .
    . . . . G        G = goal at (3, 4)
    """
    data: dict[str, object] = {
        "height": 4,
        "width": 5,
        "walls": [[1, 1], [1, 2]],
        "resources": [{"cell": [0, 4], "amount": 2}],
        "goals": [[3, 4]],
    }
    data.update(overrides)
    return spec_from_mapping(data)


def actions(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def test_reset_places_agents_and_returns_their_observations() -> None:
    world = GridWorld(small_spec())
    observations = world.reset(0, [[0, 0], [0, 4], [3, 4]])
    assert world.capacity == world.num_agents == 3
    assert observations.location.tolist() == [0, 4, 19]
    assert observations.cell_content.tolist() == [CellContent.EMPTY, CellContent.RESOURCE, CellContent.GOAL]
    assert observations.collector().tolist() == [[0, 0], [4, 1], [19, 2]]
    assert observations.collector([2, 0]).tolist() == [[19, 2], [0, 0]]
    assert observations.explorer().tolist() == [[0], [4], [19]]
    assert observations.explorer(np.array([1])).tolist() == [[4]]
    assert world.positions().tolist() == [[0, 0], [0, 4], [3, 4]]
    assert world.tick == 0


def test_observations_match_the_pure_observation_functions() -> None:
    world = GridWorld(small_spec())
    world.reset(3, num_agents=50)
    for _ in range(5):
        world.step(np.random.default_rng(1).integers(0, len(A), size=world.capacity))
    positions = world.positions()
    content = cell_content_grid(world.content_grid() == CellContent.GOAL, world.resource_grid())
    observations = world.observe()
    assert np.array_equal(observations.location, location_observation(positions, width=5))
    assert np.array_equal(observations.collector(), collector_observation(positions, content))


@pytest.mark.parametrize("move", list(Move))
def test_each_move_follows_the_shared_deltas(move: Move) -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[2, 3]])
    world.step(actions(move))
    d_row, d_col = MOVE_DELTAS[move]
    assert world.positions().tolist() == [[2 + d_row, 3 + d_col]]


def test_walls_and_edges_leave_the_agent_in_place_and_emit_bumps() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[2, 1], [0, 0], [0, 0], [3, 3]])
    result = world.step(actions(Move.UP, Move.UP, Move.LEFT, Move.DOWN))
    assert world.positions().tolist() == [[2, 1], [0, 0], [0, 0], [3, 3]]
    assert result.events.bumped.tolist() == [0, 1, 2, 3]
    stayed = world.step(actions(Move.STAY, Move.RIGHT, Move.STAY, Move.STAY))
    assert stayed.events.bumped.tolist() == []


def test_agents_may_share_a_cell() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[2, 0], [2, 2], [1, 3]])
    world.step(actions(Move.RIGHT, Move.LEFT, Move.DOWN))
    assert world.positions().tolist() == [[2, 1], [2, 1], [2, 3]]
    world.step(actions(Move.RIGHT, Move.RIGHT, Move.LEFT))
    assert world.positions().tolist() == [[2, 2], [2, 2], [2, 2]]


def test_goal_reached_is_reported_when_moving_onto_a_goal() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[2, 4], [3, 3], [3, 4]])
    result = world.step(actions(Move.DOWN, Move.RIGHT, Move.STAY))
    assert result.events.goal_reached.tolist() == [0, 1]
    assert result.events.goal_reached_goal.tolist() == [0, 0]
    assert result.observations.cell_content.tolist() == [CellContent.GOAL] * 3


def test_collect_carry_and_deposit_at_the_goal() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[0, 4]])
    collected = world.step(actions(A.COLLECT))
    assert collected.events.collected.tolist() == [0]
    assert collected.events.collected_cell.tolist() == [[0, 4]]
    assert world.carrying().tolist() == [True]
    assert world.resources_left().tolist() == [1]
    # Already carrying: a second COLLECT takes nothing.
    again = world.step(actions(A.COLLECT))
    assert again.events.collected.size == 0
    assert world.resources_left().tolist() == [1]
    # DEPOSIT away from a goal does nothing.
    assert world.step(actions(A.DEPOSIT)).events.deposited.size == 0
    for move in (Move.DOWN, Move.DOWN, Move.DOWN):
        world.step(actions(move))
    deposited = world.step(actions(A.DEPOSIT))
    assert deposited.events.deposited.tolist() == [0]
    assert deposited.events.deposited_goal.tolist() == [0]
    assert world.carrying().tolist() == [False]
    assert world.deposited().tolist() == [1]
    assert world.total_deposited == 1
    assert world.deposits_by_slot().tolist() == [1]
    # Not carrying: DEPOSIT on the goal credits nothing.
    assert world.step(actions(A.DEPOSIT)).events.deposited.size == 0
    assert world.total_deposited == 1


def test_an_emptied_pile_reads_empty_and_yields_nothing() -> None:
    world = GridWorld(small_spec(resources=[{"cell": [0, 4], "amount": 1}]))
    world.reset(0, [[0, 4], [0, 4]])
    world.step(actions(A.COLLECT, A.STAY))
    result = world.step(actions(A.STAY, A.COLLECT))
    assert result.events.collected.size == 0
    assert result.observations.cell_content.tolist() == [CellContent.EMPTY, CellContent.EMPTY]
    assert world.content_grid()[0, 4] == CellContent.EMPTY


def test_collecting_on_an_empty_cell_does_nothing() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[2, 2]])
    assert world.step(actions(A.COLLECT)).events.collected.size == 0
    assert world.carrying().tolist() == [False]


def test_contention_grants_exactly_the_units_available_and_is_seeded() -> None:
    def winners(seed: int) -> list[int]:
        world = GridWorld(small_spec())
        world.reset(seed, [[0, 4]] * 5)
        result = world.step(actions(*[A.COLLECT] * 5))
        assert world.resources_left().tolist() == [0]
        assert int(world.carrying().sum()) == 2
        return result.events.collected.tolist()

    assert all(len(winners(seed)) == 2 for seed in range(5))
    assert winners(7) == winners(7)
    # The draw is fair rather than by slot order: different seeds pick different winners.
    assert len({tuple(winners(seed)) for seed in range(30)}) > 3


def test_moving_and_collecting_agents_do_not_interfere() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[0, 4], [0, 3]])
    result = world.step(actions(A.COLLECT, Move.RIGHT))
    # The mover arrives on the pile this step but did not collect; only the collector did.
    assert result.events.collected.tolist() == [0]
    assert world.positions().tolist() == [[0, 4], [0, 4]]


def test_step_validates_actions() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[0, 0], [0, 1]])
    with pytest.raises(ValueError, match="shape"):
        world.step(actions(0))
    with pytest.raises(ValueError, match="lie in"):
        world.step(actions(0, 7))
    with pytest.raises(ValueError, match="lie in"):
        world.step(actions(-1, 0))
    with pytest.raises(ValueError, match="integer"):
        world.step(np.array([0.0, 1.0]))
    assert world.tick == 0


def test_using_the_world_before_reset_is_an_error() -> None:
    world = GridWorld(small_spec())
    with pytest.raises(RuntimeError, match="reset"):
        world.step(actions())
    with pytest.raises(RuntimeError, match="reset"):
        world.add_agents(count=1)


def test_reset_rejects_bad_start_positions_with_their_index() -> None:
    world = GridWorld(small_spec())
    with pytest.raises(WorldValidationError) as raised:
        world.reset(0, [[0, 0], [1, 1], [4, 0], [0, -1]])
    assert [(e.loc, e.type) for e in raised.value.errors] == [
        (("start_positions", 1), "conflict"),
        (("start_positions", 2), "out_of_range"),
        (("start_positions", 3), "out_of_range"),
    ]
    for malformed in ([0, 0], [[0, 0], [1]], [[0.0, 1.0]], [[0, 0, 0]]):
        with pytest.raises(WorldValidationError) as raised:
            world.reset(0, malformed)
        assert [(e.loc, e.type) for e in raised.value.errors] == [(("start_positions",), "type_error")]
    assert world.reset(0, np.zeros((0, 2), dtype=np.int64)).location.size == 0
    assert world.reset(0, []).location.size == 0
    with pytest.raises(ValueError, match="not both"):
        world.reset(0, [[0, 0]], num_agents=1)


def test_random_placement_uses_only_open_cells_and_is_reproducible() -> None:
    world = GridWorld(small_spec())
    world.reset(11, num_agents=500)
    positions = world.positions()
    assert not {(1, 1), (1, 2)} & {tuple(p) for p in positions.tolist()}
    first = positions.copy()
    world.reset(11, num_agents=500)
    assert np.array_equal(world.positions(), first)
    world.reset(np.random.default_rng(11), num_agents=500)
    assert np.array_equal(world.positions(), first)


def test_reset_restores_resources_and_credits() -> None:
    world = GridWorld(small_spec(goals=[[0, 3]]))
    world.reset(0, [[0, 4]])
    world.step(actions(A.COLLECT))
    world.step(actions(Move.LEFT))
    world.step(actions(A.DEPOSIT))
    assert world.total_deposited == 1
    world.reset(0, [[2, 2]])
    assert world.total_deposited == 0
    assert world.resources_left().tolist() == [2]
    assert world.carrying().tolist() == [False]
    assert world.tick == 0


def test_add_agents_reuses_free_slots_then_grows() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[0, 0], [0, 1], [0, 2]])
    world.remove_agents([0, 2])
    assert world.active.tolist() == [False, True, False]
    assert world.observe().location.tolist() == [-1, 1, -1]
    slots = world.add_agents([[3, 0], [3, 1], [3, 2]])
    assert slots.tolist() == [0, 2, 3]
    assert world.capacity >= 4
    assert world.active_slots().tolist() == [0, 1, 2, 3]
    assert world.positions()[:4].tolist() == [[3, 0], [0, 1], [3, 1], [3, 2]]
    random_slots = world.add_agents(count=10)
    assert random_slots.size == 10
    assert world.num_agents == 14


def test_free_slots_ignore_their_actions_and_emit_no_events() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[0, 4], [2, 3]])
    world.remove_agents([0])
    result = world.step(actions(Move.UP, Move.UP))
    assert result.events.bumped.size == 0
    assert result.observations.location.tolist() == [-1, 8]
    result = world.step(actions(A.COLLECT, Move.STAY))
    assert result.events.collected.size == 0
    assert world.resources_left().tolist() == [2]


def test_removing_a_carrier_returns_its_unit_to_the_pile() -> None:
    world = GridWorld(small_spec(resources=[{"cell": [0, 4], "amount": 1}]))
    world.reset(0, [[0, 4]])
    world.step(actions(A.COLLECT))
    world.step(actions(Move.DOWN))
    assert world.content_grid()[0, 4] == CellContent.EMPTY
    world.remove_agents([0])
    assert world.resources_left().tolist() == [1]
    assert world.content_grid()[0, 4] == CellContent.RESOURCE


def test_remove_agents_validates_slots() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[0, 0], [0, 1]])
    world.remove_agents([1])
    with pytest.raises(ValueError, match="free slots"):
        world.remove_agents([1])
    with pytest.raises(ValueError, match="lie in"):
        world.remove_agents([5])
    world.add_agents([[0, 1]])
    with pytest.raises(ValueError, match="unique"):
        world.remove_agents([0, 0])


def test_max_agents_is_enforced() -> None:
    world = GridWorld(small_spec(max_agents=3))
    with pytest.raises(AgentLimitError):
        world.reset(0, num_agents=4)
    world.reset(0, num_agents=3)
    with pytest.raises(AgentLimitError):
        world.add_agents(count=1)
    world.remove_agents([1])
    assert world.add_agents(count=1).tolist() == [1]


def test_set_positions_moves_agents_with_their_load() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[0, 4], [0, 0]])
    world.step(actions(A.COLLECT, Move.STAY))
    world.set_positions([0], [[3, 4]])
    assert world.step(actions(A.DEPOSIT, Move.STAY)).events.deposited.tolist() == [0]
    with pytest.raises(WorldValidationError):
        world.set_positions([1], [[1, 1]])


def test_event_records_are_plain_data() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[0, 0], [0, 4], [2, 4]])
    records = world.step(actions(Move.UP, A.COLLECT, Move.DOWN)).events.as_records()
    assert records == [
        {"type": "bumped", "tick": 1, "slot": 0},
        {"type": "goal_reached", "tick": 1, "slot": 2, "goal": 0},
        {"type": "resource_collected", "tick": 1, "slot": 1, "cell": [0, 4]},
    ]
    events = world.step(actions(Move.UP, A.STAY, A.STAY)).events
    assert events.counts() == {
        "bumped": 1,
        "goal_reached": 0,
        "resource_collected": 0,
        "resource_deposited": 0,
    }


def test_summary_counts_resources_wherever_they_are() -> None:
    world = GridWorld(small_spec(goals=[[0, 3]]))
    world.reset(0, [[0, 4], [0, 4]])
    world.step(actions(A.COLLECT, A.COLLECT))
    world.step(actions(Move.LEFT, Move.STAY))
    world.step(actions(A.DEPOSIT, Move.STAY))
    assert world.summary() == {
        "tick": 3,
        "agents": 2,
        "capacity": 2,
        "resources_left": 0,
        "resources_carried": 1,
        "resources_deposited": 1,
        "resources_total": 2,
    }


def test_render_text_draws_walls_content_and_agent_counts() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[0, 0], [0, 0], [3, 4]] + [[2, 2]] * 12)
    assert world.render_text() == "2...R\n.##..\n..+..\n....1"
    world.remove_agents([2])
    assert world.render_text().splitlines()[3] == "....G"


def test_grids_describe_walls_resources_and_goals() -> None:
    world = GridWorld(small_spec())
    world.reset(0)
    assert world.capacity == 0
    assert world.resource_grid()[0, 4] == 2
    assert int(world.resource_grid().sum()) == 2
    content = world.content_grid()
    assert content[3, 4] == CellContent.GOAL
    assert content[0, 4] == CellContent.RESOURCE
    assert int((content == CellContent.EMPTY).sum()) == 18


def test_world_objective_status_uses_current_positions() -> None:
    world = GridWorld(small_spec())
    world.reset(0, [[3, 4], [3, 3], [0, 0]])
    objectives = Objectives.from_regions(
        [ObjectiveRegion.at_cell(3, 4), ObjectiveRegion(top=2, left=3, bottom=3, right=4)],
        required=[[1.0], [3.0]],
    )
    status = world.objective_status(objectives, capabilities=[[1.0], [1.0], [5.0]])
    assert status.complete.tolist() == [True, False]
    world.remove_agents([1])
    members = world.objective_status(objectives, capabilities=np.ones((3, 1)), assignment=[1, 1, -1])
    assert members.present_count.tolist() == [0, 1]
    assert members.counted.tolist() == [True, False, False]


def test_per_slot_state_is_a_few_bytes() -> None:
    world = GridWorld(small_spec())
    world.reset(0, num_agents=1000)
    assert world.nbytes_per_slot == 21
    per_slot_total = world._cell.nbytes + world._active.nbytes + world._carried_from.nbytes
    assert per_slot_total + world._deposits_by_slot.nbytes == 21 * world.capacity


def test_stepping_a_large_population_applies_every_action() -> None:
    world = GridWorld(spec_from_mapping({"height": 100, "width": 100}))
    world.reset(0, num_agents=20_000)
    before = world.positions()
    moves = np.random.default_rng(0).integers(0, len(Move), size=world.capacity)
    world.step(moves)
    delta = np.array(MOVE_DELTAS)[moves]
    expected = before + delta
    inside = ((expected >= 0) & (expected < 100)).all(axis=1)
    assert np.array_equal(world.positions(), np.where(inside[:, None], expected, before))
