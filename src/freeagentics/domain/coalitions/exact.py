"""Exact coalition formation: the assignment of agents to objectives with the largest total value.

The problem: choose disjoint coalitions ``S_1 .. S_M`` (``S_j`` possibly empty = objective not served)
maximising ``sum_j v_j(S_j)``, where ``v_j`` is the value function's coalition value and ``v_j(empty) = 0``.

When agents share capability rows so that the *count lattice* ``prod_t (n_t + 1)`` over capability classes
is small (at most :data:`.classes.MAX_CLASS_LATTICE` points, and fewer than ``2^n``), the problem is solved
instead over count vectors with exact assignment costs (:mod:`.classes`): 20 agents with one capability
row have 21 count vectors instead of ``2^20`` subsets, which the subset search below handles worst.

Method otherwise (dynamic programming over subsets, then a Lagrangian-bounded branch and bound over
objectives):

1. **Subset tables.** For the ``n`` agents that can serve at least one objective, the capability totals,
   sizes and summed member costs of all ``2^n`` subsets are built by doubling (subset ``S | {b}`` from
   ``S``), and every objective's value table ``v_j`` over all subsets comes from one vectorised call to the
   value function. ``O(2^n (K + M))`` time, ``O(2^n (K + M))`` memory.
2. **Best sub-coalitions.** A subset-maximum transform (the max-plus zeta transform, ``O(n 2^n)`` per
   objective) gives ``best_j(U) = max_{S subset of U} v_j(S)`` for every agent set ``U``.
3. **Useful coalitions.** An optimum never needs a coalition that one of its proper subsets matches or
   beats (swapping it for that subset frees agents at no loss), so each objective keeps only coalitions
   with ``v_j(S) = best_j(S) > 0`` (ties kept, which is harmless). For the default value function these
   are the cheap minimal covers, usually a tiny fraction of ``2^n``. ``O(2^n)``.
4. **Agent prices.** Subgradient descent at the root finds Lagrange multipliers ``p_i >= 0`` for "each
   agent in at most one coalition"; for free agents ``F``, ``p(F) + sum_k max(0, max_S v_k(S) - p(S))``
   (``S`` useful and inside ``F``) then bounds what the remaining objectives can add, close to the LP
   relaxation of the set-packing problem. ``O(iterations * sum_j L_j * n)``, at most about 3e8 steps.
5. **Branch and bound** over objectives (most valuable first) choosing one useful coalition or none. A
   child is pruned with the smaller of the priced bound and a capacity bound: the best sum of
   ``best_k(free)`` over the sets of remaining objectives whose smallest useful coalitions fit into the
   free agents together. The last objective is never branched on (``best_last(free)`` is its exact
   optimum) and the second-to-last is resolved in one vectorised pass over its useful coalitions. Each
   node's bound on what it can still add is remembered per ``(depth, free agents)``, so interchangeable
   agents reaching the same free set along many paths are searched once (dynamic programming over the
   free sets actually reached). With many useful coalitions the priced bound is read from subset tables
   (one more transform per objective) instead of scanning the lists. Worst case ``O(prod_j L_j)`` nodes
   for ``L_j`` useful coalitions per objective; typically a handful. Many agents with equal capabilities
   make it explode (seconds to minutes at n = 20), which is why such problems go to :mod:`.classes`.

The result is optimal for the given value function (it equals brute force over all
``(M + 1)^N`` assignments, see the tests). No randomness is involved; ``seed`` is recorded only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.coalitions.classes import MAX_CLASS_LATTICE, lattice_size, solve_by_classes
from freeagentics.domain.coalitions.problem import (
    FloatArray,
    FormationProblem,
    IntArray,
    InvalidFormationProblemError,
)
from freeagentics.domain.coalitions.structure import (
    CoalitionStructure,
    checked_member_costs,
    structure_from_assignment,
)
from freeagentics.domain.coalitions.values import CapabilityCoverageValue, CoalitionValueFunction

#: Most agents (able to serve some objective) the exact algorithm accepts: its tables hold ``2^n`` rows.
MAX_EXACT_AGENTS = 22

ALGORITHM_NAME = "exact"


@dataclasses.dataclass(frozen=True, eq=False)
class _ObjectiveTables:
    """One objective's subset tables over the ``n`` enumerated agents (bit ``b`` = enumerated agent ``b``)."""

    best: FloatArray  # (2^n,) best_j(U)
    useful_masks: NDArray[np.int64]  # (L,) useful coalitions, by decreasing value
    useful_values: FloatArray  # (L,)
    min_size: int  # members of the smallest useful coalition (n + 1 if there is none)


def form_coalitions_exact(
    problem: FormationProblem,
    value_function: CoalitionValueFunction | None = None,
    *,
    seed: int = 0,
) -> CoalitionStructure:
    """The optimal coalition structure of ``problem`` under ``value_function`` (default
    :class:`CapabilityCoverageValue`).

    Raises :class:`InvalidFormationProblemError` when more than :data:`MAX_EXACT_AGENTS` agents could serve an
    objective. The structure's ``upper_bound`` is its own (optimal) total value. Complexity: see the module
    docstring, ``O(2^n (K + M) + M n 2^n)`` plus the branch and bound.
    """
    values = CapabilityCoverageValue() if value_function is None else value_function
    num_agents, num_objectives = problem.num_agents, problem.num_objectives
    costs = checked_member_costs(problem, values)
    assignment = np.full(num_agents, -1, dtype=np.int64)
    enumerated = np.flatnonzero(np.isfinite(costs).any(axis=0)) if num_objectives else np.zeros(0, np.int64)
    if enumerated.size > MAX_EXACT_AGENTS:
        raise InvalidFormationProblemError(
            f"exact formation enumerates 2^n subsets and accepts at most {MAX_EXACT_AGENTS} agents able to "
            f"serve an objective; this problem has {enumerated.size} (use the scalable algorithm)"
        )
    if enumerated.size and num_objectives and _use_classes(problem, enumerated):
        assignment = solve_by_classes(problem, values, costs, enumerated)
    elif enumerated.size and num_objectives:
        tables = _objective_tables(problem, values, costs, enumerated)
        chosen = _branch_and_bound(tables)
        for objective, mask in chosen.items():
            members = enumerated[[b for b in range(enumerated.size) if mask >> b & 1]]
            assignment[members] = objective
    structure = structure_from_assignment(
        problem, values, assignment, algorithm=ALGORITHM_NAME, seed=seed, upper_bound=None, member_costs=costs
    )
    return dataclasses.replace(structure, upper_bound=structure.total_value)


def _use_classes(problem: FormationProblem, enumerated: IntArray) -> bool:
    """Whether to search over capability-class counts (:mod:`.classes`) instead of subsets: when some agents
    share a capability row (the count lattice is smaller than the ``2^n`` subsets) and the lattice has at
    most :data:`.classes.MAX_CLASS_LATTICE` points.

    Measured on 20 agents (``docs/performance.md``): the class search takes 0.01-0.5 s up to that size
    while the subset search, with many agents sharing capability rows, ran from 0.3 s to minutes; on
    problems where nearly every agent differs the subset search is the faster one (0.2-0.4 s).
    """
    size = lattice_size(problem, enumerated)
    return size <= MAX_CLASS_LATTICE and size < 1 << enumerated.size


def _subset_sums(per_agent: FloatArray) -> FloatArray:
    """``(2^n, C)`` sums over every subset of the rows of ``per_agent`` ``(n, C)``, by doubling.

    Returned as the transpose of a ``(C, 2^n)`` array: each column is contiguous, which makes the
    per-subset reductions over ``C`` that value functions do (``all``, ``sum`` along axis 1) an order of
    magnitude faster than on row-major rows of 3 or 4 numbers.
    """
    count, columns = per_agent.shape
    sums = np.zeros((columns, 1 << count))
    for b in range(count):
        half = 1 << b
        np.add(sums[:, :half], per_agent[b][:, None], out=sums[:, half : 2 * half])
    return sums.T


def _objective_tables(
    problem: FormationProblem,
    value_function: CoalitionValueFunction,
    costs: FloatArray,
    enumerated: IntArray,
) -> list[_ObjectiveTables]:
    count = enumerated.size
    capability_totals = _subset_sums(problem.agents.capabilities[enumerated])
    sizes = _subset_sums(np.ones((count, 1)))[:, 0].astype(np.int64)
    tables = []
    for j in range(problem.num_objectives):
        coalition_values = np.zeros(1 << count)
        member_cost_sums = _subset_sums(costs[j, enumerated][:, None])[:, 0]
        gains = value_function.gains(
            problem, np.full((1 << count) - 1, j, dtype=np.int64), capability_totals[1:], sizes[1:]
        )
        np.subtract(gains.values, member_cost_sums[1:], out=coalition_values[1:])
        if np.isnan(coalition_values.max()):
            raise InvalidFormationProblemError(f"the value function returned NaN gains for objective {j}")
        best = _subset_maximum(coalition_values)
        useful = np.flatnonzero((coalition_values >= best) & (coalition_values > 0))
        order = np.argsort(-coalition_values[useful], kind="stable")
        tables.append(
            _ObjectiveTables(
                best=best,
                useful_masks=useful[order].astype(np.int64),
                useful_values=coalition_values[useful[order]],
                min_size=int(np.bitwise_count(useful).min(initial=count + 1)),
            )
        )
    return tables


def _subset_maximum(values: FloatArray) -> FloatArray:
    """``best[U] = max_{S subset of U} values[S]`` (the max-plus zeta transform), ``O(n 2^n)``."""
    best = values.copy()
    for b in range(values.size.bit_length() - 1):
        half = 1 << b
        pairs = best.reshape(-1, 2 * half)
        np.maximum(pairs[:, half:], pairs[:, :half], out=pairs[:, half:])
    return best


def _branch_and_bound(tables: list[_ObjectiveTables]) -> dict[int, int]:
    """Objective index -> chosen subset mask of an optimal structure (objectives left out get none)."""
    full = len(tables[0].best) - 1
    order = sorted(range(len(tables)), key=lambda j: (-float(tables[j].best[full]), j))
    ordered = [tables[j] for j in order]
    prices = _agent_prices(ordered, full.bit_length())
    search = _Search(tables=ordered, prices=prices, reduced=[_ReducedValues.of(t, prices) for t in ordered])
    if sum(t.useful_masks.size for t in ordered) > _PRICED_TABLES_FROM:
        search.price_of = _subset_sums(prices[:, None])[:, 0]
        search.priced_best = [_priced_best(t, search.price_of) for t in ordered]
    search.explore(depth=0, free=full, value=0.0, path=())
    return {order[depth]: mask for depth, mask in enumerate(search.best_path) if mask}


#: Subgradient iterations for the agent prices (fewer when there are very many useful coalitions, so
#: that iterations x useful coalitions x agents stays within ``_PRICE_WORK``), and how many
#: non-improving iterations halve the step.
_PRICE_ITERATIONS = 400
_PRICE_MIN_ITERATIONS = 10
_PRICE_WORK = 300_000_000
_PRICE_PATIENCE = 10
#: Most (children x useful coalitions) pairs for which a node computes the priced bound from the lists.
_PRICED_BOUND_WORK = 1 << 24
#: Most ``(depth, free agents)`` completion bounds remembered (about 100 bytes each).
_MAX_REMEMBERED_NODES = 2_000_000
#: Most remaining objectives for which the capacity bound enumerates which of them fit.
_CAPACITY_BOUND_MAX_OBJECTIVES = 8
#: Beyond this many useful coalitions in all, the priced bound comes from subset tables instead (``O(1)``
#: per node after ``O(M n 2^n)`` once): many useful coalitions mean many nodes, typically from
#: interchangeable agents.
_PRICED_TABLES_FROM = 4096


def _priced_best(table: _ObjectiveTables, price_of: FloatArray) -> FloatArray:
    """``(2^n,)`` ``max(0, max_{S useful, S subset of U} v(S) - p(S))`` for every agent set ``U``.

    With prices >= 0 a non-useful coalition is never better net of prices than its best useful subset,
    so the maximum over useful coalitions is the maximum over all of them.
    """
    net = np.full(price_of.size, -np.inf)
    net[0] = 0.0
    net[table.useful_masks] = table.useful_values - price_of[table.useful_masks]
    return _subset_maximum(net)


def _memberships(masks: NDArray[np.int64], num_bits: int) -> FloatArray:
    """``(L, n)`` 0/1 membership of each enumerated agent in each mask."""
    return ((masks[:, None] >> np.arange(num_bits)) & 1).astype(np.float64)


def _agent_prices(tables: list[_ObjectiveTables], num_bits: int) -> FloatArray:
    """Lagrange multipliers ``(n,)`` >= 0 for "each agent in at most one coalition".

    For any prices ``p``, ``sum_{i in F} p_i + sum_k max(0, max_{S subset of F} v_k(S) - p(S))`` bounds the
    best completion using the free agents ``F`` (relaxing agent disjointness, charging each agent's price
    instead). Subgradient descent on that bound at the root (Polyak steps towards a greedy solution's
    value) finds prices for which it is close to the LP bound of the set-packing problem; the search
    then uses it beside the price-free bound. ``O(iterations * sum_k L_k * n)``.
    """
    memberships = [_memberships(t.useful_masks, num_bits) for t in tables]
    values = [t.useful_values for t in tables]
    lower = _greedy_value(tables)
    prices = np.zeros(num_bits)
    best_prices, best_bound = prices, np.inf
    step_scale, stalled = 1.0, 0
    work_per_iteration = max(1, sum(m.size for m in memberships))
    iterations = int(np.clip(_PRICE_WORK // work_per_iteration, _PRICE_MIN_ITERATIONS, _PRICE_ITERATIONS))
    for _ in range(iterations):
        bound = float(prices.sum())
        used = np.zeros(num_bits)
        picked_value = 0.0
        for membership, value in zip(memberships, values, strict=True):
            if value.size == 0:
                continue
            reduced = value - membership @ prices
            k = int(np.argmax(reduced))
            if reduced[k] > 0:
                bound += float(reduced[k])
                used += membership[k]
                picked_value += float(value[k])
        if np.all(used <= 1):
            lower = max(lower, picked_value)
        if bound < best_bound - 1e-12:
            best_prices, best_bound, stalled = prices, bound, 0
        else:
            stalled += 1
            if stalled >= _PRICE_PATIENCE:
                step_scale, stalled = step_scale / 2, 0
        subgradient = 1.0 - used
        direction = np.where((prices <= 0) & (subgradient > 0), 0.0, subgradient)
        norm = float(direction @ direction)
        if norm == 0 or best_bound - lower <= 1e-9 or step_scale < 1e-6:
            break
        prices = np.maximum(0.0, prices - step_scale * (bound - lower) / norm * direction)
    return best_prices


def _greedy_value(tables: list[_ObjectiveTables]) -> float:
    """Value of taking, objective by objective, its best useful coalition disjoint from those taken."""
    used = 0
    total = 0.0
    for table in tables:
        within = np.flatnonzero((table.useful_masks & used) == 0)
        if within.size:
            used |= int(table.useful_masks[within[0]])
            total += float(table.useful_values[within[0]])
    return total


@dataclasses.dataclass(frozen=True, eq=False)
class _ReducedValues:
    """An objective's useful coalitions by decreasing ``v(S) - p(S)`` (their value net of agent prices)."""

    masks: NDArray[np.int64]
    values: FloatArray

    @classmethod
    def of(cls, table: _ObjectiveTables, prices: FloatArray) -> _ReducedValues:
        reduced = table.useful_values - _memberships(table.useful_masks, prices.size) @ prices
        order = np.argsort(-reduced, kind="stable")
        return cls(masks=table.useful_masks[order], values=reduced[order])

    def best_within(self, free: NDArray[np.int64]) -> FloatArray:
        """``(C,)`` ``max(0, max_{S subset of free[c]} v(S) - p(S))``."""
        if self.masks.size == 0:
            return np.zeros(free.shape)
        compatible = (self.masks[None, :] & ~free[:, None]) == 0
        first = np.argmax(compatible, axis=1)
        found = compatible[np.arange(free.size), first]
        return np.where(found, np.maximum(self.values[first], 0.0), 0.0)


@dataclasses.dataclass
class _Search:
    """Depth-first branch and bound over the objectives in ``tables`` order."""

    tables: list[_ObjectiveTables]
    prices: FloatArray
    reduced: list[_ReducedValues]
    price_of: FloatArray | None = None  # (2^n,) p(U), when the priced bound comes from tables
    priced_best: list[FloatArray] | None = None  # per objective, see _priced_best
    best_value: float = -np.inf
    best_path: tuple[int, ...] = ()
    completion_bounds: dict[tuple[int, int], float] = dataclasses.field(default_factory=dict)

    def _remaining_bound(self, depth: int, free: NDArray[np.int64]) -> FloatArray:
        """Upper bound on what objectives ``depth..`` can still add with the agents of each ``free`` mask."""
        independent = self._capacity_bound(depth, free)
        if self.price_of is not None and self.priced_best is not None:
            priced_from_tables = self.price_of[free]
            for priced_best in self.priced_best[depth:]:
                priced_from_tables += priced_best[free]
            return np.minimum(independent, priced_from_tables)
        work = free.size * sum(reduced.masks.size for reduced in self.reduced[depth:])
        if work > _PRICED_BOUND_WORK:
            # Pathologically many useful coalitions: the O(1) bound alone keeps each node affordable.
            return independent
        priced = np.zeros(free.shape)
        for bit, price in enumerate(self.prices):
            if price > 0:
                priced += price * ((free >> bit) & 1)
        for reduced in self.reduced[depth:]:
            priced += reduced.best_within(free)
        return np.minimum(independent, priced)

    def _capacity_bound(self, depth: int, free: NDArray[np.int64]) -> FloatArray:
        """``max over sets T of remaining objectives that fit`` of ``sum_{k in T} best_k(free)``.

        A set ``T`` fits when its objectives' smallest useful coalitions together need no more agents than
        ``free`` holds. Without that count this is the sum over all remaining objectives, which is weak when
        agents are interchangeable and only some objectives can be served. ``O(C 2^r r)`` for ``C`` masks
        and ``r`` remaining objectives (the count is skipped beyond :data:`_CAPACITY_BOUND_MAX_OBJECTIVES`).
        """
        remaining = self.tables[depth:]
        best = np.stack([table.best[free] for table in remaining], axis=1)  # (C, r)
        if len(remaining) > _CAPACITY_BOUND_MAX_OBJECTIVES:
            return np.asarray(best.sum(axis=1), dtype=np.float64)
        subsets = ((np.arange(1 << len(remaining))[:, None] >> np.arange(len(remaining))) & 1).astype(
            np.float64
        )
        needed = subsets @ np.array([table.min_size for table in remaining], dtype=np.float64)
        fits = needed[None, :] <= np.bitwise_count(free).astype(np.float64)[:, None]
        return np.asarray(np.where(fits, best @ subsets.T, -np.inf).max(axis=1), dtype=np.float64)

    def _record(self, value: float, path: tuple[int, ...]) -> None:
        if value > self.best_value:
            self.best_value = value
            self.best_path = path

    def explore(self, depth: int, free: int, value: float, path: tuple[int, ...]) -> float:
        """Search below a node; returns an upper bound on what objectives ``depth..`` can add with ``free``.

        The bound is exact where the subtree was searched in full. It is remembered per ``(depth, free)``:
        interchangeable agents reach the same free set along many paths, and a remembered bound that
        cannot beat the incumbent ends such a revisit at once (dynamic programming over the free sets
        actually reached).
        """
        key = (depth, free)
        known = self.completion_bounds.get(key)
        if known is not None and value + known <= self.best_value:
            return known
        table = self.tables[depth]
        last = len(self.tables) - 1
        if depth == last:
            completion = float(table.best[free])
            self._record(value + completion, (*path, _best_useful_within(table, free)))
            return completion
        compatible = (table.useful_masks & ~free) == 0
        masks = table.useful_masks[compatible]
        gains = table.useful_values[compatible]
        masks = np.concatenate([masks, np.zeros(1, dtype=np.int64)])  # mask 0: leave the objective unserved
        gains = np.concatenate([gains, np.zeros(1)])
        remaining_free = free & ~masks
        if depth == last - 1:
            # Exact here: the last objective takes its best coalition among the agents left.
            completions = gains + self.tables[last].best[remaining_free]
            k = int(np.argmax(completions))
            if value + completions[k] > self.best_value:
                final = _best_useful_within(self.tables[last], int(remaining_free[k]))
                self._record(value + float(completions[k]), (*path, int(masks[k]), final))
            return self._remember(key, float(completions[k]))
        child_bounds = gains + self._remaining_bound(depth + 1, remaining_free)
        upper = -np.inf
        for k in np.argsort(-child_bounds, kind="stable"):
            if value + child_bounds[k] <= self.best_value:
                # This child and all after it (sorted) add at most child_bounds[k].
                upper = max(upper, float(child_bounds[k]))
                break
            below = self.explore(
                depth + 1, int(remaining_free[k]), value + float(gains[k]), (*path, int(masks[k]))
            )
            upper = max(upper, float(gains[k]) + below)
        return self._remember(key, upper if known is None else min(known, upper))

    def _remember(self, key: tuple[int, int], bound: float) -> float:
        if len(self.completion_bounds) < _MAX_REMEMBERED_NODES:
            self.completion_bounds[key] = bound
        return bound


def _best_useful_within(table: _ObjectiveTables, free: int) -> int:
    """The most valuable useful coalition using only agents in ``free`` (0 if none is worth more than 0).

    It attains ``best(free)``: the best subset of ``free`` is either empty or useful.
    """
    within = np.flatnonzero((table.useful_masks & ~free) == 0)
    return int(table.useful_masks[within[0]]) if within.size else 0
