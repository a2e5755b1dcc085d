"""Validation of objectives, agents, problems, value functions and structures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from freeagentics.domain.coalitions import (
    AgentBatch,
    CapabilityCoverageValue,
    Coalition,
    CoalitionInvariantError,
    CoalitionStructure,
    FormationProblem,
    InvalidFormationProblemError,
    Objective,
    Region,
    capability_vector,
    form_coalitions_exact,
    manhattan_distance_to_regions,
    random_formation_problem,
    structure_from_assignment,
    value_assignment,
)


def _objective(**overrides: object) -> Objective:
    fields: dict[str, object] = {"id": "o", "target": Region.cell(1, 2), "required": (1.0, 0.0), "value": 5.0}
    fields.update(overrides)
    return Objective(**fields)  # type: ignore[arg-type]


def _agents(count: int = 3, capabilities: int = 2) -> AgentBatch:
    return AgentBatch(
        positions=np.arange(count * 2, dtype=np.int64).reshape(count, 2),
        capabilities=np.ones((count, capabilities)),
    )


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((-1, 0, 0, 0), ">= 0"),
        ((2, 0, 1, 0), "top <= bottom"),
        ((0, 3, 0, 2), "left <= right"),
        ((0.5, 0, 1, 1), "integer"),
    ],
)
def test_region_rejects_invalid_boxes(box: tuple[object, ...], message: str) -> None:
    with pytest.raises(InvalidFormationProblemError, match=message):
        Region(*box)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"id": ""}, "id"),
        ({"id": "a\x00b"}, "id"),
        ({"target": (1, 2)}, "Region"),
        ({"required": ()}, "empty"),
        ({"required": (-1.0, 2.0)}, ">= 0"),
        ({"required": (math.nan, 1.0)}, "finite"),
        ({"required": (0.0, 0.0)}, "at least one"),
        ({"value": -1.0}, "value"),
        ({"value": math.inf}, "value"),
        ({"priority": 0.0}, "priority"),
        ({"deadline": 2.5}, "deadline"),
        ({"deadline": True}, "deadline"),
    ],
)
def test_objective_rejects_invalid_fields(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidFormationProblemError, match=message):
        _objective(**overrides)


def test_objective_reward_is_value_times_priority() -> None:
    assert _objective(value=4.0, priority=2.5).reward == 10.0


@pytest.mark.parametrize(
    ("positions", "capabilities", "message"),
    [
        (np.zeros((3,), dtype=np.int64), np.ones((3, 2)), r"\(N, 2\)"),
        (np.zeros((3, 2)), np.ones((3, 2)), "integer"),
        (-np.ones((3, 2), dtype=np.int64), np.ones((3, 2)), "non-negative"),
        (np.zeros((3, 2), dtype=np.int64), np.ones((2, 2)), r"\(N, K\)"),
        (np.zeros((3, 2), dtype=np.int64), -np.ones((3, 2)), ">= 0"),
        (np.zeros((3, 2), dtype=np.int64), np.full((3, 2), np.nan), "finite"),
        (np.zeros((3, 2), dtype=np.int64), np.array([["a", "b"]] * 3), "numeric"),
    ],
)
def test_agent_batch_rejects_invalid_arrays(
    positions: np.ndarray, capabilities: np.ndarray, message: str
) -> None:
    with pytest.raises(InvalidFormationProblemError, match=message):
        AgentBatch(positions=positions, capabilities=capabilities)


def test_agent_batch_copies_and_freezes_its_arrays() -> None:
    positions = np.zeros((2, 2), dtype=np.int32)
    capabilities = np.ones((2, 1), dtype=np.int64)
    batch = AgentBatch(positions=positions, capabilities=capabilities)
    positions[0, 0] = 7
    assert batch.positions[0, 0] == 0
    assert batch.capabilities.dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        batch.capabilities[0, 0] = 3.0


@pytest.mark.parametrize(
    ("names", "objectives", "message"),
    [
        ((), (), "1.."),
        (("a", "a"), (), "distinct"),
        (("a", "b", "c"), (), "vocabulary has 3"),
        (("a", "b"), (_objective(), _objective()), "unique"),
        (("a", "b"), (_objective(required=(1.0,)),), "requires 1"),
        (("a", "b"), ("not an objective",), "Objective"),
    ],
)
def test_problem_rejects_inconsistent_inputs(
    names: tuple[str, ...], objectives: tuple[object, ...], message: str
) -> None:
    with pytest.raises(InvalidFormationProblemError, match=message):
        FormationProblem(capability_names=names, objectives=objectives, agents=_agents())  # type: ignore[arg-type]


def test_problem_derives_objective_arrays_and_deadlines_from_the_current_tick() -> None:
    problem = FormationProblem(
        capability_names=("a", "b"),
        objectives=(
            _objective(id="x", deadline=15, priority=2.0),
            _objective(id="y", target=Region(0, 0, 2, 3)),
        ),
        agents=_agents(),
        current_tick=10,
    )
    assert problem.ticks_left.tolist() == [5.0, math.inf]
    assert problem.rewards.tolist() == [10.0, 5.0]
    assert problem.target_boxes.tolist() == [[1, 2, 1, 2], [0, 0, 2, 3]]
    assert problem.required.shape == (2, 2)
    assert problem.objective_ids == ("x", "y")


def test_capability_vector_orders_by_vocabulary_and_rejects_unknown_names() -> None:
    assert capability_vector(("explore", "carry"), {"carry": 2}) == (0.0, 2.0)
    with pytest.raises(InvalidFormationProblemError, match="unknown"):
        capability_vector(("explore",), {"fly": 1})


def test_manhattan_distance_to_regions_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(0)
    positions = rng.integers(0, 10, size=(25, 2))
    boxes = np.array([[2, 3, 2, 3], [1, 1, 4, 6], [0, 0, 9, 9]])
    distances = manhattan_distance_to_regions(positions, boxes)
    for j, (top, left, bottom, right) in enumerate(boxes):
        for i, (row, col) in enumerate(positions):
            cells = [(r, c) for r in range(top, bottom + 1) for c in range(left, right + 1)]
            assert distances[j, i] == min(abs(row - r) + abs(col - c) for r, c in cells)


def test_member_costs_apply_distance_size_cost_and_deadline() -> None:
    problem = FormationProblem(
        capability_names=("a", "b"),
        objectives=(_objective(target=Region.cell(0, 0), deadline=4),),
        agents=AgentBatch(positions=np.array([[0, 3], [3, 3]]), capabilities=np.ones((2, 2))),
        current_tick=1,
    )
    costs = CapabilityCoverageValue(distance_cost=0.5, member_cost=2.0).member_costs(problem)
    assert costs.tolist() == [[3.5, math.inf]]


def test_value_function_parameters_are_validated() -> None:
    with pytest.raises(InvalidFormationProblemError, match="distance_cost"):
        CapabilityCoverageValue(distance_cost=-1.0)
    with pytest.raises(InvalidFormationProblemError, match="member_cost"):
        CapabilityCoverageValue(member_cost=math.nan)
    with pytest.raises(InvalidFormationProblemError, match="partial_coverage"):
        CapabilityCoverageValue(partial_coverage="reject")  # type: ignore[arg-type]


def test_a_distance_function_of_the_wrong_shape_or_sign_is_rejected() -> None:
    problem = random_formation_problem(np.random.default_rng(0), 4, 2)
    wrong_shape = CapabilityCoverageValue(distance=lambda positions, boxes: np.zeros((positions.shape[0], 2)))
    with pytest.raises(InvalidFormationProblemError, match="shape"):
        form_coalitions_exact(problem, wrong_shape)
    negative = CapabilityCoverageValue(
        distance=lambda positions, boxes: -np.ones((boxes.shape[0], positions.shape[0])), member_cost=0.0
    )
    with pytest.raises(InvalidFormationProblemError, match=">= 0"):
        form_coalitions_exact(problem, negative)


def test_value_assignment_rejects_malformed_assignments() -> None:
    problem = random_formation_problem(np.random.default_rng(0), 4, 2)
    value_function = CapabilityCoverageValue()
    with pytest.raises(InvalidFormationProblemError, match="shape"):
        value_assignment(problem, value_function, np.zeros(3, dtype=np.int64))
    with pytest.raises(InvalidFormationProblemError, match="objective index"):
        value_assignment(problem, value_function, np.array([0, 1, 2, -1]))


def test_structures_refuse_forbidden_coalitions_and_broken_invariants() -> None:
    problem = FormationProblem(
        capability_names=("a", "b"),
        objectives=(_objective(required=(5.0, 0.0)),),
        agents=_agents(),
    )
    with pytest.raises(CoalitionInvariantError, match="may not form"):
        structure_from_assignment(
            problem, CapabilityCoverageValue(), np.array([0, -1, -1]), algorithm="t", seed=0, upper_bound=None
        )
    coalition = Coalition(objective_index=0, objective_id="o", members=(0, 1), value=1.0, satisfied=True)
    other = Coalition(objective_index=1, objective_id="p", members=(1,), value=1.0, satisfied=True)
    common = {"num_agents": 3, "algorithm": "t", "seed": 0}
    with pytest.raises(CoalitionInvariantError, match="two coalitions"):
        CoalitionStructure(
            coalitions=(coalition, other), unassigned=(2,), total_value=2.0, upper_bound=None, **common
        )  # type: ignore[arg-type]
    with pytest.raises(CoalitionInvariantError, match="unassigned"):
        CoalitionStructure(
            coalitions=(coalition,), unassigned=(), total_value=1.0, upper_bound=None, **common
        )  # type: ignore[arg-type]
    with pytest.raises(CoalitionInvariantError, match="total_value"):
        CoalitionStructure(
            coalitions=(coalition,), unassigned=(2,), total_value=3.0, upper_bound=None, **common
        )  # type: ignore[arg-type]
    with pytest.raises(CoalitionInvariantError, match="upper_bound"):
        CoalitionStructure(
            coalitions=(coalition,), unassigned=(2,), total_value=1.0, upper_bound=0.5, **common
        )  # type: ignore[arg-type]
    same_objective = Coalition(objective_index=0, objective_id="o", members=(2,), value=1.0, satisfied=True)
    with pytest.raises(CoalitionInvariantError, match="two coalitions"):
        CoalitionStructure(
            coalitions=(coalition, same_objective), unassigned=(), total_value=2.0, upper_bound=None, **common
        )  # type: ignore[arg-type]
    valid = CoalitionStructure(
        coalitions=(coalition,), unassigned=(2,), total_value=1.0, upper_bound=4.0, **common
    )  # type: ignore[arg-type]
    assert valid.gap == 3.0
    assert valid.relative_gap == 0.75
    assert valid.assignment().tolist() == [0, 0, -1]
