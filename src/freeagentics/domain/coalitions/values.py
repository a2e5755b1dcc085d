"""Pluggable coalition value functions.

Every formation algorithm values the coalition ``S`` (a non-empty set of agent indices) serving
objective ``j`` as::

    v_j(S) = gain_j(capability totals of S, |S|)  -  sum_{i in S} member_cost[j, i]

A value function supplies the two parts through :class:`CoalitionValueFunction`: an additive, per-member
cost (travel, typically; ``+inf`` marks an agent that cannot serve the objective at all) and a gain that
depends on the coalition only through its summed capabilities and its size (coverage, size costs).
``gain = -inf`` means the coalition may not form (for instance it does not cover the objective's
requirements and partial coverage is rejected). An empty coalition is no coalition: it is worth 0 and the
value function is never asked about it. This decomposition is what lets the exact algorithm enumerate
every subset with vectorised prefix sums and the scalable one grow coalitions agent by agent.

:class:`CapabilityCoverageValue` is the default: capability coverage (with a configurable
:class:`PartialCoverage` policy), travel distance to the target region and a coalition-size cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.coalitions.problem import (
    FloatArray,
    FormationProblem,
    IntArray,
    InvalidFormationProblemError,
)

BoolArray = NDArray[np.bool_]

#: A distance function: ``(positions (N, 2), target_boxes (M, 4)) -> distances (M, N)`` in cells (>= 0).
DistanceFunction = Callable[[IntArray, IntArray], FloatArray]


class PartialCoverage(Enum):
    """What the default value function does with a coalition that does not cover every requirement."""

    #: The coalition may not form (its gain is ``-inf``).
    REJECT = "reject"
    #: The coalition may form and is credited the covered fraction of the reward; it is reported as not
    #: satisfying its objective.
    CREDIT_PARTIAL = "credit_partial"


@dataclass(frozen=True, eq=False)
class CoalitionGains:
    """Gains of a batch of ``B`` candidate coalitions.

    - ``values``: ``(B,)`` float64, ``-inf`` where the coalition may not form.
    - ``satisfied``: ``(B,)`` bool, whether the coalition covers every requirement of its objective.
    """

    values: FloatArray
    satisfied: BoolArray


class CoalitionValueFunction(Protocol):
    """How much a coalition is worth to an objective (see the module docstring for the decomposition)."""

    def member_costs(self, problem: FormationProblem) -> FloatArray:
        """``(M, N)`` cost of agent ``i`` serving objective ``j``: ``>= 0``; ``+inf`` if it cannot."""
        ...

    def gains(
        self,
        problem: FormationProblem,
        objective_indices: IntArray,
        capability_totals: FloatArray,
        sizes: IntArray,
    ) -> CoalitionGains:
        """Gains of ``B`` non-empty coalitions given their objective ``(B,)``, summed capabilities ``(B, K)``
        and member counts ``(B,)``."""
        ...

    def objective_upper_bounds(
        self,
        problem: FormationProblem,
        candidates: IntArray,
        candidate_costs: FloatArray,
        outside_cost_floor: FloatArray,
    ) -> FloatArray:
        """``(M,)`` upper bounds on ``max_S v_j(S)`` (``+inf`` when unknown).

        ``candidates`` ``(M, L)`` lists agent indices per objective with their member costs
        ``candidate_costs`` ``(M, L)``; every agent *not* listed for objective ``j`` has a member cost of at
        least ``outside_cost_floor[j]`` (``+inf`` when the list is complete). A bound must hold for every
        coalition drawn from all ``N`` agents.
        """
        ...


def manhattan_distance_to_regions(positions: IntArray, target_boxes: IntArray) -> FloatArray:
    """``(M, N)`` Manhattan distance from each agent cell to the nearest cell of each target region.

    ``positions`` is ``(N, 2)`` ``(row, col)``; ``target_boxes`` is ``(M, 4)`` ``(top, left, bottom, right)``.
    Computed in place in two ``(M, N)`` buffers because this is the dominant cost of formation for
    thousands of agents and objectives.
    """
    rows = positions[:, 0].astype(np.float64)
    cols = positions[:, 1].astype(np.float64)
    top, left, bottom, right = (target_boxes[:, c].astype(np.float64)[:, None] for c in range(4))
    distance = np.subtract(top, rows[None, :])
    if np.array_equal(top, bottom):
        np.abs(distance, out=distance)
    else:
        beyond = np.subtract(rows[None, :], bottom)
        np.maximum(distance, beyond, out=distance)
        np.maximum(distance, 0.0, out=distance)
    column_part = np.subtract(left, cols[None, :])
    if np.array_equal(left, right):
        np.abs(column_part, out=column_part)
    else:
        beyond = np.subtract(cols[None, :], right)
        np.maximum(column_part, beyond, out=column_part)
        np.maximum(column_part, 0.0, out=column_part)
    distance += column_part
    return distance


@dataclass(frozen=True)
class CapabilityCoverageValue:
    """The default value function: coverage of required capabilities, minus travel and size costs.

    For objective ``j`` with reward ``R_j = value * priority`` and requirements ``r_j`` ``(K,)``, a coalition
    ``S`` with capability totals ``T`` and size ``s = |S|`` is worth::

        coverage_j(T) * R_j
          - coordination_cost * s (s - 1) / 2
          - sum_{i in S} (distance_cost * d_ij + member_cost)

    - ``coverage_j(T)`` is 1 when ``T >= r_j`` in every capability (within ``coverage_tolerance``, relative).
      Otherwise the ``partial_coverage`` policy decides: ``REJECT`` forbids the coalition;
      ``CREDIT_PARTIAL`` credits ``sum_k min(T_k, r_jk) / sum_k r_jk`` (a coalition covering nothing may not
      form).
    - ``d_ij`` is the travel distance of agent ``i`` to objective ``j``'s target region (``distance``,
      Manhattan by default). An agent that cannot arrive before the deadline (one cell per tick) cannot
      serve the objective.
    - ``member_cost`` is a per-member cost and ``coordination_cost`` a per-pair cost: together the
      coalition-size cost.
    """

    distance_cost: float = 0.1
    member_cost: float = 0.5
    coordination_cost: float = 0.0
    partial_coverage: PartialCoverage = PartialCoverage.REJECT
    distance: DistanceFunction = manhattan_distance_to_regions
    coverage_tolerance: float = 1e-9

    def __post_init__(self) -> None:
        for name in ("distance_cost", "member_cost", "coordination_cost", "coverage_tolerance"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidFormationProblemError(f"{name} must be finite and >= 0, got {value!r}")
        if not isinstance(self.partial_coverage, PartialCoverage):
            raise InvalidFormationProblemError(
                f"partial_coverage must be a PartialCoverage, got {self.partial_coverage!r}"
            )

    def member_costs(self, problem: FormationProblem) -> FloatArray:
        """``(M, N)``: ``distance_cost * d_ij + member_cost``, ``+inf`` past the deadline."""
        raw = self.distance(problem.agents.positions, problem.target_boxes)
        # The built-in distance returns a fresh array, so it is scaled in place (one (M, N) pass fewer);
        # a caller's function might return an array it keeps, so that one is copied.
        in_place = self.distance is manhattan_distance_to_regions
        distances = np.asarray(raw, dtype=np.float64) if in_place else np.array(raw, dtype=np.float64)
        expected = (problem.num_objectives, problem.num_agents)
        if distances.shape != expected:
            raise InvalidFormationProblemError(
                f"distance function returned shape {distances.shape}, expected {expected}"
            )
        late = distances > problem.ticks_left[:, None] if np.isfinite(problem.ticks_left).any() else None
        costs = distances
        costs *= self.distance_cost
        costs += self.member_cost
        if late is not None:
            costs[late] = np.inf
        return costs

    def gains(
        self,
        problem: FormationProblem,
        objective_indices: IntArray,
        capability_totals: FloatArray,
        sizes: IntArray,
    ) -> CoalitionGains:
        single = objective_indices.size > 0 and bool(np.all(objective_indices == objective_indices[0]))
        # One objective for the whole batch (the exact algorithm's 2^n subsets): broadcast its row instead
        # of gathering B copies of it.
        rows = objective_indices[:1] if single else objective_indices
        required = problem.required[rows]
        threshold = required - self.coverage_tolerance * (1.0 + required)
        satisfied = np.all(capability_totals >= threshold, axis=1)
        gross = problem.rewards[rows]
        if self.coordination_cost > 0:
            gross = gross - self.coordination_cost * sizes * (sizes - 1) / 2.0
        if self.partial_coverage is PartialCoverage.REJECT:
            values = np.where(satisfied, gross, -np.inf)
        else:
            covered = np.minimum(capability_totals, required).sum(axis=1) / required.sum(axis=1)
            fraction = np.where(satisfied, 1.0, covered)
            values = np.where(fraction > 0, problem.rewards[rows] * fraction, -np.inf)
            if self.coordination_cost > 0:
                values -= self.coordination_cost * sizes * (sizes - 1) / 2.0
        if values.shape != satisfied.shape:
            values = np.broadcast_to(values, satisfied.shape).copy()
        return CoalitionGains(values=values, satisfied=satisfied)

    def objective_upper_bounds(
        self,
        problem: FormationProblem,
        candidates: IntArray,
        candidate_costs: FloatArray,
        outside_cost_floor: FloatArray,
    ) -> FloatArray:
        """Fractional-relaxation bounds on each objective's best single coalition.

        ``REJECT``: ``R_j`` minus a lower bound on the cheapest cover, the largest of (a) the fractional
        cover cost of each capability alone, (b) the fractional cover cost of all capabilities with each
        agent's cost split across the capabilities it contributes, (c) the sum of the ``m_j`` cheapest member
        costs, where ``m_j`` is the fewest agents that can cover the requirement; minus the coordination cost
        of ``m_j`` members. ``CREDIT_PARTIAL``: the split relaxation of the fractional profit per capability.
        Agents outside the candidate lists enter as an unlimited supply at the cheapest unit price any of
        them could offer. Cost: ``O(M L K log L)``.
        """
        required = problem.required
        rewards = problem.rewards
        num_objectives, _ = candidates.shape
        capabilities = problem.agents.capabilities
        largest_capability = (
            capabilities.max(axis=0) if problem.num_agents else np.zeros(problem.num_capabilities)
        )
        candidate_capabilities = capabilities[candidates]  # (M, L, K)
        usable = np.isfinite(candidate_costs)
        relevant_amounts = np.minimum(candidate_capabilities, required[:, None, :])
        relevant_total = relevant_amounts.sum(axis=2)  # (M, L)
        floor = outside_cost_floor[:, None]
        if self.partial_coverage is PartialCoverage.REJECT:
            return self._cover_bounds(
                required,
                rewards,
                candidate_capabilities,
                candidate_costs,
                usable,
                relevant_amounts,
                relevant_total,
                floor,
                largest_capability,
                num_objectives,
            )
        return self._partial_bounds(
            required,
            rewards,
            candidate_capabilities,
            candidate_costs,
            usable,
            relevant_amounts,
            relevant_total,
            floor,
            largest_capability,
        )

    def _cover_bounds(
        self,
        required: FloatArray,
        rewards: FloatArray,
        candidate_capabilities: FloatArray,
        candidate_costs: FloatArray,
        usable: BoolArray,
        relevant_amounts: FloatArray,
        relevant_total: FloatArray,
        floor: FloatArray,
        largest_capability: FloatArray,
        num_objectives: int,
    ) -> FloatArray:
        demand = required * (1.0 - self.coverage_tolerance) - self.coverage_tolerance
        single_capability_cost = np.zeros(num_objectives)
        split_cost = np.zeros(num_objectives)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(
                relevant_total[:, :, None] > 0, relevant_amounts / relevant_total[:, :, None], 0.0
            )
            for k in range(required.shape[1]):
                needs = demand[:, k] > 0
                if not needs.any():
                    continue
                amount = candidate_capabilities[:, :, k]
                has = usable & (amount > 0)
                price = np.where(has, candidate_costs / np.where(has, amount, 1.0), np.inf)
                outside_price = (
                    floor[:, 0] / largest_capability[k]
                    if largest_capability[k] > 0
                    else np.full(num_objectives, np.inf)
                )
                cost_k = _fractional_cover_cost(
                    price, np.where(has, amount, 0.0), outside_price, demand[:, k]
                )
                single_capability_cost = np.maximum(single_capability_cost, np.where(needs, cost_k, 0.0))
                split_price = np.where(
                    has, share[:, :, k] * candidate_costs / np.where(has, amount, 1.0), np.inf
                )
                split_outside = _split_outside_price(floor[:, 0], required, largest_capability, k)
                split_k = _fractional_cover_cost(
                    split_price, np.where(has, amount, 0.0), split_outside, demand[:, k]
                )
                split_cost += np.where(needs, split_k, 0.0)
            with np.errstate(divide="ignore"):
                per_capability = np.where(
                    required > 0,
                    np.ceil(demand / np.where(largest_capability > 0, largest_capability, 0.0)),
                    0.0,
                )
            per_capability = np.nan_to_num(per_capability, nan=np.inf, posinf=np.inf)
        fewest_members = np.maximum(per_capability.max(axis=1), 1.0)
        cheapest_members = _sum_of_cheapest(candidate_costs, floor[:, 0], fewest_members)
        cover_cost = np.maximum(np.maximum(single_capability_cost, split_cost), cheapest_members)
        finite_members = np.where(np.isfinite(fewest_members), fewest_members, 0.0)
        coordination = self.coordination_cost * finite_members * (finite_members - 1) / 2.0
        bounds = rewards - cover_cost - coordination
        bounds = np.where(np.isfinite(fewest_members), bounds, -np.inf)
        return np.asarray(bounds, dtype=np.float64)

    def _partial_bounds(
        self,
        required: FloatArray,
        rewards: FloatArray,
        candidate_capabilities: FloatArray,
        candidate_costs: FloatArray,
        usable: BoolArray,
        relevant_amounts: FloatArray,
        relevant_total: FloatArray,
        floor: FloatArray,
        largest_capability: FloatArray,
    ) -> FloatArray:
        unit_value = rewards / required.sum(axis=1)
        bounds = np.zeros(required.shape[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(
                relevant_total[:, :, None] > 0, relevant_amounts / relevant_total[:, :, None], 0.0
            )
            for k in range(required.shape[1]):
                amount = candidate_capabilities[:, :, k]
                has = usable & (amount > 0) & (required[:, k : k + 1] > 0)
                price = np.where(has, share[:, :, k] * candidate_costs / np.where(has, amount, 1.0), np.inf)
                outside = _split_outside_price(floor[:, 0], required, largest_capability, k)
                bounds += _fractional_profit(
                    price, np.where(has, amount, 0.0), outside, required[:, k], unit_value
                )
        return np.asarray(bounds, dtype=np.float64)


def _split_outside_price(floor: FloatArray, required: FloatArray, largest: FloatArray, k: int) -> FloatArray:
    """Cheapest unit price of capability ``k`` an unlisted agent offers when its cost is split by share.

    An unlisted agent costs at least ``floor``; its share of capability ``k`` is at least
    ``min(c_k, r_k) / sum_k' r_k'`` and it offers ``c_k <= largest[k]`` units, so a unit costs at least
    ``floor * min(1, r_k / largest_k) / sum_k' r_k'``.
    """
    if largest[k] <= 0:
        return np.full(floor.shape, np.inf)
    fraction = np.minimum(1.0, required[:, k] / largest[k]) / required.sum(axis=1)
    with np.errstate(invalid="ignore"):
        price = floor * fraction
    return np.where(fraction > 0, price, np.inf)


def _sorted_supply(
    prices: FloatArray, capacities: FloatArray, outside_price: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Listed supply plus an unlimited outside supply, sorted by unit price: ``(M, L + 1)`` each."""
    all_prices = np.concatenate([prices, outside_price[:, None]], axis=1)
    outside_capacity = np.where(np.isfinite(outside_price), np.inf, 0.0)
    all_capacities = np.concatenate([capacities, outside_capacity[:, None]], axis=1)
    order = np.argsort(all_prices, axis=1, kind="stable")
    return np.take_along_axis(all_prices, order, axis=1), np.take_along_axis(all_capacities, order, axis=1)


def _units_before(capacities: FloatArray) -> FloatArray:
    """Exclusive running sum along axis 1 (units offered by cheaper suppliers); exact with ``inf`` entries."""
    running = np.zeros_like(capacities)
    np.cumsum(capacities[:, :-1], axis=1, out=running[:, 1:])
    return running


def _fractional_cover_cost(
    prices: FloatArray, capacities: FloatArray, outside_price: FloatArray, demand: FloatArray
) -> FloatArray:
    """``(M,)`` cheapest cost of buying ``demand`` units, fractions allowed; ``inf`` if supply runs short."""
    sorted_prices, sorted_capacities = _sorted_supply(prices, capacities, outside_price)
    bought_before = _units_before(sorted_capacities)
    take = np.clip(demand[:, None] - bought_before, 0.0, sorted_capacities)
    spent = np.where(take > 0, sorted_prices * take, 0.0)
    short = np.nan_to_num(sorted_capacities.sum(axis=1), nan=np.inf) < demand
    return np.where(short, np.inf, spent.sum(axis=1))


def _fractional_profit(
    prices: FloatArray,
    capacities: FloatArray,
    outside_price: FloatArray,
    demand: FloatArray,
    unit_value: FloatArray,
) -> FloatArray:
    """``(M,)`` best ``sum (unit_value - price) * units`` buying at most ``demand`` units, fractionally."""
    sorted_prices, sorted_capacities = _sorted_supply(prices, capacities, outside_price)
    bought_before = _units_before(sorted_capacities)
    take = np.clip(demand[:, None] - bought_before, 0.0, sorted_capacities)
    margin = unit_value[:, None] - sorted_prices
    profit = np.where((take > 0) & (margin > 0), margin * take, 0.0)
    return np.asarray(profit.sum(axis=1), dtype=np.float64)


def _sum_of_cheapest(costs: FloatArray, outside_floor: FloatArray, counts: FloatArray) -> FloatArray:
    """``(M,)`` sum of the ``counts[j]`` smallest member costs, unlisted agents costing ``outside_floor``."""
    num_objectives, listed = costs.shape
    limit = int(min(np.nanmax(np.where(np.isfinite(counts), counts, 0.0), initial=0.0), listed + 64))
    padded = np.concatenate([costs, np.repeat(outside_floor[:, None], max(limit, 1), axis=1)], axis=1)
    padded.sort(axis=1)
    cumulative = np.cumsum(padded, axis=1)
    index = np.clip(np.where(np.isfinite(counts), counts, 1.0).astype(np.int64) - 1, 0, padded.shape[1] - 1)
    total = cumulative[np.arange(num_objectives), index]
    total = np.where(np.isnan(total), np.inf, total)
    return np.where(np.isfinite(counts), total, np.inf)
