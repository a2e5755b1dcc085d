"""Shared fixtures: a brute-force reference for coalition formation (the best of all (M + 1)^N assignments).

Independent of the algorithms under test: it only uses the value function's public protocol and sums
coalitions with matrix products, so a bug in the algorithms' subset tables cannot hide in here too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from freeagentics.domain.coalitions import CoalitionValueFunction, FormationProblem


def all_assignments(num_agents: int, num_objectives: int) -> np.ndarray:
    """``((M + 1)^N, N)`` every assignment of agents to an objective index or -1."""
    base = num_objectives + 1
    codes = np.arange(base**num_agents, dtype=np.int64)
    digits = (codes[:, None] // base ** np.arange(num_agents)) % base
    return digits - 1


def assignment_values(
    problem: FormationProblem, value_function: CoalitionValueFunction, assignments: np.ndarray
) -> np.ndarray:
    """``(B,)`` total value of each assignment row (``-inf`` if it forms a forbidden coalition)."""
    costs = value_function.member_costs(problem)
    ineligible = np.isinf(costs).astype(np.float64)
    finite_costs = np.where(np.isinf(costs), 0.0, costs)
    capabilities = problem.agents.capabilities
    totals = np.zeros(assignments.shape[0])
    for j in range(problem.num_objectives):
        members = (assignments == j).astype(np.float64)
        sizes = members.sum(axis=1).astype(np.int64)
        formed = sizes > 0
        gains = value_function.gains(
            problem,
            np.full(int(formed.sum()), j, dtype=np.int64),
            members[formed] @ capabilities,
            sizes[formed],
        )
        values = gains.values - members[formed] @ finite_costs[j]
        values[members[formed] @ ineligible[j] > 0] = -np.inf
        totals[formed] += values
    return totals


def brute_force_optimum(problem: FormationProblem, value_function: CoalitionValueFunction) -> float:
    """The largest total value over every assignment (the empty one is worth 0)."""
    assignments = all_assignments(problem.num_agents, problem.num_objectives)
    return float(np.max(assignment_values(problem, value_function, assignments)))


@pytest.fixture(scope="session")
def brute_force() -> Callable[[FormationProblem, CoalitionValueFunction], float]:
    """:func:`brute_force_optimum`, as a fixture (test modules here are not importable packages)."""
    return brute_force_optimum
