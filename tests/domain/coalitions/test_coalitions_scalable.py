"""The scalable algorithm: quality against the exact optimum, its bound, fallbacks and exchanges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from freeagentics.domain.coalitions import (
    AUTO_EXACT_MAX_AGENTS,
    AUTO_EXACT_MAX_OBJECTIVES,
    AgentBatch,
    CapabilityCoverageValue,
    FormationAlgorithm,
    FormationProblem,
    Objective,
    PartialCoverage,
    Region,
    ScalableSettings,
    form_coalitions,
    form_coalitions_exact,
    form_coalitions_scalable,
    random_formation_problem,
    value_assignment,
)


@pytest.mark.parametrize("policy", list(PartialCoverage))
def test_scalable_stays_between_zero_and_the_optimum_and_bounds_it(policy: PartialCoverage) -> None:
    ratios = []
    for seed in range(40):
        rng = np.random.default_rng([seed, 11])
        problem = random_formation_problem(rng, int(rng.integers(4, 13)), int(rng.integers(1, 5)))
        value_function = CapabilityCoverageValue(partial_coverage=policy)
        optimum = form_coalitions_exact(problem, value_function).total_value
        structure = form_coalitions_scalable(problem, value_function, seed=seed)
        assert 0.0 <= structure.total_value <= optimum + 1e-9
        assert structure.upper_bound is not None
        assert structure.upper_bound >= optimum - 1e-9
        ratios.append(structure.total_value / optimum if optimum > 0 else 1.0)
    assert np.mean(ratios) >= 0.95


def test_scalable_on_a_large_instance_keeps_its_invariants_and_a_small_gap() -> None:
    problem = random_formation_problem(np.random.default_rng(5), 2_000, 200)
    value_function = CapabilityCoverageValue()
    structure = form_coalitions_scalable(problem, value_function, seed=1)
    members = [m for coalition in structure.coalitions for m in coalition.members]
    assert len(members) == len(set(members))
    assert sorted(members + list(structure.unassigned)) == list(range(problem.num_agents))
    assert all(c.satisfied and c.value > 0 for c in structure.coalitions)
    recomputed = value_assignment(problem, value_function, structure.assignment())
    assert recomputed.total == pytest.approx(structure.total_value)
    assert structure.relative_gap is not None
    assert structure.relative_gap < 0.05


def test_scalable_is_reproducible_by_seed_including_restarts() -> None:
    problem = random_formation_problem(np.random.default_rng(9), 300, 40)
    settings = ScalableSettings(restarts=3)
    first = form_coalitions_scalable(problem, seed=4, settings=settings)
    again = form_coalitions_scalable(problem, seed=4, settings=settings)
    assert first == again
    assert first.seed == 4
    assert first.algorithm == "scalable"


def test_restarts_never_make_the_result_worse() -> None:
    for seed in range(10):
        problem = random_formation_problem(np.random.default_rng([seed, 3]), 12, 4)
        plain = form_coalitions_scalable(problem, seed=seed, settings=ScalableSettings(restarts=0))
        restarted = form_coalitions_scalable(problem, seed=seed, settings=ScalableSettings(restarts=4))
        assert restarted.total_value >= plain.total_value - 1e-9


def test_an_objective_whose_capability_only_a_far_agent_has_falls_back_to_every_agent() -> None:
    num_near = 30
    positions = np.vstack([np.zeros((num_near, 2), dtype=np.int64), [[40, 40]]])
    capabilities = np.vstack([np.tile([1.0, 0.0], (num_near, 1)), [[0.0, 1.0]]])
    problem = FormationProblem(
        capability_names=("carry", "rare"),
        objectives=(Objective(id="o", target=Region.cell(0, 0), required=(1.0, 1.0), value=100.0),),
        agents=AgentBatch(positions=positions, capabilities=capabilities),
    )
    structure = form_coalitions_scalable(problem, settings=ScalableSettings(candidates_per_objective=5))
    assert structure.members_by_objective == {"o": (0, num_near)}
    assert structure.upper_bound is not None
    assert structure.upper_bound >= structure.total_value


def _contested_problem() -> FormationProblem:
    # Agent 0 (carry + explore) is nearest to both objectives; agent 1 (carry only) is a little further.
    # Greedy serves the more valuable "haul" with agent 0, leaving "survey" (which needs explore) unserved;
    # only an exchange (dissolve "haul", give agent 0 to "survey", regrow "haul" with agent 1) finds the optimum.
    return FormationProblem(
        capability_names=("carry", "explore"),
        objectives=(
            Objective(id="haul", target=Region.cell(0, 0), required=(1.0, 0.0), value=100.0),
            Objective(id="survey", target=Region.cell(0, 0), required=(1.0, 1.0), value=60.0),
        ),
        agents=AgentBatch(
            positions=np.array([[0, 1], [0, 3]]), capabilities=np.array([[1.0, 1.0], [1.0, 0.0]])
        ),
    )


def test_exchange_moves_serve_an_objective_greedy_left_unserved() -> None:
    problem = _contested_problem()
    optimum = form_coalitions_exact(problem)
    # Without restarts, so that the one greedy order (by bound: "haul" first) is the one being repaired.
    with_exchange = form_coalitions_scalable(problem, settings=ScalableSettings(restarts=0))
    without_exchange = form_coalitions_scalable(
        problem, settings=ScalableSettings(restarts=0, exchange_attempts=0)
    )
    assert optimum.members_by_objective == {"haul": (1,), "survey": (0,)}
    assert with_exchange.members_by_objective == optimum.members_by_objective
    assert without_exchange.members_by_objective == {"haul": (0,)}


def test_local_moves_replace_two_members_by_one_cheaper_agent() -> None:
    # Default costs 0.5 + 0.1 * distance. Greedy (capability per cost) takes agent 0 (1 unit for 0.6), then
    # agent 2 (1 unit for 1.0) over agent 1 (its second unit is not needed: 1 unit for 1.3): cost 1.6.
    # Agent 1 alone covers both units for 1.3; only replacing two members by one finds it.
    problem = FormationProblem(
        capability_names=("carry",),
        objectives=(Objective(id="o", target=Region.cell(0, 0), required=(2.0,), value=30.0),),
        agents=AgentBatch(
            positions=np.array([[0, 1], [0, 8], [0, 5]]),
            capabilities=np.array([[1.0], [2.0], [1.0]]),
        ),
    )
    optimum = form_coalitions_exact(problem)
    structure = form_coalitions_scalable(problem)
    without_moves = form_coalitions_scalable(problem, settings=ScalableSettings(improvement_rounds=0))
    assert optimum.members_by_objective == {"o": (1,)}
    assert structure.members_by_objective == {"o": (1,)}
    assert structure.total_value == pytest.approx(30.0 - 1.3)
    assert without_moves.members_by_objective == {"o": (0, 2)}


def test_scalable_handles_empty_problems() -> None:
    problem = random_formation_problem(np.random.default_rng(0), 6, 0)
    structure = form_coalitions_scalable(problem)
    assert structure.coalitions == ()
    assert structure.upper_bound == 0.0
    assert structure.unassigned == tuple(range(6))


def test_small_problems_get_restarts_by_default() -> None:
    better = 0
    for seed in range(6):
        problem = random_formation_problem(np.random.default_rng([seed, 17]), 12, 8)
        default = form_coalitions_scalable(problem, seed=seed)
        single = form_coalitions_scalable(problem, seed=seed, settings=ScalableSettings(restarts=0))
        assert default.total_value >= single.total_value - 1e-9
        better += default.total_value > single.total_value + 1e-9
    assert better >= 1


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="candidates_per_objective"):
        ScalableSettings(candidates_per_objective=0)
    with pytest.raises(ValueError, match=">= 0"):
        ScalableSettings(restarts=-1)


def test_form_coalitions_dispatches_by_name_and_automatically() -> None:
    small = random_formation_problem(np.random.default_rng(1), 10, 3)
    many_agents = random_formation_problem(np.random.default_rng(1), AUTO_EXACT_MAX_AGENTS + 1, 3)
    many_objectives = random_formation_problem(np.random.default_rng(1), 10, AUTO_EXACT_MAX_OBJECTIVES + 1)
    assert form_coalitions(small).algorithm == "exact"
    assert form_coalitions(many_agents).algorithm == "scalable"
    assert form_coalitions(many_objectives).algorithm == "scalable"
    assert form_coalitions(small, algorithm="scalable").algorithm == "scalable"
    exact = form_coalitions(many_objectives, algorithm=FormationAlgorithm.EXACT)
    assert exact.algorithm == "exact"
    assert exact.total_value == form_coalitions_exact(many_objectives).total_value
    with pytest.raises(ValueError, match="greedy"):
        form_coalitions(small, algorithm="greedy")


def test_the_priced_bound_tightens_the_gap_when_agents_are_scarce() -> None:
    tightened = 0
    for seed in range(8):
        problem = random_formation_problem(np.random.default_rng([seed, 17]), 12, 8)
        optimum = form_coalitions_exact(problem).total_value
        plain = form_coalitions_scalable(
            problem, settings=ScalableSettings(restarts=0, bound_refinement_gap=math.inf)
        )
        priced = form_coalitions_scalable(problem, settings=ScalableSettings(restarts=0))
        assert plain.upper_bound is not None
        assert priced.upper_bound is not None
        assert optimum - 1e-9 <= priced.upper_bound <= plain.upper_bound
        tightened += priced.upper_bound < plain.upper_bound - 1e-6
    assert tightened >= 6
