"""Exact coalition formation over capability classes: coalitions as member counts, costs as assignments.

The value function sees a coalition only through its capability totals and its size (plus the additive
member costs, see :mod:`.values`). Agents with the same capability row therefore contribute identically to
every gain: they form a *capability class*, and a coalition's gain depends only on its *count vector*
``x`` (how many members it takes from each class). What still tells class-mates apart is their member
costs (travel, typically), and for fixed counts the cheapest way to staff all coalitions is, class by
class, an assignment (transportation) problem. So the problem

    maximise  sum_j v_j(S_j)  over disjoint S_j

equals

    maximise  sum_j G_j(x_j) - sum_t TC_t(x_1t .. x_Mt)  over count vectors with sum_j x_jt <= n_t,

with ``G_j(x)`` the gain of any coalition with counts ``x`` and ``TC_t`` the least total member cost of
sending ``x_jt`` agents of class ``t`` to each objective ``j``. This module solves the second form exactly
when the count lattice (``prod_t (n_t + 1)`` count vectors) is small — 21 points for 20 agents with
identical capabilities, against ``2^20`` subsets for :mod:`.exact` — and the caller falls back to the
subset algorithm otherwise.

1. **Count tables.** For every objective, ``G_j`` on the whole lattice (one vectorised call to the value
   function), and ``A_j(x) = G_j(x) - (sum over classes of the x_t cheapest member costs)``, the value of
   the best coalition with counts ``x`` if the objective had every agent to itself. ``H_j(r)`` is the
   maximum of ``A_j`` (and 0) over count vectors ``<= r`` (prefix maxima along each class axis).
2. **Useful count vectors.** A count vector is kept only when ``A_j(x)`` beats ``A_j`` of every smaller
   count vector. If ``A_j(x') >= A_j(x)`` for some ``x' < x``, any coalition with counts ``x`` can drop
   its most expensive members of each class down to ``x'`` without losing value (the ``k``-th dearest
   member of a coalition costs at least the ``k``-th dearest of the cheapest ``x_t`` of its class), which
   also frees agents: such an ``x`` is never needed.
3. **Branch and bound** over objectives (largest ``H_j`` first) choosing a useful count vector or none.
   The members' cost is exact at every node: adding an objective's counts to the current optimal
   assignment takes one shortest augmenting path per member (over the ``<= M + 1`` nodes "free" and the
   objectives chosen so far: moving an agent from one objective to another, the successive-shortest-path
   method of min-cost flow), which keeps the assignment optimal for the counts chosen so far. A child is
   bounded by ``value + A_j(x) + sum_{k later} H_k(r - x)``: staffing more objectives never costs less
   than staffing them separately (restricting an optimal joint assignment to each part gives feasible
   parts), so ``TC(chosen + x) >= TC(chosen) + cheapest_j(x)``.

The result is optimal for the given value function, like :mod:`.exact` (both equal brute force over every
assignment in the tests). Capability totals are computed as ``counts @ class capabilities``, which rounds
like any other sum of the same amounts (exactly for the integer amounts in practice).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.coalitions.problem import (
    FloatArray,
    FormationProblem,
    IntArray,
    InvalidFormationProblemError,
)
from freeagentics.domain.coalitions.values import CoalitionValueFunction

#: Largest count lattice (``prod_t (n_t + 1)`` over capability classes) this method takes on.
MAX_CLASS_LATTICE = 4096


@dataclasses.dataclass(frozen=True, eq=False)
class _Classes:
    """The enumerated agents grouped by capability row."""

    members: list[IntArray]  # per class, problem agent indices
    sizes: IntArray  # (T,) n_t
    strides: IntArray  # (T,) mixed-radix strides: lattice index = counts @ strides
    counts: NDArray[np.int64]  # (P, T) the count vector of every lattice index

    @property
    def lattice_size(self) -> int:
        return int(self.counts.shape[0])


def lattice_size(problem: FormationProblem, enumerated: IntArray) -> int:
    """``prod_t (n_t + 1)`` over the capability classes of the ``enumerated`` agents."""
    if enumerated.size == 0:
        return 1
    _, sizes = np.unique(problem.agents.capabilities[enumerated], axis=0, return_counts=True)
    return math.prod(int(size) + 1 for size in sizes)


def _classes(problem: FormationProblem, enumerated: IntArray) -> _Classes:
    rows, labels = np.unique(problem.agents.capabilities[enumerated], axis=0, return_inverse=True)
    labels = labels.reshape(-1)
    members = [enumerated[labels == t] for t in range(rows.shape[0])]
    sizes = np.array([m.size for m in members], dtype=np.int64)
    radices = sizes + 1
    strides = np.concatenate([[1], np.cumprod(radices)[:-1]]).astype(np.int64)
    total = int(np.prod(radices))
    index = np.arange(total, dtype=np.int64)
    counts = (index[:, None] // strides[None, :]) % radices[None, :]
    return _Classes(members=members, sizes=sizes, strides=strides, counts=counts)


def _prefix_maximum(values: FloatArray, sizes: IntArray) -> FloatArray:
    """``out[x] = max_{x' <= x} values[x']`` over the count lattice (``values`` indexed by lattice index)."""
    # Lattice index = sum_t x_t * stride_t with stride_0 = 1: in C order the last axis is class 0.
    shaped = values.reshape(tuple(int(s) + 1 for s in sizes[::-1]))
    for axis in range(shaped.ndim):
        shaped = np.maximum.accumulate(shaped, axis=axis)
    return np.ascontiguousarray(shaped).reshape(-1)


@dataclasses.dataclass(frozen=True, eq=False)
class _CountTables:
    """One objective's tables over the count lattice."""

    gains: FloatArray  # (P,) G_j(x), 0 at x = 0
    alone: FloatArray  # (P,) A_j(x)
    best_alone: FloatArray  # (P,) H_j(r) >= 0
    useful: IntArray  # lattice indices of the useful count vectors, by decreasing A_j
    min_size: int  # members of the smallest useful count vector (n + 1 if there is none)


def _count_tables(
    problem: FormationProblem,
    value_function: CoalitionValueFunction,
    costs: FloatArray,
    classes: _Classes,
) -> list[_CountTables]:
    capability_rows = np.stack([problem.agents.capabilities[m[0]] for m in classes.members])
    totals = classes.counts @ capability_rows  # (P, K)
    sizes = classes.counts.sum(axis=1)
    size = classes.lattice_size
    tables = []
    for j in range(problem.num_objectives):
        gains = np.zeros(size)
        if size > 1:
            computed = value_function.gains(
                problem, np.full(size - 1, j, dtype=np.int64), totals[1:], sizes[1:]
            ).values
            gains[1:] = computed
        if np.isnan(gains.max()):
            raise InvalidFormationProblemError(f"the value function returned NaN gains for objective {j}")
        cheapest = np.zeros(size)
        for t, members in enumerate(classes.members):
            sorted_costs = np.sort(costs[j, members])
            prefix = np.concatenate([[0.0], np.cumsum(sorted_costs)])
            cheapest += prefix[classes.counts[:, t]]
        alone = gains - cheapest
        alone[0] = 0.0
        alone = np.where(np.isnan(alone), -np.inf, alone)
        best_alone = _prefix_maximum(alone, classes.sizes)
        below = np.full(size, -np.inf)
        for t in range(len(classes.members)):
            has = classes.counts[:, t] > 0
            below[has] = np.maximum(below[has], best_alone[np.flatnonzero(has) - classes.strides[t]])
        useful = np.flatnonzero(alone > below)
        useful = useful[useful > 0]
        order = np.argsort(-alone[useful], kind="stable")
        useful = useful[order].astype(np.int64)
        min_size = int(sizes[useful].min()) if useful.size else int(sizes[-1]) + 1
        tables.append(
            _CountTables(gains=gains, alone=alone, best_alone=best_alone, useful=useful, min_size=min_size)
        )
    return tables


class _Assignment:
    """An optimal assignment of each class's agents to the objectives chosen so far (search positions).

    ``where[t][i]`` is the search depth of the objective agent ``i`` of class ``t`` serves, or -1.
    """

    def __init__(self, where: list[IntArray]) -> None:
        self.where = where

    def copy(self) -> _Assignment:
        return _Assignment([w.copy() for w in self.where])

    def add(self, class_costs: FloatArray, t: int, depth: int) -> float:
        """Send one more agent of class ``t`` to the objective at ``depth`` at least extra cost (``inf``
        if impossible); ``class_costs`` ``(M, n_t)`` are member costs in search order."""
        where = self.where[t]
        nodes = depth + 2  # node 0: free; node 1 + d: objective at depth d (0..depth)
        node_of = where + 1
        current = np.where(where >= 0, class_costs[np.maximum(where, 0), np.arange(where.size)], 0.0)
        # moves[i, w]: extra cost of moving agent i to objective w (node w + 1).
        moves = class_costs[: depth + 1].T - current[:, None]
        edge = np.full((nodes, nodes), np.inf)
        edge_agent = np.full((nodes, nodes), -1, dtype=np.int64)
        for node in np.unique(node_of):
            at = np.flatnonzero(node_of == node)
            sub = moves[at]
            pick = np.argmin(sub, axis=0)
            edge[node, 1:] = sub[pick, np.arange(depth + 1)]
            edge_agent[node, 1:] = at[pick]
        np.fill_diagonal(edge, np.inf)
        distance = np.full(nodes, np.inf)
        distance[0] = 0.0
        parent = np.full(nodes, -1, dtype=np.int64)
        for _ in range(nodes - 1):
            through = distance[:, None] + edge
            best_from = np.argmin(through, axis=0)
            candidate = through[best_from, np.arange(nodes)]
            better = candidate < distance - 1e-12
            if not better.any():
                break
            distance = np.where(better, candidate, distance)
            parent = np.where(better, best_from, parent)
        target = depth + 1
        if not np.isfinite(distance[target]):
            return math.inf
        node = target
        moved = []
        while node != 0:
            source = int(parent[node])
            moved.append((int(edge_agent[source, node]), node - 1))
            node = source
        for agent, objective in moved:
            where[agent] = objective
        return float(distance[target])


@dataclasses.dataclass
class _CountSearch:
    tables: list[_CountTables]
    class_costs: list[FloatArray]  # per class (M, n_t) in search order
    classes: _Classes
    completion: FloatArray  # (M + 1, P) sum_{k >= d} H_k
    best_value: float = 0.0
    best_where: list[IntArray] | None = None

    def explore(self, depth: int, remaining: int, value: float, state: _Assignment) -> None:
        if depth == len(self.tables):
            if value > self.best_value:
                self.best_value = value
                self.best_where = [w.copy() for w in state.where]
            return
        table = self.tables[depth]
        counts = self.classes.counts
        left = counts[remaining]
        candidates = table.useful[np.all(counts[table.useful] <= left, axis=1)]
        candidates = np.concatenate([candidates, np.zeros(1, dtype=np.int64)])
        bounds = table.alone[candidates] + self.completion[depth + 1, remaining - candidates]
        bounds[-1] = self.completion[depth + 1, remaining]
        for k in np.argsort(-bounds, kind="stable"):
            if value + bounds[k] <= self.best_value:
                break
            x = int(candidates[k])
            if x == 0:
                self.explore(depth + 1, remaining, value, state)
                continue
            child = state.copy()
            extra = 0.0
            for t, amount in enumerate(counts[x]):
                for _ in range(int(amount)):
                    extra += child.add(self.class_costs[t], t, depth)
                    if not math.isfinite(extra):
                        break
                if not math.isfinite(extra):
                    break
            if not math.isfinite(extra):
                continue
            child_value = value + float(table.gains[x]) - extra
            if child_value + self.completion[depth + 1, remaining - x] <= self.best_value:
                continue
            self.explore(depth + 1, remaining - x, child_value, child)


def _completion_bounds(tables: list[_CountTables], classes: _Classes) -> FloatArray:
    """``(M + 1, P)``: ``F_d(r) = max sum_{k >= d} A_k(x_k)`` over useful (or zero) ``x_k`` with
    ``sum_k x_k <= r``, by dynamic programming over the objectives on the count lattice.

    It bounds what objectives ``d..`` can add with the class counts ``r`` whatever was chosen before:
    they share the counts exactly and each pays at least its cheapest members (superadditivity, see the
    module docstring). ``O(M P U)`` for ``U`` useful count vectors per objective, in ``U`` slice updates.
    """
    shape = tuple(int(s) + 1 for s in classes.sizes[::-1])
    completion = np.zeros((len(tables) + 1, classes.lattice_size))
    for depth in range(len(tables) - 1, -1, -1):
        after = completion[depth + 1].reshape(shape)
        here = after.copy()
        table = tables[depth]
        for x in table.useful:
            counts = classes.counts[x][::-1]
            target = tuple(slice(int(c), None) for c in counts)
            source = tuple(slice(0, int(size) - int(c)) for c, size in zip(counts, shape, strict=True))
            np.maximum(here[target], table.alone[x] + after[source], out=here[target])
        completion[depth] = here.reshape(-1)
    return completion


def solve_by_classes(
    problem: FormationProblem,
    value_function: CoalitionValueFunction,
    costs: FloatArray,
    enumerated: IntArray,
) -> IntArray:
    """The optimal assignment ``(N,)`` (objective index or -1) by search over capability-class counts.

    Call only when :func:`lattice_size` is at most :data:`MAX_CLASS_LATTICE` (tables are ``O(M P)``).
    """
    assignment = np.full(problem.num_agents, -1, dtype=np.int64)
    if enumerated.size == 0 or problem.num_objectives == 0:
        return assignment
    classes = _classes(problem, enumerated)
    tables = _count_tables(problem, value_function, costs, classes)
    full = classes.lattice_size - 1
    order = sorted(range(len(tables)), key=lambda j: (-float(tables[j].best_alone[full]), j))
    ordered = [tables[j] for j in order]
    completion = _completion_bounds(ordered, classes)
    class_costs = [np.ascontiguousarray(costs[np.array(order)][:, members]) for members in classes.members]
    search = _CountSearch(tables=ordered, class_costs=class_costs, classes=classes, completion=completion)
    start = _Assignment([np.full(m.size, -1, dtype=np.int64) for m in classes.members])
    search.explore(depth=0, remaining=full, value=0.0, state=start)
    if search.best_where is not None:
        for members, where in zip(classes.members, search.best_where, strict=True):
            served = where >= 0
            assignment[members[served]] = np.array(order, dtype=np.int64)[where[served]]
    return assignment
