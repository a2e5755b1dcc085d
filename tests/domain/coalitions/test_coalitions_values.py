"""Pluggable value functions: a custom protocol implementation and a custom distance work end to end."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from freeagentics.domain.coalitions import (
    CapabilityCoverageValue,
    CoalitionGains,
    CoalitionValueFunction,
    FormationProblem,
    PartialCoverage,
    form_coalitions_exact,
    form_coalitions_scalable,
    random_formation_problem,
)

BruteForce = Callable[[FormationProblem, CoalitionValueFunction], float]


class HeadcountValue:
    """A different value model: an objective needs ``required[0]`` heads (rounded up), whatever their skills;
    members pay their Euclidean distance, and crowding costs ``0.2 * size^2``. It cannot bound objectives."""

    def member_costs(self, problem: FormationProblem) -> np.ndarray:
        centres = (problem.target_boxes[:, :2] + problem.target_boxes[:, 2:]) / 2.0
        offsets = centres[:, None, :] - problem.agents.positions[None, :, :]
        return np.sqrt((offsets**2).sum(axis=2))

    def gains(
        self,
        problem: FormationProblem,
        objective_indices: np.ndarray,
        capability_totals: np.ndarray,
        sizes: np.ndarray,
    ) -> CoalitionGains:
        heads = np.ceil(problem.required[objective_indices, 0])
        enough = sizes >= heads
        values = np.where(enough, problem.rewards[objective_indices] - 0.2 * sizes**2, -np.inf)
        return CoalitionGains(values=values, satisfied=enough)

    def objective_upper_bounds(
        self,
        problem: FormationProblem,
        candidates: np.ndarray,
        candidate_costs: np.ndarray,
        outside_cost_floor: np.ndarray,
    ) -> np.ndarray:
        return np.full(problem.num_objectives, np.inf)


def test_a_custom_value_function_drives_both_algorithms(brute_force: BruteForce) -> None:
    value_function = HeadcountValue()
    for seed in range(6):
        problem = random_formation_problem(np.random.default_rng([seed, 21]), 8, 3)
        exact = form_coalitions_exact(problem, value_function)
        assert exact.total_value == pytest.approx(brute_force(problem, value_function), abs=1e-9)
        scalable = form_coalitions_scalable(problem, value_function, seed=seed)
        assert scalable.upper_bound is None
        assert scalable.total_value <= exact.total_value + 1e-9
        for coalition in scalable.coalitions:
            heads = np.ceil(problem.required[coalition.objective_index, 0])
            assert len(coalition.members) >= heads


def test_a_custom_distance_function_changes_who_serves(brute_force: BruteForce) -> None:
    def chebyshev(positions: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        rows = np.abs(boxes[:, None, 0] - positions[None, :, 0])
        cols = np.abs(boxes[:, None, 1] - positions[None, :, 1])
        return np.maximum(rows, cols).astype(np.float64)

    value_function = CapabilityCoverageValue(distance=chebyshev, distance_cost=1.0)
    problem = random_formation_problem(np.random.default_rng(3), 9, 2)
    expected = chebyshev(problem.agents.positions, problem.target_boxes) + value_function.member_cost
    np.testing.assert_allclose(value_function.member_costs(problem), expected)
    assert form_coalitions_exact(problem, value_function).total_value == pytest.approx(
        brute_force(problem, value_function), abs=1e-9
    )


@pytest.mark.parametrize("policy", list(PartialCoverage))
def test_default_bounds_dominate_every_single_coalition(policy: PartialCoverage) -> None:
    # Each objective's bound, from only its 3 cheapest agents plus the floor, must exceed the value of every
    # coalition of every agent for that objective (enumerated here).
    value_function = CapabilityCoverageValue(partial_coverage=policy, coordination_cost=0.2)
    for seed in range(8):
        problem = random_formation_problem(np.random.default_rng([seed, 8]), 9, 3)
        costs = value_function.member_costs(problem)
        order = np.argsort(costs, axis=1, kind="stable")
        listed = order[:, :3]
        floor = np.take_along_axis(costs, order[:, 3:4], axis=1)[:, 0]
        bounds = value_function.objective_upper_bounds(
            problem, listed, np.take_along_axis(costs, listed, axis=1), floor
        )
        masks = (np.arange(1, 2**problem.num_agents)[:, None] >> np.arange(problem.num_agents)) & 1
        for j in range(problem.num_objectives):
            gains = value_function.gains(
                problem,
                np.full(masks.shape[0], j),
                masks @ problem.agents.capabilities,
                masks.sum(axis=1),
            )
            best = np.max(gains.values - masks @ costs[j])
            assert bounds[j] >= best - 1e-9
