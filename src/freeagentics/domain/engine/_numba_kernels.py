"""Compiled kernels of the optional accelerator (``EngineConfig(accelerator="numba")``).

Imported only when a population asks for the accelerator, so the NumPy path never needs Numba. Every
kernel releases the GIL (``nogil``) and works on one chunk of agents: the engine's own thread pool runs the
chunks on all cores, exactly as it does for the NumPy path.

Both kernels evaluate the shared-tensor expected free energy (:class:`~.model.CompositeModality`) with the
composite table stored sparse (:class:`~.model.SparseComposite`). The NumPy path computes ``Y = J0 @ W``
densely; most of that product multiplies zeros, because an agent's beliefs sit on a handful of states and
each column of ``A T_k`` has a handful of non-zero outcomes. Per agent, only the states whose belief
exceeds ``threshold`` (together at most one machine epsilon of mass, see
:func:`~.population.sparse_threshold`) and only the non-zero entries of their rows are visited, and
``x log x`` is taken only where ``qo > 0``. Sums are accumulated in float64 whatever the working dtype.

- :func:`composite_efe`: one modality's utility, state information gain and ``A`` novelty for every policy
  of every agent, from given joint beliefs (any model on the fast path).
- :func:`step_one_factor`: a whole step (prior, exact posterior, free energy, EFE, ``q_pi``, action) for
  models with one hidden-state factor, the shape of the grid explorer.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

#: Deterministic action selection's tie tolerance, in machine epsilons (``population.TIE_EPS``).
_TIE_EPS = 64


@numba.njit(nogil=True, cache=True)
def composite_efe(
    J0: Any,
    threshold: float,
    qo_indptr: Any,
    qo_indices: Any,
    qo_data: Any,
    linear: Any,
    column_entropy: Any,
    nov_indptr: Any,
    nov_indices: Any,
    nov_data: Any,
    num_nodes: int,
    num_obs: int,
    policy_nodes: Any,
    C_agent: Any,
    use_agent_C: bool,
    use_utility: bool,
    use_info: bool,
    clip: float,
    log32: bool,
    util_out: Any,
    info_out: Any,
    param_out: Any,
) -> None:
    """Add one modality's utility, state information gain and ``A`` novelty to every policy of every agent.

    ``J0`` ``(n, S)``: current joint beliefs over the modality's factors. The table arrays (including
    ``column_entropy``, used for agents whose belief sits on a single state) are those of
    :class:`~.model.SparseComposite` (``K = num_nodes`` trie nodes, ``No = num_obs`` outcomes,
    ``policy_nodes`` ``(P, L)``). ``C_agent`` ``(n, No)`` per-agent log-preferences, used when
    ``use_agent_C`` (else the table's utility columns). Adds to ``(n, P)`` arrays: ``util_out``
    (``qo · C``), ``info_out`` (``H[qo] - E[H[A]]``), ``param_out`` (``-qo · (wA x)``, only with novelty).
    Rows are indexed in place, never sliced: an array view per agent would cost reference counting.
    """
    n, S = J0.shape
    K = num_nodes
    KNo = K * num_obs
    novelty = len(nov_indptr) > 1
    acc = np.zeros(KNo, dtype=np.float64)
    nov_acc = np.zeros(KNo, dtype=np.float64)
    touched = np.empty(KNo, dtype=np.int64)
    nov_touched = np.empty(KNo, dtype=np.int64)
    lin_acc = np.zeros(2 * K, dtype=np.float64)
    util = np.empty(K, dtype=np.float64)
    info = np.empty(K, dtype=np.float64)
    param = np.empty(K, dtype=np.float64)
    support = np.empty(S, dtype=np.int64)
    for i in range(n):
        size = 0
        for s in range(S):
            if J0[i, s] > threshold:
                support[size] = s
                size += 1
        if size == 1 and not use_agent_C and not novelty:
            # The belief sits on one state s (all else below the threshold): every predicted outcome
            # distribution is x times a column of the table, so H[x w] = x H[w] - x log x (columns sum to 1).
            s = support[0]
            x = np.float64(J0[i, s])
            x_log_x = x * np.float64(np.log(np.float32(x))) if log32 else x * np.log(x)
            for k in range(K):
                util[k] = x * np.float64(linear[s, k])
                info[k] = x * np.float64(column_entropy[s, k]) - x_log_x - x * np.float64(linear[s, K + k])
                param[k] = 0.0
            _add_to_policies(
                i,
                util,
                info,
                param,
                policy_nodes,
                use_utility,
                use_info,
                False,
                util_out,
                info_out,
                param_out,
            )
            continue
        count = 0
        nov_count = 0
        for k in range(2 * K):
            lin_acc[k] = 0.0
        for t in range(size):
            s = support[t]
            x = np.float64(J0[i, s])
            for p in range(qo_indptr[s], qo_indptr[s + 1]):
                j = qo_indices[p]
                if acc[j] == 0.0:
                    touched[count] = j
                    count += 1
                acc[j] += x * np.float64(qo_data[p])
            for k in range(2 * K):
                lin_acc[k] += x * np.float64(linear[s, k])
            if novelty:
                for p in range(nov_indptr[s], nov_indptr[s + 1]):
                    j = nov_indices[p]
                    if nov_acc[j] == 0.0:
                        nov_touched[nov_count] = j
                        nov_count += 1
                    nov_acc[j] += x * np.float64(nov_data[p])
        for k in range(K):
            util[k] = 0.0 if use_agent_C else lin_acc[k]
            info[k] = -lin_acc[K + k]
            param[k] = 0.0
        for t in range(count):
            j = touched[t]
            k = j // num_obs
            value = acc[j]
            if log32:
                # float32 working precision: logf, as the NumPy path's float32 logarithms (and faster)
                info[k] -= value * np.float64(np.log(max(np.float32(value), np.float32(clip))))
            else:
                info[k] -= value * np.log(max(value, clip))
            if use_agent_C:
                util[k] += value * np.float64(C_agent[i, j - k * num_obs])
            if novelty:
                param[k] -= value * nov_acc[j]
            acc[j] = 0.0
        for t in range(nov_count):
            nov_acc[nov_touched[t]] = 0.0
        _add_to_policies(
            i, util, info, param, policy_nodes, use_utility, use_info, novelty, util_out, info_out, param_out
        )


@numba.njit(nogil=True, cache=True, inline="always")
def _add_to_policies(
    i: int,
    util: Any,
    info: Any,
    param: Any,
    policy_nodes: Any,
    use_utility: bool,
    use_info: bool,
    novelty: bool,
    util_out: Any,
    info_out: Any,
    param_out: Any,
) -> None:
    """Add agent ``i``'s per-node values to every policy through the nodes it passes."""
    P, L = policy_nodes.shape
    for p in range(P):
        u = 0.0
        g = 0.0
        w = 0.0
        for t in range(L):
            k = policy_nodes[p, t]
            u += util[k]
            g += info[k]
            w += param[k]
        if use_utility:
            util_out[i, p] += u
        if use_info:
            info_out[i, p] += g
        if novelty:
            param_out[i, p] += w


@numba.njit(nogil=True, cache=True)
def step_one_factor(
    qs_prev: Any,
    action_prev: Any,
    D: Any,
    D_agent: Any,
    use_agent_D: bool,
    next_state: Any,
    Bt: Any,
    deterministic_B: bool,
    obs: Any,
    A_clip: Any,
    log_A: Any,
    obs_offset: Any,
    qo_indptr: Any,
    qo_indices: Any,
    qo_data: Any,
    linear: Any,
    column_entropy: Any,
    nov_indptr: Any,
    nov_indices: Any,
    nov_data: Any,
    num_nodes: Any,
    num_obs: Any,
    policy_nodes: Any,
    C_agent: Any,
    use_agent_C: Any,
    use_utility: bool,
    use_info: bool,
    gamma: float,
    log_E: Any,
    first_action: Any,
    num_actions: int,
    stochastic: bool,
    full_sampling: bool,
    alpha: float,
    uniforms: Any,
    clip: float,
    log32: bool,
    threshold: float,
    tiny: float,
    qs_out: Any,
    vfe_out: Any,
    util_out: Any,
    info_out: Any,
    param_out: Any,
    q_pi_out: Any,
    action_out: Any,
) -> None:
    """A whole step for a chunk of agents of a one-factor model (pymdp 1.0 semantics, shared ``A``/``B``).

    Shapes (``n`` agents, ``S`` states, ``M`` modalities, ``P`` policies, ``Nu`` actions): ``qs_prev``
    ``(n, S)``; ``action_prev`` ``(n,)`` (``-1`` at an episode's start: prior ``D``); ``D`` ``(S,)`` or
    ``D_agent`` ``(n, S)``; ``next_state`` ``(S, Nu)`` (deterministic ``B``) or ``Bt``
    ``(Nu, S, S)``; ``obs`` ``(n, M)``; ``A_clip`` / ``log_A`` ``(sum No, S)`` stacked over modalities at
    ``obs_offset`` ``(M,)``. Per modality ``m`` the sparse composite table is the ``m``-th entry of the
    tuples ``qo_*``, ``linear``, ``nov_*``, with ``num_nodes[m]`` nodes and ``num_obs[m]`` outcomes;
    ``policy_nodes[m]`` ``(P, L)`` lists the node of every step of every policy. ``C_agent[m]`` ``(n, No)``
    is used where ``use_agent_C[m]``. ``first_action`` ``(P,)``: each policy's first action; ``uniforms``
    ``(n, 1)`` for stochastic selection. Writes ``qs_out`` ``(n, S)``, ``vfe_out`` ``(n,)``, ``util_out``,
    ``info_out``, ``param_out``, ``q_pi_out`` ``(n, P)`` and ``action_out`` ``(n,)``.
    """
    n, S = qs_prev.shape
    M = obs.shape[1]
    P = log_E.shape[0]
    prior = np.empty(S, dtype=np.float64)
    lik = np.empty(S, dtype=np.float64)
    obs_row = np.empty(M, dtype=np.int64)
    neg_efe = np.empty(P, dtype=np.float64)
    marginal = np.empty(num_actions, dtype=np.float64)
    for i in range(n):
        # 1. prior
        a = action_prev[i]
        if a < 0:
            for s in range(S):
                prior[s] = D_agent[i, s] if use_agent_D else D[s]
        elif deterministic_B:
            for s in range(S):
                prior[s] = 0.0
            for s in range(S):
                prior[next_state[s, a]] += qs_prev[i, s]
        else:
            for t in range(S):
                prior[t] = 0.0
            for s in range(S):
                x = np.float64(qs_prev[i, s])
                if x != 0.0:
                    for t in range(S):
                        prior[t] += x * Bt[a, s, t]
        # 2. exact posterior: normalised product of the clipped prior and likelihoods
        for m in range(M):
            obs_row[m] = obs_offset[m] + obs[i, m]
        Z = 0.0
        if M == 1:
            o = obs_row[0]
            for s in range(S):
                value = max(prior[s], clip) * A_clip[o, s]
                lik[s] = value
                Z += value
        else:
            for s in range(S):
                value = max(prior[s], clip)
                for m in range(M):
                    value *= A_clip[obs_row[m], s]
                lik[s] = value
                Z += value
        if tiny < Z:
            for s in range(S):
                qs_out[i, s] = lik[s] / Z
            vfe_out[i] = -np.log(Z)
        else:
            # underflow: log space
            top = -np.inf
            for s in range(S):
                value = np.log(max(prior[s], clip))
                for m in range(M):
                    value += log_A[obs_row[m], s]
                lik[s] = value
                top = max(top, value)
            total = 0.0
            for s in range(S):
                total += np.exp(lik[s] - top)
            log_Z = top + np.log(total)
            for s in range(S):
                qs_out[i, s] = np.exp(lik[s] - log_Z)
            vfe_out[i] = -log_Z
    # 3. expected free energy of every policy, one modality at a time over all agents
    for i in range(n):
        for p in range(P):
            util_out[i, p] = 0.0
            info_out[i, p] = 0.0
            param_out[i, p] = 0.0
    for m in range(M):
        composite_efe(
            qs_out,
            threshold,
            qo_indptr[m],
            qo_indices[m],
            qo_data[m],
            linear[m],
            column_entropy[m],
            nov_indptr[m],
            nov_indices[m],
            nov_data[m],
            num_nodes[m],
            num_obs[m],
            policy_nodes[m],
            C_agent[m],
            use_agent_C[m],
            use_utility,
            use_info,
            clip,
            log32,
            util_out,
            info_out,
            param_out,
        )
    for i in range(n):
        # 4. policy posterior
        top = -np.inf
        for p in range(P):
            neg_efe[p] = gamma * (
                np.float64(util_out[i, p]) + np.float64(info_out[i, p]) + np.float64(param_out[i, p])
            ) + np.float64(log_E[p])
            top = max(top, neg_efe[p])
        total = 0.0
        for p in range(P):
            neg_efe[p] = np.exp(neg_efe[p] - top)
            total += neg_efe[p]
        for p in range(P):
            q_pi_out[i, p] = neg_efe[p] / total
        # 5. action
        if full_sampling:
            options = P
            for p in range(P):
                neg_efe[p] = q_pi_out[i, p]
            values = neg_efe
        else:
            options = num_actions
            for u in range(num_actions):
                marginal[u] = 0.0
            for p in range(P):
                marginal[first_action[p]] += q_pi_out[i, p]
            values = marginal
        if stochastic:
            top = -np.inf
            for u in range(options):
                values[u] = alpha * np.log(max(values[u], clip))
                top = max(top, values[u])
            total = 0.0
            for u in range(options):
                values[u] = np.exp(values[u] - top)
                total += values[u]
            # inverse CDF, as population._sample_rows: the first u whose cumulative mass reaches the draw
            cumulative = 0.0
            for u in range(options):
                cumulative += values[u] / total
                values[u] = cumulative
            draw = uniforms[i, 0] * values[options - 1]
            chosen = 0
            for u in range(options):
                if values[u] < draw:
                    chosen += 1
            chosen = min(chosen, options - 1)
        else:
            best = -np.inf
            for u in range(options):
                best = max(best, values[u])
            tolerance = _TIE_EPS * clip
            chosen = 0
            for u in range(options):
                if values[u] >= best - tolerance:
                    chosen = u
                    break
        action_out[i] = first_action[chosen] if full_sampling else chosen
