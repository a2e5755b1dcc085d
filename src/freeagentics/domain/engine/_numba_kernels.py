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

from collections.abc import Callable
from typing import Any, NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

#: Deterministic action selection's tie tolerance, in machine epsilons (``population.TIE_EPS``).
_TIE_EPS = 64

#: LLVM may reorder float sums (``reassoc``, so that reductions become SIMD) and fuse multiply-adds
#: (``contract``); no flag assumes away NaN, infinities or signed zeros. Results move by rounding only and
#: stay deterministic on one machine: they depend on the compiled code (and so on the CPU it was compiled
#: for: vector width, FMA), never on the thread count.
_FAST_SUMS = {"reassoc", "contract"}


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST_SUMS)
def composite_efe(
    J0: Any,
    threshold: float,
    qo_indptr: Any,
    qo_indices: Any,
    qo_data: Any,
    qo_dense: Any,
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
    ``column_entropy``, used for agents whose belief sits on a single state, and ``qo_dense``, the
    predicted-outcome block also stored dense, nodes padded to whole vectors, where that pays) are those of
    :class:`~.model.SparseComposite`
    (``K = num_nodes`` trie nodes, ``No = num_obs`` outcomes, ``policy_nodes`` ``(P, L)``). ``C_agent``
    ``(n, No)`` per-agent log-preferences, used when ``use_agent_C`` (else the table's utility columns).
    Adds to ``(n, P)`` arrays: ``util_out`` (``qo · C``), ``info_out`` (``H[qo] - E[H[A]]``), ``param_out``
    (``-qo · (wA x)``, only with novelty). Rows are indexed in place, never sliced: an array view per agent
    would cost reference counting.

    Three ways to the same values, chosen per agent: a belief on a single state reads the column
    entropies; in float32 with a dense table, whole rows are added and each node's ``qo log qo`` is summed
    in one SIMD loop; otherwise only the non-zero entries are visited.
    """
    n, S = J0.shape
    K = num_nodes
    KNo = K * num_obs
    novelty = len(nov_indptr) > 1
    KWd = qo_dense.shape[1]
    Wd = KWd // K  # columns per node, No rounded up to whole SIMD vectors (model.dense_width)
    dense = log32 and not novelty and qo_dense.shape[0] == S and Wd >= num_obs
    row = np.empty(KWd if dense else 0, dtype=np.float32)
    acc = np.zeros(KNo, dtype=np.float64)
    nov_acc = np.zeros(KNo, dtype=np.float64)
    touched = np.empty(KNo, dtype=np.int64)
    nov_touched = np.empty(KNo, dtype=np.int64)
    node_of = np.empty(KNo, dtype=np.int64)
    for j in range(KNo):
        node_of[j] = j // num_obs
    logs = np.empty(KNo, dtype=np.float64)
    log_work = _log32_work(KNo)
    lin_acc = np.zeros(2 * K, dtype=np.float64)
    util = np.empty(K, dtype=np.float64)
    info = np.empty(K, dtype=np.float64)
    param = np.empty(K, dtype=np.float64)
    support = np.empty(S, dtype=np.int64)
    clip32 = np.float32(clip)
    for i in range(n):
        size = 0
        for s in range(S):
            # branch-free: which entries pass is unpredictable from one agent to the next
            support[size] = s
            size += J0[i, s] > threshold
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
        else:
            for k in range(2 * K):
                lin_acc[k] = 0.0
            for t in range(size):
                s = support[t]
                x = np.float64(J0[i, s])
                for k in range(2 * K):
                    lin_acc[k] += x * np.float64(linear[s, k])
            for k in range(K):
                util[k] = 0.0 if use_agent_C else lin_acc[k]
                info[k] = -lin_acc[K + k]
                param[k] = 0.0
            if dense:
                # whole rows in float32 SIMD: the predicted outcomes, then per node the sum of qo log qo
                # (padding columns are 0 and add 0); unsigned indices spare the negative-index checks
                for j in range(KWd):
                    row[j] = np.float32(0.0)
                for t in range(size):
                    s = support[t]
                    x = J0[i, s]
                    for j in range(KWd):
                        row[j] += x * qo_dense[s, j]
                for k in range(K):
                    base = np.uintp(k * Wd)
                    h = np.float32(0.0)
                    for o in range(Wd):
                        value = row[base + np.uintp(o)]
                        h += value * _log32_one(max(value, clip32))
                    info[k] -= np.float64(h)
                    if use_agent_C:
                        u = 0.0
                        for o in range(num_obs):
                            u += np.float64(row[base + np.uintp(o)]) * np.float64(C_agent[i, o])
                        util[k] += u
            else:
                count, nov_count = _sparse_accumulate(
                    J0,
                    i,
                    support,
                    size,
                    qo_indptr,
                    qo_indices,
                    qo_data,
                    acc,
                    touched,
                    nov_indptr,
                    nov_indices,
                    nov_data,
                    nov_acc,
                    nov_touched,
                )
                if log32:
                    # float32 working precision: log of the float32-rounded value, as the NumPy path takes
                    for t in range(count):
                        log_work.values[t] = max(np.float32(acc[touched[t]]), clip32)
                    _log32(log_work, count)
                    for t in range(count):
                        logs[t] = np.float64(log_work.logs[t])
                else:
                    for t in range(count):
                        logs[t] = np.log(max(acc[touched[t]], clip))
                for t in range(count):
                    j = touched[t]
                    k = node_of[j]
                    value = acc[j]
                    info[k] -= value * logs[t]
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


@numba.njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _sparse_accumulate(
    J0: Any,
    i: int,
    support: Any,
    size: int,
    qo_indptr: Any,
    qo_indices: Any,
    qo_data: Any,
    acc: Any,
    touched: Any,
    nov_indptr: Any,
    nov_indices: Any,
    nov_data: Any,
    nov_acc: Any,
    nov_touched: Any,
) -> tuple[int, int]:
    """Agent ``i``'s predicted outcomes (and novelty weights) from the non-zero entries of the rows of the
    states in ``support[:size]``, added into the zeroed ``acc`` (``nov_acc``); the columns touched are
    listed in ``touched`` (``nov_touched``), whose lengths are returned."""
    count = 0
    nov_count = 0
    novelty = len(nov_indptr) > 1
    for t in range(size):
        s = support[t]
        x = np.float64(J0[i, s])
        for p in range(qo_indptr[s], qo_indptr[s + 1]):
            j = qo_indices[p]
            # branch-free: whether j is new is unpredictable, a mispredicted branch costs more
            touched[count] = j
            count += acc[j] == 0.0
            acc[j] += x * np.float64(qo_data[p])
        if novelty:
            for p in range(nov_indptr[s], nov_indptr[s + 1]):
                j = nov_indices[p]
                nov_touched[nov_count] = j
                nov_count += nov_acc[j] == 0.0
                nov_acc[j] += x * np.float64(nov_data[p])
    return count, nov_count


class _Log32Work(NamedTuple):
    """Scratch rows of :func:`_log32` (``size`` entries each)."""

    values: Any
    logs: Any


@numba.njit(nogil=True, cache=True)
def _log32_work(size: int) -> _Log32Work:
    return _Log32Work(np.empty(size, dtype=np.float32), np.empty(size, dtype=np.float32))


#: Bits of float32 sqrt(1/2): subtracting them splits x into 2**e * m with m in [sqrt(1/2), sqrt(2)).
_SQRT_HALF_BITS32 = 0x3F3504F3
#: ln 2 in two parts, the first exact in float32, so that e * ln 2 keeps float32 precision for large e.
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)


def _split32(builder: Any, x: Any) -> tuple[Any, Any]:
    """LLVM IR: ``x = 2**e * m`` with ``m`` in ``[sqrt(1/2), sqrt(2))``, from the float32 bits with 32-bit
    integer operations (Numba's own integer arithmetic widens to 64 bits, which SIMD code pays for)."""
    i32 = ir.IntType(32)
    bits = builder.bitcast(x, i32)
    e = builder.ashr(builder.sub(bits, ir.Constant(i32, _SQRT_HALF_BITS32)), ir.Constant(i32, 23))
    m = builder.bitcast(builder.sub(bits, builder.shl(e, ir.Constant(i32, 23))), ir.FloatType())
    return m, e


def _float32_intrinsic(name: str, build: Callable[[Any, Any], Any]) -> Any:
    """A Numba intrinsic ``float32 -> float32`` whose LLVM IR ``build(builder, x)`` emits."""

    def typing(typingctx: Any, x: Any) -> Any:
        if x != types.float32:
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return build(builder, args[0])

        return types.float32(types.float32), codegen

    typing.__name__ = typing.__qualname__ = name
    return intrinsic(typing)


def _pow2_ir(builder: Any, k: Any) -> Any:
    i32 = ir.IntType(32)
    biased = builder.add(builder.fptosi(k, i32), ir.Constant(i32, 127))
    return builder.bitcast(builder.shl(biased, ir.Constant(i32, 23)), ir.FloatType())


#: ``m`` of :func:`_split32` for a positive normal float32.
_mantissa32 = _float32_intrinsic("_mantissa32", lambda builder, x: _split32(builder, x)[0])
#: ``e`` of :func:`_split32`, as a float32.
_exponent32 = _float32_intrinsic(
    "_exponent32", lambda builder, x: builder.sitofp(_split32(builder, x)[1], ir.FloatType())
)
#: ``2**k`` for an integral float32 ``k`` in ``[-126, 127]``, built from the exponent bits.
_pow2_32 = _float32_intrinsic("_pow2_32", _pow2_ir)


@numba.njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _log32_one(x: Any) -> Any:
    """``log(x)`` for a positive normal float32 ``x``.

    libm's ``logf`` is a call per value; this is branch-free arithmetic, so loops over it become SIMD code
    (8 values per AVX2 instruction). ``x = 2**e * m`` with ``m`` in ``[sqrt(1/2), sqrt(2))``, ``f = m - 1``,
    ``s = f / (2 + f)`` (``|s| < 0.172``) and ``log m = 2 atanh s = 2 (s + s^3/3 + ... + s^11/11)``,
    whose remainder is below 2e-10. Error within 3 ulp of the true logarithm over all positive normal
    float32 (``tests/domain/engine/test_accelerator.py`` checks it against float64 ``np.log``); NumPy's
    float32 ``log`` is within about the same.
    """
    f = _mantissa32(x) - np.float32(1.0)
    s = f / (np.float32(2.0) + f)
    z = s * s
    r = s * (
        np.float32(2.0)
        + z
        * (
            np.float32(2.0 / 3.0)
            + z
            * (
                np.float32(2.0 / 5.0)
                + z * (np.float32(2.0 / 7.0) + z * (np.float32(2.0 / 9.0) + z * np.float32(2.0 / 11.0)))
            )
        )
    )
    e = _exponent32(x)
    return e * _LN2_HI + (r + e * _LN2_LO)


@numba.njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _log32(work: _Log32Work, count: int) -> None:
    """``work.logs[t] = log(work.values[t])`` for ``t < count`` (:func:`_log32_one`, SIMD)."""
    for t in range(count):
        work.logs[t] = _log32_one(work.values[t])


@numba.njit(nogil=True, cache=True, inline="always", error_model="numpy")
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


#: log2(e), and the float32 exponent's floor: below it exp underflows to float32's subnormals.
_LOG2E = np.float32(1.4426950408889634)
_EXP_FLOOR = np.float32(-87.0)


@numba.njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _exp32_one(x: Any) -> Any:
    """``exp(x)`` for a float32 ``x <= 0``.

    Branch-free for SIMD, as :func:`_log32_one`: ``x = n ln 2 + r`` with ``|r| <= ln(2) / 2`` and
    ``exp(r)`` by its Taylor polynomial to ``r^7 / 7!`` (remainder below 6e-9 relative), times ``2**n``
    built from the exponent bits. Values below -87 give 0 instead of a float32 subnormal (below 1.7e-38):
    only used where the largest value is 0, so the sum they join is at least 1.
    """
    below = x < _EXP_FLOOR
    x = max(x, _EXP_FLOOR)
    k = np.floor(x * _LOG2E + np.float32(0.5))
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = np.float32(1.0) + r * (
        np.float32(1.0)
        + r
        * (
            np.float32(1.0 / 2.0)
            + r
            * (
                np.float32(1.0 / 6.0)
                + r
                * (
                    np.float32(1.0 / 24.0)
                    + r
                    * (np.float32(1.0 / 120.0) + r * (np.float32(1.0 / 720.0) + r * np.float32(1.0 / 5040.0)))
                )
            )
        )
    )
    return np.float32(0.0) if below else p * _pow2_32(k)


@numba.njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _exp32(values: Any, out: Any, count: int) -> None:
    """``out[t] = exp(values[t])`` for ``t < count`` (:func:`_exp32_one`, SIMD)."""
    for t in range(count):
        out[t] = _exp32_one(values[t])


@numba.njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _neg_efe_row(util: Any, info: Any, param: Any, gamma: float, log_E: Any, i: int, row: Any) -> float:
    """``row[p] = gamma * neg_efe[i, p] + log E[p]`` for every policy; returns the largest."""
    top = -np.inf
    for p in range(row.shape[0]):
        row[p] = gamma * (
            np.float64(util[i, p]) + np.float64(info[i, p]) + np.float64(param[i, p])
        ) + np.float64(log_E[p])
        top = max(top, row[p])
    return top


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _policy_posterior(
    util: Any, info: Any, param: Any, gamma: float, log_E: Any, fast32: bool, q_pi_out: Any
) -> None:
    """``q_pi = softmax(gamma * (util + info + param) + log E)`` for every agent (``(n, P)`` arrays).

    With ``fast32`` (float32 working precision) the exponentials of all agents are taken in one SIMD pass
    (:func:`_exp32`); the sums are float64 either way.
    """
    n, P = util.shape
    if not fast32:
        neg_efe = np.empty(P, dtype=np.float64)
        for i in range(n):
            top = _neg_efe_row(util, info, param, gamma, log_E, i, neg_efe)
            total = 0.0
            for p in range(P):
                neg_efe[p] = np.exp(neg_efe[p] - top)
                total += neg_efe[p]
            for p in range(P):
                q_pi_out[i, p] = neg_efe[p] / total
        return
    shifted = np.empty(n * P, dtype=np.float32)
    exps = np.empty(n * P, dtype=np.float32)
    row = np.empty(P, dtype=np.float64)
    for i in range(n):
        top = _neg_efe_row(util, info, param, gamma, log_E, i, row)
        for p in range(P):
            shifted[i * P + p] = np.float32(row[p] - top)
    _exp32(shifted, exps, n * P)
    for i in range(n):
        total = 0.0
        for p in range(P):
            total += np.float64(exps[i * P + p])
        inverse = 1.0 / total
        for p in range(P):
            q_pi_out[i, p] = np.float64(exps[i * P + p]) * inverse


@numba.njit(nogil=True, cache=True, error_model="numpy")
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
    qo_dense: Any,
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
    tuples ``qo_*`` (``qo_dense`` included), ``linear``, ``nov_*``, with ``num_nodes[m]`` nodes and
    ``num_obs[m]`` outcomes; ``policy_nodes[m]`` ``(P, L)`` lists the node of every step of every policy.
    ``C_agent[m]`` ``(n, No)`` is used where ``use_agent_C[m]``. ``first_action`` ``(P,)``: each policy's
    first action; ``uniforms`` ``(n, 1)`` for stochastic selection. Writes ``qs_out`` ``(n, S)``,
    ``vfe_out`` ``(n,)``, ``util_out``, ``info_out``, ``param_out``, ``q_pi_out`` ``(n, P)`` and
    ``action_out`` ``(n,)``.
    """
    n, S = qs_prev.shape
    M = obs.shape[1]
    P = log_E.shape[0]
    prior = np.empty(S, dtype=np.float64)
    lik = np.empty(S, dtype=np.float64)
    obs_row = np.empty(M, dtype=np.int64)
    neg_efe = np.empty(P, dtype=np.float64)
    marginal = np.empty(num_actions, dtype=np.float64)
    evidence = _log32_work(n if log32 else 0)
    underflowed = np.zeros(n if log32 else 0, dtype=np.bool_)
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
            inverse = 1.0 / Z
            for s in range(S):
                qs_out[i, s] = lik[s] * inverse
            if log32:
                evidence.values[i] = np.float32(Z)
            else:
                vfe_out[i] = -np.log(Z)
        else:
            if log32:
                evidence.values[i] = np.float32(1.0)
                underflowed[i] = True
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
    if log32:
        # -log Z for every agent at once (SIMD); underflowed agents already have theirs
        _log32(evidence, n)
        for i in range(n):
            if not underflowed[i]:
                vfe_out[i] = -evidence.logs[i]
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
            qo_dense[m],
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
    # 4. policy posterior
    _policy_posterior(util_out, info_out, param_out, gamma, log_E, log32, q_pi_out)
    for i in range(n):
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
