"""The capability-class search (``classes.py``) against brute force and against the subset algorithm."""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freeagentics.domain.coalitions import (
    AgentBatch,
    CapabilityCoverageValue,
    CoalitionStructure,
    CoalitionValueFunction,
    FormationProblem,
    Objective,
    PartialCoverage,
    Region,
    form_coalitions_exact,
    structure_from_assignment,
)
from freeagentics.domain.coalitions import classes as classes_module
from freeagentics.domain.coalitions import exact as exact_module
from freeagentics.domain.coalitions.structure import checked_member_costs

BruteForce = Callable[[FormationProblem, CoalitionValueFunction], float]


def _by_classes(problem: FormationProblem, value_function: CapabilityCoverageValue) -> CoalitionStructure:
    """The capability-class search alone, whatever the lattice size."""
    costs = checked_member_costs(problem, value_function)
    enumerated = np.flatnonzero(np.isfinite(costs).any(axis=0))
    assignment = classes_module.solve_by_classes(problem, value_function, costs, enumerated)
    return structure_from_assignment(
        problem, value_function, assignment, algorithm="exact", seed=0, upper_bound=None, member_costs=costs
    )


def _by_subsets(problem: FormationProblem, value_function: CapabilityCoverageValue) -> CoalitionStructure:
    """The subset algorithm alone (the class search switched off)."""
    with mock.patch.object(exact_module, "MAX_CLASS_LATTICE", 0):
        return form_coalitions_exact(problem, value_function)


@st.composite
def shared_capability_problems(
    draw: st.DrawFn, max_agents: int = 8, max_objectives: int = 3
) -> FormationProblem:
    """Agents drawn from 1-3 capability rows (mixed classes), often on the same cells (equal costs, ties),
    objectives with regions, priorities and deadlines (agents a class cannot all use)."""
    num_agents = draw(st.integers(1, max_agents))
    num_objectives = draw(st.integers(1, max_objectives))
    num_capabilities = draw(st.integers(1, 2))
    num_classes = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = rng.integers(0, 3, size=(num_classes, num_capabilities)).astype(float)
    capabilities = rows[rng.integers(0, num_classes, size=num_agents)]
    side = int(draw(st.sampled_from([1, 2, 4, 8])))
    positions = rng.integers(0, side, size=(num_agents, 2))
    objectives = []
    for j in range(num_objectives):
        top, left = (int(x) for x in rng.integers(0, side, size=2))
        required = rng.integers(0, 4, size=num_capabilities).astype(float)
        required[rng.integers(num_capabilities)] += 1.0
        objectives.append(
            Objective(
                id=f"o{j}",
                target=Region(top, left, top + int(rng.integers(0, 2)), left),
                required=tuple(required),
                value=float(rng.choice([5.0, 10.0, rng.uniform(0.0, 12.0)]) * required.sum()),
                priority=float(rng.choice([0.5, 1.0, 2.0])),
                deadline=int(rng.integers(0, 6)) if rng.random() < 0.3 else None,
            )
        )
    return FormationProblem(
        capability_names=tuple(f"c{k}" for k in range(num_capabilities)),
        objectives=tuple(objectives),
        agents=AgentBatch(positions=positions, capabilities=capabilities),
    )


value_functions = st.builds(
    CapabilityCoverageValue,
    distance_cost=st.sampled_from([0.0, 0.1, 0.7]),
    member_cost=st.sampled_from([0.0, 0.5, 2.0]),
    coordination_cost=st.sampled_from([0.0, 0.3]),
    partial_coverage=st.sampled_from(list(PartialCoverage)),
)


@settings(max_examples=150, deadline=None)
@given(problem=shared_capability_problems(), value_function=value_functions)
def test_class_search_equals_brute_force_and_the_subset_algorithm(
    problem: FormationProblem, value_function: CapabilityCoverageValue, brute_force: BruteForce
) -> None:
    by_classes = _by_classes(problem, value_function)
    optimum = brute_force(problem, value_function)
    assert by_classes.total_value == pytest.approx(optimum, abs=1e-9)
    assert _by_subsets(problem, value_function).total_value == pytest.approx(optimum, abs=1e-9)
    assert all(np.isfinite(c.value) and c.value > 0 for c in by_classes.coalitions)
    if value_function.partial_coverage is PartialCoverage.REJECT:
        assert all(c.satisfied for c in by_classes.coalitions)


@settings(max_examples=25, deadline=None)
@given(
    problem=shared_capability_problems(max_agents=11, max_objectives=4),
    value_function=value_functions,
)
def test_class_search_equals_the_subset_algorithm_on_larger_problems(
    problem: FormationProblem, value_function: CapabilityCoverageValue
) -> None:
    # Beyond brute force: up to 11 agents and 4 objectives, where the assignment of class-mates to
    # several objectives (augmenting paths through other objectives) matters more. (The subset search
    # can take minutes on larger problems whose agents share capabilities: the reason for classes.py.)
    expected = _by_subsets(problem, value_function).total_value
    assert _by_classes(problem, value_function).total_value == pytest.approx(expected, abs=1e-9)


def _one_capability_problem(num_agents: int, num_objectives: int, need: int, side: int) -> FormationProblem:
    rng = np.random.default_rng([num_agents, num_objectives, need, side])
    return FormationProblem(
        capability_names=("carry",),
        objectives=tuple(
            Objective(
                id=f"o{j}", target=Region.cell(j % side, (2 * j) % side), required=(float(need),), value=30.0
            )
            for j in range(num_objectives)
        ),
        agents=AgentBatch(
            positions=rng.integers(0, side, size=(num_agents, 2)), capabilities=np.ones((num_agents, 1))
        ),
    )


@pytest.mark.parametrize(("num_objectives", "need", "side"), [(4, 3, 6), (3, 4, 6), (5, 2, 1), (3, 5, 3)])
def test_exact_uses_the_class_search_for_interchangeable_agents(
    num_objectives: int, need: int, side: int
) -> None:
    # 12 agents with one capability row; side 1 puts them all on one cell (fully interchangeable: equal
    # costs too), otherwise they differ only in travel costs. Objectives compete for nearly all of them.
    problem = _one_capability_problem(12, num_objectives, need, side)
    with mock.patch.object(
        exact_module, "solve_by_classes", wraps=classes_module.solve_by_classes
    ) as class_search:
        structure = form_coalitions_exact(problem)
    assert class_search.call_count == 1
    assert structure.total_value == pytest.approx(_by_subsets(problem, CapabilityCoverageValue()).total_value)
    members = [m for coalition in structure.coalitions for m in coalition.members]
    assert len(members) == len(set(members))
    assert structure.upper_bound == structure.total_value


def test_exact_keeps_the_subset_algorithm_when_every_agent_differs() -> None:
    problem = FormationProblem(
        capability_names=("a", "b"),
        objectives=(Objective(id="o", target=Region.cell(0, 0), required=(2.0, 1.0), value=20.0),),
        agents=AgentBatch(
            positions=np.zeros((3, 2), dtype=np.int64),
            capabilities=np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
        ),
    )
    with mock.patch.object(exact_module, "solve_by_classes") as class_search:
        structure = form_coalitions_exact(problem)
    class_search.assert_not_called()
    assert structure.members_by_objective == {"o": (0, 1)}


def test_class_search_moves_a_class_mate_to_free_the_cheap_one() -> None:
    # Agents 0 and 1 share a capability row. "a" is worth more and is searched first, taking agent 0 (the
    # cheaper for it); "b" can only use agent 0 (agent 1 cannot reach it in time), so the optimum moves
    # agent 1 to "a" and gives agent 0 to "b": an augmenting path through "a".
    problem = FormationProblem(
        capability_names=("carry",),
        objectives=(
            Objective(id="a", target=Region.cell(0, 0), required=(1.0,), value=50.0),
            Objective(id="b", target=Region.cell(0, 3), required=(1.0,), value=10.0, deadline=2),
        ),
        agents=AgentBatch(positions=np.array([[0, 1], [0, 6]]), capabilities=np.ones((2, 1))),
    )
    structure = _by_classes(problem, CapabilityCoverageValue(distance_cost=1.0, member_cost=0.0))
    assert structure.members_by_objective == {"a": (1,), "b": (0,)}
    assert structure.total_value == pytest.approx(50.0 - 6.0 + 10.0 - 2.0)


def test_class_search_is_deterministic_with_ties() -> None:
    problem = _one_capability_problem(10, 4, 2, 1)  # all agents on one cell: many optimal structures
    first = form_coalitions_exact(problem, seed=5)
    assert first == form_coalitions_exact(problem, seed=5)
    assert first.total_value == pytest.approx(4 * (30.0 - 2 * 0.5))


@pytest.mark.parametrize("plain_bound", [False, True], ids=["shared-counts-bound", "sum-bound"])
def test_both_completion_bounds_keep_the_optimum(plain_bound: bool, brute_force: BruteForce) -> None:
    # The count-sharing completion bound falls back to the plain sum of per-objective bounds past a work
    # limit; both must keep the search exact.
    value_function = CapabilityCoverageValue(partial_coverage=PartialCoverage.CREDIT_PARTIAL)
    with mock.patch.object(classes_module, "_COMPLETION_WORK", 0 if plain_bound else 10**9):
        for side in (1, 3, 6):
            problem = _one_capability_problem(7, 3, 3, side)
            optimum = brute_force(problem, value_function)
            assert _by_classes(problem, value_function).total_value == pytest.approx(optimum, abs=1e-9)


@pytest.mark.parametrize("small_augment", [0, 10**9], ids=["numpy-augment", "python-augment"])
def test_both_augmenting_path_implementations_keep_the_optimum(
    small_augment: int, brute_force: BruteForce
) -> None:
    # Small classes find augmenting paths in plain Python, larger ones in NumPy: force each everywhere.
    with mock.patch.object(classes_module, "_SMALL_AUGMENT", small_augment):
        for side, need in ((2, 2), (3, 3), (6, 2)):
            problem = _one_capability_problem(8, 3, need, side)
            for value_function in (
                CapabilityCoverageValue(),
                CapabilityCoverageValue(distance_cost=1.0, partial_coverage=PartialCoverage.CREDIT_PARTIAL),
            ):
                optimum = brute_force(problem, value_function)
                structure = _by_classes(problem, value_function)
                assert structure.total_value == pytest.approx(optimum, abs=1e-9)
