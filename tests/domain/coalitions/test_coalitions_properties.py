"""Property tests: invariants of both algorithms, optimality, bounds and determinism on random problems."""

from __future__ import annotations

from collections.abc import Callable

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
    ScalableSettings,
    form_coalitions_exact,
    form_coalitions_scalable,
    value_assignment,
)

BruteForce = Callable[[FormationProblem, CoalitionValueFunction], float]


@st.composite
def problems(draw: st.DrawFn, max_agents: int = 9, max_objectives: int = 3) -> FormationProblem:
    """Problems with regions, priorities, deadlines and uneven capabilities, drawn from one seed."""
    num_agents = draw(st.integers(1, max_agents))
    num_objectives = draw(st.integers(1, max_objectives))
    num_capabilities = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    positions = rng.integers(0, 8, size=(num_agents, 2))
    capabilities = rng.integers(0, 3, size=(num_agents, num_capabilities)) * (
        rng.random((num_agents, 1)) < 0.9
    )
    objectives = []
    for j in range(num_objectives):
        top, left = (int(x) for x in rng.integers(0, 8, size=2))
        height, width = (int(x) for x in rng.integers(0, 3, size=2))
        required = rng.integers(0, 4, size=num_capabilities).astype(float)
        required[rng.integers(num_capabilities)] += 1.0
        objectives.append(
            Objective(
                id=f"o{j}",
                target=Region(top, left, top + height, left + width),
                required=tuple(required),
                value=float(rng.uniform(0.0, 12.0) * required.sum()),
                priority=float(rng.choice([0.5, 1.0, 2.0])),
                deadline=int(rng.integers(2, 12)) if rng.random() < 0.3 else None,
            )
        )
    return FormationProblem(
        capability_names=tuple(f"c{k}" for k in range(num_capabilities)),
        objectives=tuple(objectives),
        agents=AgentBatch(positions=positions, capabilities=capabilities.astype(float)),
        current_tick=int(rng.integers(0, 3)),
    )


value_functions = st.builds(
    CapabilityCoverageValue,
    distance_cost=st.sampled_from([0.0, 0.1, 0.7]),
    member_cost=st.sampled_from([0.0, 0.5, 2.0]),
    coordination_cost=st.sampled_from([0.0, 0.3]),
    partial_coverage=st.sampled_from(list(PartialCoverage)),
)


def assert_invariants(
    problem: FormationProblem, value_function: CapabilityCoverageValue, structure: CoalitionStructure
) -> None:
    members = [m for coalition in structure.coalitions for m in coalition.members]
    assert len(members) == len(set(members)), "an agent is in two coalitions"
    assert sorted(members + list(structure.unassigned)) == list(range(problem.num_agents))
    objectives = [c.objective_index for c in structure.coalitions]
    assert len(objectives) == len(set(objectives)), "an objective has two coalitions"
    valued = value_assignment(problem, value_function, structure.assignment())
    for coalition in structure.coalitions:
        assert np.isfinite(coalition.value)
        assert coalition.value > 0, "a coalition worth nothing was formed"
        assert coalition.value == pytest.approx(valued.values[coalition.objective_index], abs=1e-9)
        if value_function.partial_coverage is PartialCoverage.REJECT:
            assert coalition.satisfied, "an unsatisfied coalition formed under the reject policy"
        costs = value_function.member_costs(problem)[coalition.objective_index, list(coalition.members)]
        assert np.all(np.isfinite(costs)), "a member cannot reach the objective before its deadline"
    assert structure.total_value == pytest.approx(valued.total, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(problem=problems(max_agents=8), value_function=value_functions)
def test_exact_is_optimal_and_keeps_its_invariants(
    problem: FormationProblem, value_function: CapabilityCoverageValue, brute_force: BruteForce
) -> None:
    structure = form_coalitions_exact(problem, value_function)
    assert_invariants(problem, value_function, structure)
    assert structure.total_value == pytest.approx(brute_force(problem, value_function), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    problem=problems(max_agents=12, max_objectives=4),
    value_function=value_functions,
    candidates=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
)
def test_scalable_keeps_its_invariants_and_never_beats_the_optimum_or_its_bound(
    problem: FormationProblem, value_function: CapabilityCoverageValue, candidates: int, seed: int
) -> None:
    tuning = ScalableSettings(candidates_per_objective=candidates)
    structure = form_coalitions_scalable(problem, value_function, seed=seed, settings=tuning)
    assert_invariants(problem, value_function, structure)
    optimum = form_coalitions_exact(problem, value_function).total_value
    assert structure.total_value <= optimum + 1e-9
    assert structure.upper_bound is not None
    assert structure.upper_bound >= optimum - 1e-9
    again = form_coalitions_scalable(problem, value_function, seed=seed, settings=tuning)
    assert again == structure
