"""Exact coalition formation over capability classes: coalitions as member counts, costs as assignments.

The value function sees a coalition only through its capability totals and its size (plus the additive
member costs, see :mod:`.values`): :meth:`~.values.CoalitionValueFunction.gains` is never told who the
members are. Agents with exactly equal capability rows therefore contribute identically to every gain,
whatever the value function: they form a *capability class*, and a coalition's gain depends only on its
*count vector* ``x`` (how many members it takes from each class). What still tells class-mates apart is
their member costs (travel, typically), and for fixed counts the cheapest way to staff all coalitions is,
class by class, an assignment (transportation) problem. So the problem

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
   bounded by ``value + A_j(x) + F_{j+1}(r - x)``, where ``F_k(r)`` is the best ``sum A`` the objectives
   from ``k`` on can reach sharing the counts ``r`` (a dynamic programme over the objectives on the
   lattice, :func:`_completion_bounds`): staffing more objectives never costs less than staffing them
   separately (restricting an optimal joint assignment to each part gives feasible parts), so
   ``TC(chosen + x) >= TC(chosen) + cheapest_j(x)``. Its slack is class-mates wanted by several
   objectives at once (each pays its own cheapest members in ``A``).

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
MAX_CLASS_LATTICE = 1 << 18
#: Most lattice points the count-sharing completion bound may update (useful count vectors x lattice
#: size, summed over objectives) and most useful count vectors it may loop over; beyond either, the
#: search bounds with the plain sum of ``H_k`` instead.
_COMPLETION_WORK = 200_000_000
_COMPLETION_MAX_USEFUL = 50_000
#: Classes with at most this many (agents x objectives chosen) augment in plain Python, larger in NumPy.
_SMALL_AUGMENT = 64


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


def _lattice_shape(sizes: IntArray) -> tuple[int, ...]:
    """The count lattice as an array shape: lattice index = ``sum_t x_t * stride_t`` with ``stride_0 = 1``,
    so in C order axis ``a`` is class ``T - 1 - a``."""
    return tuple(int(s) + 1 for s in sizes[::-1])


def _along(ndim: int, axis: int, part: slice) -> tuple[slice, ...]:
    return tuple(part if a == axis else slice(None) for a in range(ndim))


def _prefix_maximum(values: FloatArray, sizes: IntArray) -> FloatArray:
    """``out[x] = max_{x' <= x} values[x']`` over the count lattice (``values`` indexed by lattice index),
    in place along each class axis (``O(T P)``)."""
    out = values.copy()
    shaped = out.reshape(_lattice_shape(sizes))
    for axis in range(shaped.ndim):
        for k in range(1, shaped.shape[axis]):
            step = _along(shaped.ndim, axis, slice(k, k + 1))
            before = _along(shaped.ndim, axis, slice(k - 1, k))
            np.maximum(shaped[step], shaped[before], out=shaped[step])
    return out


def _strictly_below_maximum(best: FloatArray, sizes: IntArray) -> FloatArray:
    """``out[x] = max_{t: x_t > 0} best[x - e_t]`` (``-inf`` at ``x = 0``): with ``best`` a prefix maximum,
    the maximum over every count vector strictly below ``x``."""
    shape = _lattice_shape(sizes)
    out = np.full(best.size, -np.inf)
    shaped_out, shaped_best = out.reshape(shape), best.reshape(shape)
    for axis in range(len(shape)):
        upper = _along(len(shape), axis, slice(1, None))
        lower = _along(len(shape), axis, slice(0, -1))
        np.maximum(shaped_out[upper], shaped_best[lower], out=shaped_out[upper])
    return out


def _cheapest_members(prefix_sums: list[FloatArray], sizes: IntArray) -> FloatArray:
    """``(P,)`` ``sum_t prefix_sums[t][x_t]``: the cost of the ``x_t`` cheapest members of each class."""
    shape = _lattice_shape(sizes)
    total = np.zeros(shape)
    for t, prefix in enumerate(prefix_sums):
        view = [1] * len(shape)
        view[len(shape) - 1 - t] = prefix.size
        total += prefix.reshape(view)
    return total.reshape(-1)


@dataclasses.dataclass(frozen=True, eq=False)
class _CountTables:
    """One objective's tables over the count lattice."""

    gains: FloatArray  # (P,) G_j(x), 0 at x = 0
    alone: FloatArray  # (P,) A_j(x)
    best_alone: FloatArray  # (P,) H_j(r) >= 0
    useful: IntArray  # lattice indices of the useful count vectors, by decreasing A_j
    useful_counts: NDArray[np.int64]  # (U, T) their count vectors
    useful_parts: list[list[tuple[int, int]]]  # per useful count vector, its (class, count > 0) pairs
    gain_list: list[float]  # G_j of each useful count vector


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
        prefix_sums = [
            np.concatenate([[0.0], np.cumsum(np.sort(costs[j, members]))]) for members in classes.members
        ]
        alone = gains - _cheapest_members(prefix_sums, classes.sizes)
        alone[0] = 0.0
        alone[np.isnan(alone)] = -np.inf
        best_alone = _prefix_maximum(alone, classes.sizes)
        useful = np.flatnonzero(alone > _strictly_below_maximum(best_alone, classes.sizes))
        useful = useful[useful > 0]  # x = 0 (objective unserved): the search adds it to every node itself
        order = np.argsort(-alone[useful], kind="stable")
        useful = useful[order].astype(np.int64)
        tables.append(
            _CountTables(
                gains=gains,
                alone=alone,
                best_alone=best_alone,
                useful=useful,
                useful_counts=classes.counts[useful],
                useful_parts=[
                    [(int(t), int(row[t])) for t in np.flatnonzero(row)] for row in classes.counts[useful]
                ],
                gain_list=gains[useful].tolist(),
            )
        )
    return tables


class _Assignment:
    """An optimal assignment of each class's agents to the objectives chosen so far (search positions).

    ``where[t][i]`` is the search depth of the objective agent ``i`` of class ``t`` serves, or -1;
    ``assigned[t]`` counts the class's assigned agents. A copy shares the ``where`` arrays until it
    changes one (copy on write: a child touches only the classes its count vector uses).
    """

    def __init__(self, where: list[IntArray], assigned: list[int]) -> None:
        self.where = where
        self.assigned = assigned
        self._owned: set[int] = set(range(len(where)))

    def copy(self) -> _Assignment:
        child = _Assignment(list(self.where), list(self.assigned))
        child._owned = set()
        return child

    def add(
        self, class_costs: FloatArray, cost_rows: list[list[float]], t: int, depth: int, amount: int
    ) -> float:
        """Send ``amount`` more agents of class ``t`` to the objective at ``depth`` at least extra cost
        (``inf`` if impossible); ``class_costs`` ``(M, n_t)`` are member costs in search order and
        ``cost_rows`` the same as lists (small classes take a plain-Python path without NumPy overhead).

        One shortest augmenting path per agent keeps the assignment optimal (successive shortest paths:
        the difference between an optimal assignment with one more agent at ``depth`` and the current
        one splits into a path from "free" to ``depth`` and cycles, which cost ``>= 0`` because the
        current assignment is optimal). When the class serves nothing yet, the cheapest ``amount`` agents
        are that optimum directly.
        """
        if t not in self._owned:
            self.where[t] = self.where[t].copy()
            self._owned.add(t)
        where = self.where[t]
        if self.assigned[t] == 0:
            row = class_costs[depth]
            cheapest = np.argsort(row, kind="stable")[:amount]
            if cheapest.size < amount or not np.all(np.isfinite(row[cheapest])):
                return math.inf
            where[cheapest] = depth
            self.assigned[t] = amount
            return float(row[cheapest].sum())
        self.assigned[t] += amount
        small = where.size * (depth + 1) <= _SMALL_AUGMENT
        extra = 0.0
        for _ in range(amount):
            if small:
                extra += _augment_small(cost_rows, where, depth)
            else:
                extra += self._augment(class_costs, where, depth)
            if not math.isfinite(extra):
                return math.inf
        return extra

    @staticmethod
    def _augment(class_costs: FloatArray, where: IntArray, depth: int) -> float:
        """One shortest augmenting path from "free" to the objective at ``depth`` (Bellman-Ford over the
        ``depth + 2`` nodes "free" and objectives ``0..depth``; moves may cost less than 0)."""
        nodes = depth + 2  # node 0: free; node 1 + d: the objective at depth d
        columns = class_costs[: depth + 1]  # (d + 1, n)
        assigned = np.flatnonzero(where >= 0)
        current = np.zeros(where.size)
        current[assigned] = columns[where[assigned], assigned]
        moves = columns - current  # moves[w, i]: extra cost of moving agent i to objective w
        at_node = (where + 1)[None, :] == np.arange(nodes)[:, None]  # (nodes, n)
        masked = np.where(at_node[:, None, :], moves[None, :, :], np.inf)  # (from, to objective, agent)
        edge_agent = np.zeros((nodes, nodes), dtype=np.int64)
        edge_agent[:, 1:] = masked.argmin(axis=2)
        edge = np.full((nodes, nodes), np.inf)
        edge[:, 1:] = np.take_along_axis(masked, edge_agent[:, 1:, None], axis=2)[..., 0]
        np.fill_diagonal(edge, np.inf)
        distance = np.full(nodes, np.inf)
        distance[0] = 0.0
        parent = np.zeros(nodes, dtype=np.int64)
        everywhere = np.arange(nodes)
        for _ in range(nodes - 1):
            through = distance[:, None] + edge
            best_from = np.argmin(through, axis=0)
            candidate = through[best_from, everywhere]
            better = candidate < distance - 1e-12
            if not better.any():
                break
            distance = np.where(better, candidate, distance)
            parent = np.where(better, best_from, parent)
        target = depth + 1
        if not np.isfinite(distance[target]):
            return math.inf
        moved = []
        node = target
        while node != 0:
            source = int(parent[node])
            moved.append((int(edge_agent[source, node]), node - 1))
            node = source
        for agent, objective in moved:
            where[agent] = objective
        return float(distance[target])


def _augment_small(cost_rows: list[list[float]], where: IntArray, depth: int) -> float:
    """:meth:`_Assignment._augment` in plain Python, for classes of a few agents (the same Bellman-Ford,
    edge by edge: one edge per agent and objective it could move to)."""
    located = where.tolist()
    count = len(located)
    current = [cost_rows[located[i]][i] if located[i] >= 0 else 0.0 for i in range(count)]
    nodes = depth + 2
    distance = [math.inf] * nodes
    distance[0] = 0.0
    parent_node = [0] * nodes
    parent_agent = [-1] * nodes
    for _ in range(nodes - 1):
        changed = False
        for i in range(count):
            node = located[i] + 1
            base = distance[node] - current[i]
            if base == math.inf:
                continue
            for objective in range(depth + 1):
                if objective + 1 == node:
                    continue
                candidate = base + cost_rows[objective][i]
                if candidate < distance[objective + 1] - 1e-12:
                    distance[objective + 1] = candidate
                    parent_node[objective + 1] = node
                    parent_agent[objective + 1] = i
                    changed = True
        if not changed:
            break
    target = depth + 1
    if distance[target] == math.inf:
        return math.inf
    moved = []
    node = target
    while node != 0:
        moved.append((parent_agent[node], node - 1))
        node = parent_node[node]
    for agent, objective in moved:
        where[agent] = objective
    return distance[target]


@dataclasses.dataclass
class _CountSearch:
    tables: list[_CountTables]
    class_costs: list[FloatArray]  # per class (M, n_t) in search order
    cost_rows: list[list[list[float]]]  # the same as lists
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
        after = self.completion[depth + 1]
        fits = np.flatnonzero(np.all(table.useful_counts <= self.classes.counts[remaining], axis=1))
        candidates = np.append(table.useful[fits], 0)
        bounds = np.append(table.alone[table.useful[fits]], 0.0) + after[remaining - candidates]
        order = np.argsort(-bounds, kind="stable").tolist()
        bound_list, candidate_list, fit_list = bounds.tolist(), candidates.tolist(), fits.tolist()
        for k in order:
            if value + bound_list[k] <= self.best_value:
                break
            x = candidate_list[k]
            if x == 0:
                self.explore(depth + 1, remaining, value, state)
                continue
            child = state.copy()
            extra = 0.0
            for t, amount in table.useful_parts[fit_list[k]]:
                extra += child.add(self.class_costs[t], self.cost_rows[t], t, depth, amount)
                if not math.isfinite(extra):
                    break
            if not math.isfinite(extra):
                continue
            child_value = value + table.gain_list[fit_list[k]] - extra
            if child_value + after[remaining - x] <= self.best_value:
                continue
            self.explore(depth + 1, remaining - x, child_value, child)


def _completion_bounds(tables: list[_CountTables], classes: _Classes) -> FloatArray:
    """``(M + 1, P)``: ``F_d(r) = max sum_{k >= d} A_k(x_k)`` over useful (or zero) ``x_k`` with
    ``sum_k x_k <= r``, by dynamic programming over the objectives on the count lattice.

    It bounds what objectives ``d..`` can add with the class counts ``r`` whatever was chosen before:
    they share the counts exactly and each pays at least its cheapest members (superadditivity, see the
    module docstring). ``O(M P U)`` for ``U`` useful count vectors per objective, in ``U`` slice updates;
    past :data:`_COMPLETION_WORK` it falls back to ``sum_{k >= d} H_k(r)`` (counts not shared).
    """
    shape = _lattice_shape(classes.sizes)
    completion = np.zeros((len(tables) + 1, classes.lattice_size))
    useful = sum(table.useful.size for table in tables)
    if useful > _COMPLETION_MAX_USEFUL or useful * classes.lattice_size > _COMPLETION_WORK:
        for depth in range(len(tables) - 1, -1, -1):
            completion[depth] = completion[depth + 1] + tables[depth].best_alone
        return completion
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
    search = _CountSearch(
        tables=ordered,
        class_costs=class_costs,
        cost_rows=[c.tolist() for c in class_costs],
        classes=classes,
        completion=completion,
    )
    start = _Assignment(
        [np.full(m.size, -1, dtype=np.int64) for m in classes.members], [0] * len(classes.members)
    )
    search.explore(depth=0, remaining=full, value=0.0, state=start)
    if search.best_where is not None:
        for members, where in zip(classes.members, search.best_where, strict=True):
            served = where >= 0
            assignment[members[served]] = np.array(order, dtype=np.int64)[where[served]]
    return assignment
