"""The result of coalition formation and how an assignment of agents is valued.

An *assignment* is an ``(N,)`` int64 array: ``assignment[i] = j`` puts agent ``i`` in the coalition serving
objective ``j``; ``-1`` leaves it unassigned. By construction an agent is in at most one coalition and an
objective has at most one coalition; :class:`CoalitionStructure` re-checks both on construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.coalitions.problem import (
    FloatArray,
    FormationProblem,
    IntArray,
    InvalidFormationProblemError,
)
from freeagentics.domain.coalitions.values import CoalitionValueFunction

#: Absolute slack when comparing reported totals and bounds, which are sums of float64 values.
VALUE_TOLERANCE = 1e-7


class CoalitionInvariantError(AssertionError):
    """A coalition structure breaks an invariant (an agent in two coalitions, a forbidden coalition, ...)."""


@dataclass(frozen=True)
class Coalition:
    """The agents (sorted indices) serving one objective, and what they are worth."""

    objective_index: int
    objective_id: str
    members: tuple[int, ...]
    value: float
    satisfied: bool


@dataclass(frozen=True)
class CoalitionStructure:
    """Disjoint coalitions, at most one per objective, found by ``algorithm``.

    - ``coalitions``: the formed coalitions in the problem's objective order.
    - ``unassigned``: sorted indices of agents in no coalition.
    - ``total_value``: the sum of the coalition values.
    - ``upper_bound``: a proven upper bound on the optimal total value, or ``None`` when the algorithm could
      not compute one (the exact algorithm reports its optimum).
    - ``seed``: the seed the algorithm ran with (the same seed gives the same structure).
    """

    coalitions: tuple[Coalition, ...]
    unassigned: tuple[int, ...]
    num_agents: int
    total_value: float
    upper_bound: float | None
    algorithm: str
    seed: int | None

    def __post_init__(self) -> None:
        seen: set[int] = set()
        objectives: set[int] = set()
        for coalition in self.coalitions:
            if not coalition.members:
                raise CoalitionInvariantError(f"coalition for {coalition.objective_id!r} has no members")
            if coalition.objective_index in objectives:
                raise CoalitionInvariantError(f"objective {coalition.objective_id!r} has two coalitions")
            objectives.add(coalition.objective_index)
            if not math.isfinite(coalition.value):
                raise CoalitionInvariantError(f"coalition for {coalition.objective_id!r} may not form")
            for member in coalition.members:
                if member in seen:
                    raise CoalitionInvariantError(f"agent {member} is in two coalitions")
                if not 0 <= member < self.num_agents:
                    raise CoalitionInvariantError(f"agent {member} is out of range")
                seen.add(member)
        if set(self.unassigned) & seen or len(seen) + len(self.unassigned) != self.num_agents:
            raise CoalitionInvariantError("unassigned agents must be exactly the agents in no coalition")
        summed = math.fsum(coalition.value for coalition in self.coalitions)
        if not math.isclose(summed, self.total_value, rel_tol=1e-9, abs_tol=VALUE_TOLERANCE):
            raise CoalitionInvariantError(
                f"total_value {self.total_value} != sum of coalition values {summed}"
            )
        if self.upper_bound is not None and self.upper_bound < self.total_value - VALUE_TOLERANCE * (
            1.0 + abs(self.total_value)
        ):
            raise CoalitionInvariantError(
                f"upper_bound {self.upper_bound} is below the value reached {self.total_value}"
            )

    @property
    def members_by_objective(self) -> dict[str, tuple[int, ...]]:
        """Objective id -> sorted member indices, for the formed coalitions."""
        return {coalition.objective_id: coalition.members for coalition in self.coalitions}

    @property
    def gap(self) -> float | None:
        """``upper_bound - total_value`` (how far from optimal at worst), or ``None`` without a bound."""
        return None if self.upper_bound is None else max(0.0, self.upper_bound - self.total_value)

    @property
    def relative_gap(self) -> float | None:
        """``gap / upper_bound`` (0 when the bound is 0), or ``None`` without a bound."""
        if self.upper_bound is None or self.gap is None:
            return None
        return 0.0 if self.upper_bound <= 0 else self.gap / self.upper_bound

    def assignment(self) -> IntArray:
        """The ``(N,)`` assignment array (objective index per agent, ``-1`` for unassigned)."""
        labels = np.full(self.num_agents, -1, dtype=np.int64)
        for coalition in self.coalitions:
            labels[list(coalition.members)] = coalition.objective_index
        return labels


@dataclass(frozen=True, eq=False)
class AssignmentValues:
    """Per-objective valuation of an assignment: ``values`` ``(M,)`` (0 where no coalition, ``-inf`` for a
    coalition that may not form), ``satisfied`` ``(M,)`` and ``sizes`` ``(M,)``."""

    values: FloatArray
    satisfied: NDArray[np.bool_]
    sizes: IntArray

    @property
    def total(self) -> float:
        return math.fsum(float(v) for v in self.values)


def checked_member_costs(problem: FormationProblem, value_function: CoalitionValueFunction) -> FloatArray:
    """``value_function.member_costs(problem)``, verified to be ``(M, N)``, ``>= 0`` and never NaN."""
    costs = np.asarray(value_function.member_costs(problem), dtype=np.float64)
    expected = (problem.num_objectives, problem.num_agents)
    if costs.shape != expected:
        raise InvalidFormationProblemError(f"member_costs returned shape {costs.shape}, expected {expected}")
    if costs.size and not costs.min() >= 0:
        raise InvalidFormationProblemError("member_costs must be >= 0 (or +inf) and never NaN")
    return costs


def value_assignment(
    problem: FormationProblem,
    value_function: CoalitionValueFunction,
    assignment: IntArray,
    member_costs: FloatArray | None = None,
) -> AssignmentValues:
    """Value every coalition of ``assignment`` ``(N,)``. Cost: ``O(N K + M)`` plus the member costs."""
    labels = np.asarray(assignment, dtype=np.int64)
    num_objectives = problem.num_objectives
    if labels.shape != (problem.num_agents,):
        raise InvalidFormationProblemError(
            f"assignment must have shape ({problem.num_agents},), got {labels.shape}"
        )
    if labels.size and (labels.min() < -1 or labels.max() >= num_objectives):
        raise InvalidFormationProblemError("assignment entries must be -1 or an objective index")
    costs = checked_member_costs(problem, value_function) if member_costs is None else member_costs
    members = np.flatnonzero(labels >= 0)
    chosen = labels[members]
    sizes = np.bincount(chosen, minlength=num_objectives).astype(np.int64)
    totals = np.zeros((num_objectives, problem.num_capabilities))
    for k in range(problem.num_capabilities):
        totals[:, k] = np.bincount(
            chosen, weights=problem.agents.capabilities[members, k], minlength=num_objectives
        )
    travel = np.bincount(chosen, weights=costs[chosen, members], minlength=num_objectives)
    values = np.zeros(num_objectives)
    satisfied = np.zeros(num_objectives, dtype=np.bool_)
    formed = np.flatnonzero(sizes > 0)
    if formed.size:
        gains = value_function.gains(problem, formed, totals[formed], sizes[formed])
        values[formed] = gains.values - travel[formed]
        satisfied[formed] = gains.satisfied
    return AssignmentValues(values=values, satisfied=satisfied, sizes=sizes)


def structure_from_assignment(
    problem: FormationProblem,
    value_function: CoalitionValueFunction,
    assignment: IntArray,
    *,
    algorithm: str,
    seed: int | None,
    upper_bound: float | None,
    member_costs: FloatArray | None = None,
) -> CoalitionStructure:
    """Build the validated :class:`CoalitionStructure` of ``assignment`` ``(N,)``.

    Raises :class:`CoalitionInvariantError` if a coalition in it may not form (value ``-inf``).
    """
    labels = np.asarray(assignment, dtype=np.int64)
    valued = value_assignment(problem, value_function, labels, member_costs)
    order = np.argsort(labels, kind="stable")
    formed = np.flatnonzero(valued.sizes > 0)
    boundaries = np.searchsorted(labels[order], formed)
    coalitions = [
        Coalition(
            objective_index=int(j),
            objective_id=problem.objectives[j].id,
            members=tuple(np.sort(order[start : start + valued.sizes[j]]).tolist()),
            value=float(valued.values[j]),
            satisfied=bool(valued.satisfied[j]),
        )
        for j, start in zip(formed, boundaries, strict=True)
    ]
    unassigned = tuple(np.flatnonzero(labels < 0).tolist())
    total = math.fsum(c.value for c in coalitions)
    return CoalitionStructure(
        coalitions=tuple(coalitions),
        unassigned=unassigned,
        num_agents=problem.num_agents,
        total_value=total,
        upper_bound=upper_bound,
        algorithm=algorithm,
        seed=seed,
    )
