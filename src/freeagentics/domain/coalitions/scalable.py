"""Scalable coalition formation: greedy by marginal coverage per cost, then local improvement, with a bound.

For ``N`` agents, ``M`` objectives, ``K`` capabilities and ``L`` candidates per objective
(:attr:`ScalableSettings.candidates_per_objective`):

1. **Candidates.** The value function's member costs ``(M, N)`` are computed once; each objective keeps
   its ``L`` cheapest agents (one ``argpartition``), and the ``(L + 1)``-th cost is a floor on every other
   agent's cost. ``O(M N)``.
2. **Upper bound.** The value function bounds each objective's best single coalition from its candidates
   and the floor; the sum over objectives of the positive bounds is an upper bound on the optimum (it
   relaxes "each agent in at most one coalition"), so the gap to optimal is reported. ``O(M L K log L)``.
3. **Greedy.** Objectives in order of decreasing bound (ties broken by the seeded generator) grow a
   coalition from their free candidates, each step adding the agent with the largest
   ``covered share of the remaining requirement / member cost``; if the candidates cannot cover the
   requirement the objective falls back to all free agents. The most valuable prefix of that sequence is
   kept if it is worth more than 0 (the value function decides, so a partial prefix is kept only when the
   policy credits it). ``O(M L K m)`` for coalitions of ``m`` members, plus ``O(N K m)`` per fallback.
4. **Local improvement.** Rounds of moves between each coalition and the cheapest free candidates of its
   objective: drop a member, add one, swap one, or replace two members by one. All moves of all
   coalitions are valued in one vectorised value-function call per round; each coalition applies its
   best improving move, conflicts over a free agent going to the larger improvement.
   ``O(R (E + C) L' K)`` for ``R`` rounds, ``E`` members, ``C`` coalitions and ``L'``
   (:attr:`ScalableSettings.improvement_candidates`) free candidates.
5. **Exchanges** (split and merge). An unserved objective whose cheapest candidates are held by
   coalitions tries dissolving one of them (or the first two together), taking what it needs, and
   regrowing the dissolved coalitions from what is left; kept if the values together grow. Then
   objectives that could use an agent freed in steps 4-5 are grown again, followed by another round of
   4-5. ``O(L K m)`` per attempt.
6. **Priced bound.** If the gap to the bound of step 2 is still large (agents are scarce), the Lagrangian
   bound with a uniform agent price is also computed at a few prices and the smallest bound kept.
   ``O(Q M L K log L)`` for ``Q`` prices.

If objectives worth serving are left unserved (agents are contested), steps 3-5 run a second time with
objectives ordered by the value per member of their greedy coalition instead of by bound, and the better
structure is kept; ``ScalableSettings.restarts`` adds runs with randomly perturbed orders.

Every coalition formed is worth more than 0 under the value function, so it satisfies its objective (or is
reported partial when the value function's policy credits partial coverage). The same problem, value
function and seed give the same structure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.coalitions.problem import FloatArray, FormationProblem, IntArray
from freeagentics.domain.coalitions.structure import (
    CoalitionStructure,
    checked_member_costs,
    structure_from_assignment,
)
from freeagentics.domain.coalitions.values import CapabilityCoverageValue, CoalitionValueFunction

ALGORITHM_NAME = "scalable"

#: Restarts when ``ScalableSettings.restarts`` is ``None`` and ``N * M`` is at most ``SMALL_PROBLEM_SIZE``.
SMALL_PROBLEM_RESTARTS = 8
SMALL_PROBLEM_SIZE = 20_000

#: Improvements smaller than this are noise from summing float64 values in another order.
_MIN_IMPROVEMENT = 1e-9


@dataclass(frozen=True)
class ScalableSettings:
    """Tuning of :func:`form_coalitions_scalable`.

    - ``candidates_per_objective``: ``L``, how many of its cheapest agents each objective considers.
    - ``improvement_rounds``: most rounds of local moves per improvement phase.
    - ``improvement_candidates``: how many of its cheapest free candidates a coalition considers adding or
      swapping in per round.
    - ``exchange_attempts``: most attempts, per improvement phase, to serve an unserved objective by
      dissolving a coalition holding its candidates and regrowing both (bounds the phase's cost).
    - ``exchange_blockers``: how many such coalitions (those holding its cheapest candidates) one unserved
      objective tries.
    - ``bound_refinement_gap``: when the relative gap to the per-objective bound exceeds this, a priced
      (Lagrangian) bound is also computed; it is tighter when agents are scarce.
    - ``restarts``: extra greedy passes with randomly perturbed objective orders (best one kept); worth it
      for small problems where agents are contested. ``None`` (the default) means
      :data:`SMALL_PROBLEM_RESTARTS` when ``N * M <= SMALL_PROBLEM_SIZE`` (they cost milliseconds there),
      else none.
    """

    candidates_per_objective: int = 48
    improvement_rounds: int = 8
    improvement_candidates: int = 12
    exchange_attempts: int = 64
    exchange_blockers: int = 3
    bound_refinement_gap: float = 0.02
    restarts: int | None = None

    def __post_init__(self) -> None:
        if self.candidates_per_objective < 1:
            raise ValueError("candidates_per_objective must be >= 1")
        counts = (
            self.improvement_rounds,
            self.improvement_candidates,
            self.exchange_attempts,
            self.exchange_blockers,
            0 if self.restarts is None else self.restarts,
        )
        if min(counts) < 0 or not self.bound_refinement_gap >= 0:
            raise ValueError("improvement, exchange and restart counts and bound_refinement_gap must be >= 0")


@dataclass(frozen=True, eq=False)
class _Candidates:
    agents: IntArray  # (M, L) agent indices, cheapest first
    costs: FloatArray  # (M, L) their member costs
    floor: FloatArray  # (M,) lower bound on the cost of every agent not listed


def form_coalitions_scalable(
    problem: FormationProblem,
    value_function: CoalitionValueFunction | None = None,
    *,
    seed: int = 0,
    settings: ScalableSettings | None = None,
) -> CoalitionStructure:
    """A good coalition structure for large problems, with an upper bound on the optimum.

    Randomness (tie-breaking and restarts) comes only from ``numpy.random.default_rng(seed)``. The
    structure's ``upper_bound`` is ``None`` when the value function cannot bound an objective.
    Complexity: see the module docstring; dominated by the ``O(M N)`` member costs.
    """
    values = CapabilityCoverageValue() if value_function is None else value_function
    tuning = ScalableSettings() if settings is None else settings
    rng = np.random.default_rng(seed)
    num_agents, num_objectives = problem.num_agents, problem.num_objectives
    if num_agents == 0 or num_objectives == 0:
        empty = np.full(num_agents, -1, dtype=np.int64)
        return structure_from_assignment(
            problem, values, empty, algorithm=ALGORITHM_NAME, seed=seed, upper_bound=0.0
        )
    costs = checked_member_costs(problem, values)
    candidates = _cheapest_candidates(costs, tuning.candidates_per_objective)
    objective_bounds = np.asarray(
        values.objective_upper_bounds(problem, candidates.agents, candidates.costs, candidates.floor),
        dtype=np.float64,
    )
    positive_bounds = np.maximum(objective_bounds, 0.0)
    upper_bound = float(positive_bounds.sum()) if np.all(np.isfinite(positive_bounds)) else None
    # Without a finite bound (a value function that cannot bound), the reward is the best guide.
    priority = np.where(np.isfinite(objective_bounds), objective_bounds, problem.rewards)
    worth_trying = ~(objective_bounds <= 0)

    search = _Search(problem, values, costs, candidates, tuning)
    best_labels = search.run(_objective_order(priority, rng.random(num_objectives)), worth_trying)
    best_total = search.total(best_labels)
    served = np.zeros(num_objectives, dtype=np.bool_)
    served[best_labels[best_labels >= 0]] = True
    if np.any(worth_trying & ~served):
        # Agents are contested: serving the objectives that need the fewest agents per unit of value
        # first often serves more of them. Try that order too and keep the better structure.
        efficiency = search.value_per_member()
        labels = search.run(_objective_order(efficiency, rng.random(num_objectives)), worth_trying)
        total = search.total(labels)
        if total > best_total + _MIN_IMPROVEMENT:
            best_labels, best_total, priority = labels, total, efficiency
    restarts = tuning.restarts
    if restarts is None:
        restarts = SMALL_PROBLEM_RESTARTS if num_agents * num_objectives <= SMALL_PROBLEM_SIZE else 0
    for _ in range(restarts):
        noise = rng.uniform(0.5, 1.5, size=num_objectives)
        labels = search.run(_objective_order(priority * noise, rng.random(num_objectives)), worth_trying)
        total = search.total(labels)
        if total > best_total + _MIN_IMPROVEMENT:
            best_labels, best_total = labels, total
    if upper_bound is not None and upper_bound - best_total > tuning.bound_refinement_gap * upper_bound:
        formed = np.unique(best_labels[best_labels >= 0])
        priced = _priced_upper_bound(
            problem, values, candidates, best_labels, search.coalition_values(best_labels, formed)
        )
        upper_bound = min(upper_bound, priced)
    return structure_from_assignment(
        problem,
        values,
        best_labels,
        algorithm=ALGORITHM_NAME,
        seed=seed,
        upper_bound=upper_bound,
        member_costs=costs,
    )


#: Quantiles of the value per member of the formed coalitions tried as agent prices by the priced bound.
_PRICE_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _priced_upper_bound(
    problem: FormationProblem,
    value_function: CoalitionValueFunction,
    candidates: _Candidates,
    labels: IntArray,
    coalition_values: FloatArray,
) -> float:
    """The Lagrangian bound with one price ``p`` per agent, at a few prices; the smallest is returned.

    Charging every agent ``p`` for joining a coalition relaxes "each agent in at most one coalition":
    ``optimum <= N p + sum_j max(0, max_S v_j(S) - p |S|)`` for every ``p >= 0``. The inner maximum is the
    same objective with member costs raised by ``p`` (which keeps the candidates the cheapest), so the value
    function's per-objective bounds apply. When agents are scarce, a price near what a member earns in the
    structure found is far tighter than ``p = 0``; so the prices tried are quantiles of the formed
    coalitions' value per member. ``O(Q M L K log L)`` for ``Q`` prices.
    """
    formed = np.flatnonzero(np.bincount(labels[labels >= 0], minlength=problem.num_objectives))
    if formed.size == 0:
        return math.inf
    sizes = np.bincount(labels[labels >= 0], minlength=problem.num_objectives)[formed]
    prices = np.unique(np.quantile(coalition_values / sizes, _PRICE_QUANTILES))
    best = math.inf
    for price in prices[prices > 0]:
        shifted = value_function.objective_upper_bounds(
            problem, candidates.agents, candidates.costs + price, candidates.floor + price
        )
        positive = np.maximum(np.asarray(shifted, dtype=np.float64), 0.0)
        best = min(best, problem.num_agents * float(price) + float(positive.sum()))
    return best


def _objective_order(priority: FloatArray, tie_breaker: FloatArray) -> IntArray:
    """Objectives by decreasing ``priority``, ties in ``tie_breaker`` order."""
    return np.lexsort((tie_breaker, -priority)).astype(np.int64)


def _cheapest_candidates(costs: FloatArray, per_objective: int) -> _Candidates:
    num_objectives, num_agents = costs.shape
    listed = min(per_objective, num_agents)
    if listed < num_agents:
        partition = np.argpartition(costs, listed, axis=1)
        agents = partition[:, :listed]
        floor = costs[np.arange(num_objectives), partition[:, listed]]
    else:
        agents = np.broadcast_to(np.arange(num_agents), (num_objectives, num_agents))
        floor = np.full(num_objectives, np.inf)
    listed_costs = np.take_along_axis(costs, agents, axis=1)
    order = np.argsort(listed_costs, axis=1, kind="stable")
    return _Candidates(
        agents=np.take_along_axis(agents, order, axis=1).astype(np.int64),
        costs=np.take_along_axis(listed_costs, order, axis=1),
        floor=floor.astype(np.float64),
    )


class _Search:
    """Greedy construction and local improvement over one problem (holds the shared arrays)."""

    def __init__(
        self,
        problem: FormationProblem,
        value_function: CoalitionValueFunction,
        costs: FloatArray,
        candidates: _Candidates,
        settings: ScalableSettings,
    ) -> None:
        self.problem = problem
        self.value_function = value_function
        self.costs = costs
        self.candidates = candidates
        self.rounds = settings.improvement_rounds
        self.move_candidates = settings.improvement_candidates
        self.exchange_attempts = settings.exchange_attempts
        self.exchange_blockers = settings.exchange_blockers
        self.capabilities = problem.agents.capabilities
        self.required = problem.required
        self.tolerance = 1e-9 * (1.0 + problem.required)

    def total(self, labels: IntArray) -> float:
        formed = np.unique(labels[labels >= 0])
        return float(self.coalition_values(labels, formed).sum()) if formed.size else 0.0

    def run(self, order: IntArray, worth_trying: NDArray[np.bool_]) -> IntArray:
        labels = np.full(self.problem.num_agents, -1, dtype=np.int64)
        served = np.zeros(self.problem.num_objectives, dtype=np.bool_)
        tried_exchanges: set[tuple[int, ...]] = set()
        pending = order[worth_trying[order]]
        for _ in range(2):
            self._grow_all(pending, labels, served)
            assigned_after_growth = labels >= 0
            # Local moves never empty a coalition (that would lose its positive value), so ``served`` holds.
            self._improve(labels)
            unserved = order[worth_trying[order] & ~served[order]]
            self._exchange(unserved, labels, served, tried_exchanges)
            # Another pass helps only objectives that could use an agent freed since they last tried.
            freed = assigned_after_growth & (labels < 0)
            unserved = order[worth_trying[order] & ~served[order]]
            pending = unserved[np.any(freed[self.candidates.agents[unserved]], axis=1)]
            if pending.size == 0:
                break
        return labels

    def value_per_member(self) -> FloatArray:
        """``(M,)`` value per member of each objective's greedy coalition with every agent free
        (``-inf`` where that coalition is worth nothing)."""
        everyone = np.arange(self.problem.num_objectives, dtype=np.int64)
        sequences, lengths, _ = self._cover_sequences(everyone, np.full(self.problem.num_agents, -1))
        prefix_lengths, prefix_values = self._best_prefixes(everyone, sequences, lengths)
        with np.errstate(invalid="ignore"):
            return np.where(prefix_values > 0, prefix_values / prefix_lengths, -np.inf)

    # -- greedy -----------------------------------------------------------------------------------------

    def _grow_all(self, pending: IntArray, labels: IntArray, served: NDArray[np.bool_]) -> None:
        """Greedy coalitions for ``pending`` objectives, in that order, equal to growing them one by one.

        All pending objectives grow their sequences from their candidates at once. Then they commit in
        order; one whose sequence uses an agent committed earlier in this batch is retried in the next batch.
        Greedy picks depend only on the agents available, so a sequence that avoids every agent taken
        before it is exactly what one-by-one growth would have produced.
        """
        while pending.size:
            sequences, lengths, covered = self._cover_sequences(pending, labels)
            prefix_lengths, prefix_values = self._best_prefixes(pending, sequences, lengths)
            retry: list[int] = []
            for row, objective in enumerate(pending):
                if not covered[row]:
                    # The candidates cannot cover the requirement: try every free agent (rare and O(N)).
                    served[objective] = self._grow_from_everyone(int(objective), labels)
                    continue
                members = sequences[row, : prefix_lengths[row]]
                if np.any(labels[members] >= 0):
                    retry.append(int(objective))
                elif prefix_values[row] > _MIN_IMPROVEMENT:
                    labels[members] = objective
                    served[objective] = True
            pending = np.asarray(retry, dtype=np.int64)

    def _cover_sequences(
        self, pending: IntArray, labels: IntArray
    ) -> tuple[IntArray, IntArray, NDArray[np.bool_]]:
        """Greedy cover sequences from each pending objective's free candidates, all objectives at once.

        Returns ``sequences`` ``(G, S)`` agent indices (``-1`` padding), their ``lengths`` ``(G,)`` and
        whether each covered its requirement ``(G,)``.
        """
        pool = self.candidates.agents[pending]  # (G, L)
        pool_costs = self.candidates.costs[pending]
        available = (labels[pool] < 0) & np.isfinite(pool_costs)
        pool_capabilities = self.capabilities[pool]  # (G, L, K)
        need = self.required[pending].copy()
        tolerance = self.tolerance[pending]
        rows = np.arange(pending.size)
        sequences = np.full((pending.size, pool.shape[1]), -1, dtype=np.int64)
        lengths = np.zeros(pending.size, dtype=np.int64)
        stuck = np.zeros(pending.size, dtype=np.bool_)
        for _ in range(pool.shape[1]):
            active = np.any(need > tolerance, axis=1) & ~stuck
            if not active.any():
                break
            contribution = np.zeros(pool.shape)
            for k in range(need.shape[1]):
                contribution += np.minimum(pool_capabilities[:, :, k], need[:, k : k + 1])
            useful = available & (contribution > 0) & active[:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.where(useful, contribution / pool_costs, -np.inf)
            pick = np.argmax(score, axis=1)
            picked = useful[rows, pick]
            stuck |= active & ~picked
            grown = rows[picked]
            chosen_slot = pick[picked]
            sequences[grown, lengths[grown]] = pool[grown, chosen_slot]
            lengths[grown] += 1
            available[grown, chosen_slot] = False
            need[grown] = np.maximum(need[grown] - pool_capabilities[grown, chosen_slot], 0.0)
        covered = ~np.any(need > tolerance, axis=1)
        return sequences, lengths, covered

    def _best_prefixes(
        self, pending: IntArray, sequences: IntArray, lengths: IntArray
    ) -> tuple[IntArray, FloatArray]:
        """Most valuable prefix length of each sequence ``(G,)`` and its value ``(G,)`` (``-inf``: none)."""
        steps = sequences.shape[1]
        valid = np.arange(steps)[None, :] < lengths[:, None]
        safe = np.where(valid, sequences, 0)
        member_capabilities = np.where(valid[:, :, None], self.capabilities[safe], 0.0)
        member_costs = np.where(valid, self.costs[pending[:, None], safe], 0.0)
        prefix_totals = np.cumsum(member_capabilities, axis=1)
        prefix_costs = np.cumsum(member_costs, axis=1)
        row, step = np.nonzero(valid)
        values = np.full(sequences.shape, -np.inf)
        if row.size:
            gains = self.value_function.gains(self.problem, pending[row], prefix_totals[row, step], step + 1)
            with np.errstate(invalid="ignore"):
                values[row, step] = gains.values - prefix_costs[row, step]
        values = np.where(np.isnan(values), -np.inf, values)
        best = np.argmax(values, axis=1)
        return best + 1, values[np.arange(pending.size), best]

    def _grow_from_everyone(self, objective: int, labels: IntArray) -> bool:
        """Grow ``objective``'s coalition from all free agents; keep its best prefix if worth more than 0."""
        helps = (self.capabilities @ (self.required[objective] > 0)) > 0
        everyone = np.flatnonzero((labels < 0) & np.isfinite(self.costs[objective]) & helps)
        sequence, _ = self._cover_sequence(objective, everyone)
        members, value = self._best_prefix(objective, sequence)
        if value <= _MIN_IMPROVEMENT:
            return False
        labels[members] = objective
        return True

    def _cover_sequence(self, objective: int, pool: IntArray) -> tuple[IntArray, bool]:
        """Agents of ``pool`` in greedy order until the requirement is covered (or nobody helps)."""
        need = self.required[objective].copy()
        tolerance = self.tolerance[objective]
        pool_capabilities = self.capabilities[pool]
        pool_costs = self.costs[objective, pool]
        available = np.ones(pool.size, dtype=np.bool_)
        sequence: list[int] = []
        while (need > tolerance).any():
            contribution = np.minimum(pool_capabilities, need).sum(axis=1)
            useful = available & (contribution > 0)
            if not useful.any():
                return np.asarray(sequence, dtype=np.int64), False
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.where(useful, contribution / pool_costs, -np.inf)
            pick = int(score.argmax())
            available[pick] = False
            sequence.append(int(pool[pick]))
            need = np.maximum(need - pool_capabilities[pick], 0.0)
        return np.asarray(sequence, dtype=np.int64), True

    def _best_prefix(self, objective: int, sequence: IntArray) -> tuple[IntArray, float]:
        """The most valuable prefix of one greedy ``sequence`` and its value (``-inf`` if empty)."""
        if sequence.size == 0:
            return sequence, -np.inf
        gains = self.value_function.gains(
            self.problem,
            np.full(sequence.size, objective, dtype=np.int64),
            np.cumsum(self.capabilities[sequence], axis=0),
            np.arange(1, sequence.size + 1, dtype=np.int64),
        )
        values = gains.values - np.cumsum(self.costs[objective, sequence])
        best = int(values.argmax())
        return sequence[: best + 1], float(values[best])

    # -- exchanges --------------------------------------------------------------------------------------

    def _exchange(
        self,
        unserved: IntArray,
        labels: IntArray,
        served: NDArray[np.bool_],
        tried: set[tuple[int, ...]],
    ) -> bool:
        """Serve objectives by dissolving coalitions that hold their candidates, then regrowing them.

        A split-and-merge move between coalitions: ``objective`` takes what it needs from the agents freed
        by dissolving one blocking coalition (each of the first ``exchange_blockers`` in turn), or the
        first two together, and the dissolved coalitions regrow from what is left; kept only if the sum of
        the values grows. ``O(L K m)`` per attempt, at most ``exchange_attempts`` attempts.
        """
        attempts = 0
        exchanged = False
        for objective in unserved:
            pool = self.candidates.agents[objective]
            holders = labels[pool]
            holders = holders[holders >= 0]
            _, first = np.unique(holders, return_index=True)
            blockers = [int(b) for b in holders[np.sort(first)][: self.exchange_blockers]]
            groups = [(b,) for b in blockers] + ([tuple(blockers[:2])] if len(blockers) >= 2 else [])
            for group in groups:
                if attempts >= self.exchange_attempts:
                    return exchanged
                if (int(objective), *group) in tried:
                    continue
                tried.add((int(objective), *group))
                attempts += 1
                if self._try_exchange(int(objective), group, labels):
                    served[objective] = True
                    for blocker in group:
                        # A dissolved coalition may not have regrown.
                        served[blocker] = bool(np.any(labels == blocker))
                    exchanged = True
                    break
        return exchanged

    def _try_exchange(self, objective: int, blockers: tuple[int, ...], labels: IntArray) -> bool:
        old_members = [np.flatnonzero(labels == blocker) for blocker in blockers]
        old_value = sum(self._members_value(b, m) for b, m in zip(blockers, old_members, strict=True))
        for members in old_members:
            labels[members] = -1
        new_members, new_value = self._best_greedy_coalition(objective, labels)
        if new_value > _MIN_IMPROVEMENT:
            labels[new_members] = objective
            total = new_value
            regrown_groups = []
            for blocker in blockers:
                regrown, regrown_value = self._best_greedy_coalition(blocker, labels)
                if regrown_value > _MIN_IMPROVEMENT:
                    labels[regrown] = blocker
                    regrown_groups.append(regrown)
                    total += regrown_value
            if total > old_value + _MIN_IMPROVEMENT:
                return True
            for regrown in regrown_groups:
                labels[regrown] = -1
            labels[new_members] = -1
        for blocker, members in zip(blockers, old_members, strict=True):
            labels[members] = blocker
        return False

    def _best_greedy_coalition(self, objective: int, labels: IntArray) -> tuple[IntArray, float]:
        """The best greedy prefix for ``objective`` from its free candidates, and its value."""
        pool = self.candidates.agents[objective]
        pool = pool[(labels[pool] < 0) & np.isfinite(self.candidates.costs[objective])]
        sequence, _ = self._cover_sequence(objective, pool)
        return self._best_prefix(objective, sequence)

    def _members_value(self, objective: int, members: IntArray) -> float:
        gains = self.value_function.gains(
            self.problem,
            np.array([objective], dtype=np.int64),
            self.capabilities[members].sum(axis=0)[None, :],
            np.array([members.size], dtype=np.int64),
        )
        return float(gains.values[0] - self.costs[objective, members].sum())

    # -- local improvement ------------------------------------------------------------------------------

    def coalition_values(self, labels: IntArray, objectives: IntArray) -> FloatArray:
        members = np.flatnonzero(labels >= 0)
        chosen = labels[members]
        num_objectives = self.problem.num_objectives
        totals = np.zeros((num_objectives, self.problem.num_capabilities))
        for k in range(self.problem.num_capabilities):
            totals[:, k] = np.bincount(
                chosen, weights=self.capabilities[members, k], minlength=num_objectives
            )
        sizes = np.bincount(chosen, minlength=num_objectives).astype(np.int64)
        member_costs = np.bincount(chosen, weights=self.costs[chosen, members], minlength=num_objectives)
        gains = self.value_function.gains(self.problem, objectives, totals[objectives], sizes[objectives])
        return np.asarray(gains.values - member_costs[objectives], dtype=np.float64)

    def _improve(self, labels: IntArray) -> bool:
        """Rounds of drop / add / swap moves; ``True`` if any move was applied."""
        improved_any = False
        for _ in range(self.rounds):
            if not self._improvement_round(labels):
                break
            improved_any = True
        return improved_any

    def _improvement_round(self, labels: IntArray) -> bool:
        """One round of local moves for every coalition at once; ``True`` if any was applied.

        Moves of a coalition with its objective's free candidates: drop a member, add a candidate, swap a
        member for a candidate, or replace two members by one candidate. All moves of all coalitions are
        valued in one value-function call; each coalition applies its best improving move.
        """
        assigned = np.flatnonzero(labels >= 0)
        if assigned.size == 0:
            return False
        num_objectives = self.problem.num_objectives
        by_objective = np.argsort(labels[assigned], kind="stable")
        members = assigned[by_objective]
        chosen = labels[members]
        formed = np.unique(chosen)
        member_costs = self.costs[chosen, members]
        totals = np.zeros((num_objectives, self.problem.num_capabilities))
        for k in range(self.problem.num_capabilities):
            totals[:, k] = np.bincount(
                chosen, weights=self.capabilities[members, k], minlength=num_objectives
            )
        sizes = np.bincount(chosen, minlength=num_objectives).astype(np.int64)
        cost_sums = np.bincount(chosen, weights=member_costs, minlength=num_objectives)
        current = np.full(num_objectives, np.nan)
        current[formed] = self._gains(formed, totals[formed], sizes[formed]) - cost_sums[formed]

        pool = self.candidates.agents[formed]  # (C, L)
        pool_costs = self.candidates.costs[formed]
        pool_free = (labels[pool] < 0) & np.isfinite(pool_costs)
        # Candidates are sorted by cost: the cheapest few free ones are the likely improving moves.
        pool_free &= np.cumsum(pool_free, axis=1) <= self.move_candidates
        slot_coalition, slot_index = np.nonzero(pool_free)
        incoming = pool[slot_coalition, slot_index]
        incoming_costs = pool_costs[slot_coalition, slot_index]
        member_of = np.searchsorted(formed, chosen)

        # A move is (member entry leaving, second member entry leaving, incoming slot); -1 = none.
        swap_member, swap_slot = _pairs_by_group(member_of, slot_coalition)
        first, second = _pairs_by_group(member_of, member_of)
        first, second = first[first < second], second[first < second]
        pair, pair_slot = _pairs_by_group(member_of[first], slot_coalition)
        none_members = np.full(members.size, -1)
        none_slots = np.full(incoming.size, -1)
        leaving = np.concatenate([np.arange(members.size), none_slots, swap_member, first[pair]])
        leaving_too = np.concatenate([none_members, none_slots, np.full(swap_member.size, -1), second[pair]])
        joining = np.concatenate([none_members, np.arange(incoming.size), swap_slot, pair_slot])
        move_objective = np.concatenate(
            [chosen, formed[slot_coalition], chosen[swap_member], chosen[first[pair]]]
        )

        # Index -1 reads the appended zero row: "nobody" brings no capability and no cost.
        member_capabilities = np.vstack([self.capabilities[members], np.zeros(self.problem.num_capabilities)])
        incoming_capabilities = np.vstack(
            [self.capabilities[incoming], np.zeros(self.problem.num_capabilities)]
        )
        padded_member_costs = np.append(member_costs, 0.0)
        padded_incoming_costs = np.append(incoming_costs, 0.0)
        new_totals = (
            totals[move_objective]
            - member_capabilities[leaving]
            - member_capabilities[leaving_too]
            + incoming_capabilities[joining]
        )
        new_sizes = sizes[move_objective] - (leaving >= 0) - (leaving_too >= 0) + (joining >= 0)
        new_costs = (
            cost_sums[move_objective]
            - padded_member_costs[leaving]
            - padded_member_costs[leaving_too]
            + padded_incoming_costs[joining]
        )
        new_values = np.zeros(move_objective.size)
        non_empty = new_sizes > 0
        with np.errstate(invalid="ignore"):
            new_values[non_empty] = (
                self._gains(move_objective[non_empty], new_totals[non_empty], new_sizes[non_empty])
                - new_costs[non_empty]
            )
        gain = new_values - current[move_objective]
        gain = np.where(np.isnan(gain), -np.inf, gain)
        leaving_agents = np.append(members, -1)
        joining_agents = np.append(incoming, -1)
        return self._apply_best_moves(
            labels,
            move_objective,
            np.stack([leaving_agents[leaving], leaving_agents[leaving_too]], axis=1),
            joining_agents[joining],
            gain,
        )

    def _gains(self, objectives: IntArray, totals: FloatArray, sizes: IntArray) -> FloatArray:
        return np.asarray(self.value_function.gains(self.problem, objectives, totals, sizes).values)

    def _apply_best_moves(
        self,
        labels: IntArray,
        move_objective: IntArray,
        move_out: IntArray,
        move_in: IntArray,
        gain: FloatArray,
    ) -> bool:
        """Apply each objective's best improving move, largest first. ``move_out`` is ``(B, 2)``."""
        improving = np.flatnonzero(gain > _MIN_IMPROVEMENT)
        if improving.size == 0:
            return False
        order = improving[np.lexsort((-gain[improving], move_objective[improving]))]
        first_of_objective = np.ones(order.size, dtype=np.bool_)
        first_of_objective[1:] = move_objective[order[1:]] != move_objective[order[:-1]]
        best_moves = order[first_of_objective]
        best_moves = best_moves[np.argsort(-gain[best_moves], kind="stable")]
        applied = False
        for move in best_moves:
            joining = int(move_in[move])
            if joining >= 0 and labels[joining] >= 0:
                continue  # a larger improvement of another coalition took this agent in this round
            for leaving in move_out[move]:
                if leaving >= 0:
                    labels[leaving] = -1
            if joining >= 0:
                labels[joining] = move_objective[move]
            applied = True
        return applied


def _pairs_by_group(left_group: IntArray, right_group: IntArray) -> tuple[IntArray, IntArray]:
    """All ``(a, b)`` with ``left_group[a] == right_group[b]`` as two index arrays; ``right_group`` sorted."""
    if left_group.size == 0 or right_group.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts = np.searchsorted(right_group, left_group, side="left")
    stops = np.searchsorted(right_group, left_group, side="right")
    counts = stops - starts
    left = np.repeat(np.arange(left_group.size), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    right = np.repeat(starts, counts) + offsets
    return left.astype(np.int64), right.astype(np.int64)
