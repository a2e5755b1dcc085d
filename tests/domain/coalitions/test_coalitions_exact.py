"""The exact algorithm against brute force over every assignment, and its edge cases."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from freeagentics.domain.coalitions import (
    MAX_EXACT_AGENTS,
    AgentBatch,
    CapabilityCoverageValue,
    CoalitionValueFunction,
    FormationProblem,
    InvalidFormationProblemError,
    Objective,
    PartialCoverage,
    Region,
    form_coalitions_exact,
    random_formation_problem,
    value_assignment,
)
from freeagentics.domain.coalitions import exact as exact_module

BruteForce = Callable[[FormationProblem, CoalitionValueFunction], float]


def _objectives_for(num_agents: int) -> int:
    # (M + 1)^N assignments: keep the brute force below ~60k rows.
    return 3 if num_agents <= 7 else 2


@pytest.mark.parametrize("subsets_only", [False, True], ids=["auto", "subsets-only"])
@pytest.mark.parametrize("policy", list(PartialCoverage))
@pytest.mark.parametrize("num_agents", range(1, 11))
def test_exact_equals_brute_force_for_every_n_up_to_10(
    num_agents: int,
    policy: PartialCoverage,
    subsets_only: bool,
    brute_force: BruteForce,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Random agents often share capability rows, which sends "auto" to the capability-class search;
    # "subsets-only" switches that off so the subset algorithm is checked on the same problems.
    if subsets_only:
        monkeypatch.setattr(exact_module, "MAX_CLASS_LATTICE", 0)
    for seed in range(3):
        rng = np.random.default_rng([num_agents, seed, policy is PartialCoverage.REJECT])
        problem = random_formation_problem(rng, num_agents, _objectives_for(num_agents))
        value_function = CapabilityCoverageValue(
            partial_coverage=policy, coordination_cost=float(rng.uniform(0.0, 1.0))
        )
        structure = form_coalitions_exact(problem, value_function, seed=seed)
        optimum = brute_force(problem, value_function)
        assert structure.total_value == pytest.approx(optimum, abs=1e-9)
        assert structure.upper_bound == structure.total_value
        recomputed = value_assignment(problem, value_function, structure.assignment())
        assert recomputed.total == pytest.approx(structure.total_value, abs=1e-9)


def test_exact_leaves_objectives_nobody_can_reach_before_the_deadline_unserved() -> None:
    problem = FormationProblem(
        capability_names=("carry",),
        objectives=(
            Objective(id="far", target=Region.cell(9, 9), required=(1.0,), value=100.0, deadline=3),
            Objective(id="near", target=Region.cell(0, 1), required=(2.0,), value=10.0),
        ),
        agents=AgentBatch(
            positions=np.array([[0, 0], [0, 2], [1, 1]]), capabilities=np.array([[1.0], [1.0], [2.0]])
        ),
    )
    structure = form_coalitions_exact(problem)
    assert structure.members_by_objective == {"near": (2,)}
    assert structure.unassigned == (0, 1)
    assert all(c.satisfied for c in structure.coalitions)


def test_exact_prefers_the_cheaper_cover_and_credits_value_minus_costs() -> None:
    value_function = CapabilityCoverageValue(distance_cost=1.0, member_cost=0.5)
    problem = FormationProblem(
        capability_names=("carry", "explore"),
        objectives=(Objective(id="o", target=Region.cell(0, 0), required=(2.0, 1.0), value=20.0),),
        agents=AgentBatch(
            positions=np.array([[0, 1], [0, 2], [5, 5], [1, 0]]),
            capabilities=np.array([[2.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 1.0]]),
        ),
    )
    structure = form_coalitions_exact(problem, value_function)
    # Agents 0 and 3 cover (2, 1) at distance 1 each: 20 - (1 + 0.5) * 2 = 17; agent 2 alone costs 10.5.
    assert structure.members_by_objective == {"o": (0, 3)}
    assert structure.total_value == pytest.approx(17.0)


def test_partial_policy_reports_an_unsatisfied_coalition() -> None:
    problem = FormationProblem(
        capability_names=("carry",),
        objectives=(Objective(id="o", target=Region.cell(0, 0), required=(4.0,), value=40.0),),
        agents=AgentBatch(positions=np.array([[0, 0]]), capabilities=np.array([[1.0]])),
    )
    rejected = form_coalitions_exact(
        problem, CapabilityCoverageValue(partial_coverage=PartialCoverage.REJECT)
    )
    partial = form_coalitions_exact(
        problem, CapabilityCoverageValue(partial_coverage=PartialCoverage.CREDIT_PARTIAL)
    )
    assert rejected.coalitions == ()
    assert rejected.total_value == 0.0
    (coalition,) = partial.coalitions
    assert not coalition.satisfied
    assert coalition.value == pytest.approx(40.0 / 4 - 0.5)


def test_exact_handles_no_objectives_and_no_agents() -> None:
    agents = AgentBatch(positions=np.zeros((0, 2), dtype=np.int64), capabilities=np.zeros((0, 1)))
    no_agents = FormationProblem(
        capability_names=("carry",),
        objectives=(Objective(id="o", target=Region.cell(0, 0), required=(1.0,), value=1.0),),
        agents=agents,
    )
    assert form_coalitions_exact(no_agents).coalitions == ()
    rng = np.random.default_rng(0)
    no_objectives = random_formation_problem(rng, 5, 0)
    structure = form_coalitions_exact(no_objectives)
    assert structure.coalitions == ()
    assert structure.unassigned == (0, 1, 2, 3, 4)


def test_exact_refuses_more_agents_than_it_can_enumerate() -> None:
    problem = random_formation_problem(np.random.default_rng(0), MAX_EXACT_AGENTS + 1, 2)
    with pytest.raises(InvalidFormationProblemError, match="at most"):
        form_coalitions_exact(problem)


def test_exact_is_deterministic_and_records_its_seed() -> None:
    problem = random_formation_problem(np.random.default_rng(7), 12, 4)
    first = form_coalitions_exact(problem, seed=3)
    second = form_coalitions_exact(problem, seed=3)
    assert first == second
    assert first.seed == 3
    assert first.algorithm == "exact"


def _interchangeable_agents_problem(
    seed: int, num_agents: int, num_objectives: int, need: int
) -> FormationProblem:
    rng = np.random.default_rng(seed)
    return FormationProblem(
        capability_names=("carry",),
        objectives=tuple(
            Objective(id=f"o{j}", target=Region.cell(j, 2 * j), required=(float(need),), value=20.0 + j)
            for j in range(num_objectives)
        ),
        agents=AgentBatch(
            positions=rng.integers(0, 6, size=(num_agents, 2)), capabilities=np.ones((num_agents, 1))
        ),
    )


@pytest.fixture(scope="module")
def bounding_cases(brute_force: BruteForce) -> list[tuple[FormationProblem, float]]:
    """Problems with interchangeable agents and random ones, with their brute-force optima."""
    problems = []
    for seed in range(3):
        problems.append(_interchangeable_agents_problem(seed, 6, 5, 1))
        problems.append(_interchangeable_agents_problem(seed, 7, 3, 2))
        problems.append(random_formation_problem(np.random.default_rng([seed, 99]), 8, 3))
    return [(problem, brute_force(problem, CapabilityCoverageValue())) for problem in problems]


@pytest.mark.parametrize(
    "bounding",
    [
        {},
        {"_PRICED_TABLES_FROM": 0},
        {"_PRICED_BOUND_WORK": 0},
        {"_CAPACITY_BOUND_MAX_OBJECTIVES": 0},
        {"_MAX_REMEMBERED_NODES": 0},
    ],
)
def test_every_bounding_variant_stays_exact_with_interchangeable_agents(
    bounding: dict[str, int],
    bounding_cases: list[tuple[FormationProblem, float]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Identical agents reach the same free sets along many paths (remembered bounds) and make many
    # coalitions useful (priced tables); each bounding device, switched on or off, must keep the optimum.
    # Such problems normally go to the capability-class search, switched off here.
    monkeypatch.setattr(exact_module, "MAX_CLASS_LATTICE", 0)
    for name, setting in bounding.items():
        monkeypatch.setattr(exact_module, name, setting)
    for problem, optimum in bounding_cases:
        assert form_coalitions_exact(problem).total_value == pytest.approx(optimum, abs=1e-9)
