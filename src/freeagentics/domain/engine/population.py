"""Stepping a population: perception, planning, action and learning for all agents at once.

Every function here works on whole batches: the agent axis is processed by NumPy array operations (split
into chunks that run on a thread pool for large populations), never by a Python loop over agents or
policies. The model tensors are shared; only :class:`PopulationState` is per agent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.engine.config import EngineConfig
from freeagentics.domain.engine.model import (
    LEGACY_EPS,
    LEGACY_MDP_G_EPS,
    CompositeModality,
    GenerativeModel,
    Numerics,
    PolicyPlan,
    clip_eps,
    clipped,
    exact_wnorm,
    legacy_wnorm,
    normalise_counts,
    safe_log,
)
from freeagentics.domain.engine.state import NO_ACTION, PopulationState, StepDiagnostics

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.integer[Any]]

#: Deterministic action selection treats values within this many machine epsilons of the maximum as ties.
TIE_EPS = 64
#: Populations at least this large are split over worker threads.
PARALLEL_MIN_AGENTS = 2048
#: Target bytes of the largest intermediate array of one chunk of agents (keeps the working set in cache).
CHUNK_BYTES = 2 * 1024 * 1024
#: The accelerator's one-factor kernel splits a population into about this many chunks.
FUSED_CHUNKS = 16

_executors: dict[int, ThreadPoolExecutor] = {}
_executor_lock = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process-wide pool with ``workers`` threads (one per distinct size, kept for the process)."""
    with _executor_lock:
        pool = _executors.get(workers)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="freeagentics-engine")
            _executors[workers] = pool
        return pool


def _num_threads(config: EngineConfig) -> int:
    if config.num_threads is not None:
        return config.num_threads
    return max(1, min(os.cpu_count() or 1, 8))


# ---------------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------------


def _per_agent(value: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """``value`` repeated over the agent axis as a fresh, writable, contiguous array of ``shape``.

    ``np.ascontiguousarray(np.broadcast_to(...))`` would hand back the read-only broadcast view itself
    when it happens to be contiguous (0 or 1 agents), and later row writes would fail.
    """
    return np.array(np.broadcast_to(value, shape), copy=True, order="C")


def init_population(
    model: GenerativeModel,
    config: EngineConfig,
    n_agents: int,
    *,
    C: Sequence[FloatArray | None] | None = None,
    D: Sequence[FloatArray | None] | None = None,
) -> PopulationState:
    """A fresh population of ``n_agents`` agents: beliefs ``D``, policy posterior ``E``, no action yet.

    ``C`` / ``D`` optionally give per-agent preferences / initial priors: one entry per modality / factor,
    ``None`` to share the model's, else an array ``(No[m],)`` / ``(Ns[f],)`` for all agents or
    ``(n_agents, No[m])`` / ``(n_agents, Ns[f])``. Learned Dirichlet counts start from the model's
    ``pA`` / ``pB`` / ``pD`` (copied per agent only for the modalities and factors that learn).
    """
    model.check_config(config)
    if not isinstance(n_agents, (int, np.integer)) or n_agents < 0:
        raise ValueError(f"n_agents must be a non-negative int, got {n_agents!r}")
    n = int(n_agents)
    dt = config.np_dtype
    sem = config.semantics
    C_state = _per_agent_vectors("C", C, n, model.num_obs, dt)
    D_state = _per_agent_vectors("D", D, n, model.num_states, dt)
    for f, d in enumerate(D_state or ()):
        if d is not None and not np.allclose(d.sum(axis=1), 1.0, atol=1e-6):
            raise ValueError(f"D[{f}] must sum to 1 for every agent")

    pA_state: tuple[FloatArray | None, ...] | None = None
    A_state: tuple[FloatArray | None, ...] | None = None
    learned_A = model.learned_modalities(config)
    if learned_A:
        pA = model.pA
        assert pA is not None
        pA_list: list[FloatArray | None] = [None] * model.num_modalities
        A_list: list[FloatArray | None] = [None] * model.num_modalities
        for m in learned_A:
            counts = np.asarray(pA[m], dtype=dt)
            pA_list[m] = _per_agent(counts, (n, *counts.shape))
            # pymdp 1.0 starts from the given A; pymdp.legacy replaces it by the normalised counts.
            start = normalise_counts(counts, sem) if sem == "legacy" else np.asarray(model.A[m], dtype=dt)
            A_list[m] = _per_agent(start, (n, *start.shape))
        pA_state, A_state = tuple(pA_list), tuple(A_list)

    pB_state: tuple[FloatArray | None, ...] | None = None
    B_state: tuple[FloatArray | None, ...] | None = None
    learned_B = model.learned_factors(config)
    if learned_B:
        pB = model.pB
        assert pB is not None
        pB_list: list[FloatArray | None] = [None] * model.num_factors
        B_list: list[FloatArray | None] = [None] * model.num_factors
        for f in learned_B:
            counts = np.asarray(pB[f], dtype=dt)
            pB_list[f] = _per_agent(counts, (n, *counts.shape))
            start = normalise_counts(counts, sem) if sem == "legacy" else np.asarray(model.B[f], dtype=dt)
            B_list[f] = _per_agent(start, (n, *start.shape))
        pB_state, B_state = tuple(pB_list), tuple(B_list)

    pD_state: tuple[FloatArray | None, ...] | None = None
    learned_D = model.learned_priors(config)
    if learned_D:
        pD = model.pD
        assert pD is not None
        pD_list: list[FloatArray | None] = [None] * model.num_factors
        D_list: list[FloatArray | None] = list(D_state) if D_state is not None else [None] * model.num_factors
        for f in learned_D:
            pD_list[f] = _per_agent(np.asarray(pD[f], dtype=dt), (n, model.num_states[f]))
            if D_list[f] is None:
                D_list[f] = _per_agent(np.asarray(model.D[f], dtype=dt), (n, model.num_states[f]))
        pD_state, D_state = tuple(pD_list), tuple(D_list)

    num = model.numerics(config)
    qs = tuple(
        np.array(D_state[f], dtype=dt)
        if D_state is not None and D_state[f] is not None
        else _per_agent(num.D[f], (n, model.num_states[f]))
        for f in range(model.num_factors)
    )
    q_pi = _per_agent(np.asarray(model.E / model.E.sum(), dtype=dt), (n, model.num_policies))
    action = np.full((n, model.num_factors), NO_ACTION, dtype=np.int32)
    return PopulationState(
        qs=qs,
        q_pi=q_pi,
        action=action,
        pA=pA_state,
        A=A_state,
        pB=pB_state,
        B=B_state,
        pD=pD_state,
        C=C_state,
        D=D_state,
    )


def reset_agents(
    model: GenerativeModel,
    config: EngineConfig,
    state: PopulationState,
    agents: IntArray | NDArray[np.bool_] | None = None,
) -> PopulationState:
    """Start a new episode for ``agents`` (indices or a boolean mask; ``None``: all).

    Their beliefs return to ``D`` (their own, if per agent or learned), ``q_pi`` to ``E`` and their last
    action to ``NO_ACTION``, so the next step uses ``D`` as prior. Learned counts are kept.
    """
    n = state.num_agents
    idx = np.arange(n) if agents is None else np.asarray(agents)
    if idx.dtype == np.bool_:
        if idx.shape != (n,):
            raise ValueError(f"agent mask must have shape ({n},), got {idx.shape}")
        idx = np.flatnonzero(idx)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"agent indices must lie in [0, {n})")
    num = model.numerics(config)
    qs = []
    for f, q in enumerate(state.qs):
        new = q.copy()
        d_f = state.D[f] if state.D is not None else None
        new[idx] = d_f[idx] if d_f is not None else num.D[f]
        qs.append(new)
    q_pi = state.q_pi.copy()
    q_pi[idx] = np.asarray(model.E / model.E.sum(), dtype=q_pi.dtype)
    action = state.action.copy()
    action[idx] = NO_ACTION
    return replace(state, qs=tuple(qs), q_pi=q_pi, action=action)


def set_preferences(
    model: GenerativeModel,
    state: PopulationState,
    modality: int,
    C: FloatArray,
    agents: IntArray | NDArray[np.bool_] | None = None,
) -> PopulationState:
    """Give ``agents`` (``None``: all) their own preferences ``C`` ``(No[m],)`` or ``(len(agents), No[m])``
    for one modality; the other agents keep theirs (the model's unless set before)."""
    if not 0 <= modality < model.num_modalities:
        raise ValueError(f"modality {modality} out of range [0, {model.num_modalities})")
    n = state.num_agents
    dt = state.q_pi.dtype
    values = np.asarray(C, dtype=dt)
    if not np.all(np.isfinite(values)):
        raise ValueError("C must be finite")
    idx = np.arange(n) if agents is None else np.asarray(agents)
    if idx.dtype == np.bool_:
        idx = np.flatnonzero(idx)
    current: list[FloatArray | None] = list(state.C) if state.C is not None else [None] * model.num_modalities
    existing = current[modality]
    table = (
        existing.copy()
        if existing is not None
        else _per_agent(np.asarray(model.C[modality], dtype=dt), (n, model.num_obs[modality]))
    )
    if values.shape not in ((model.num_obs[modality],), (idx.size, model.num_obs[modality])):
        raise ValueError(
            f"C for modality {modality} must have shape ({model.num_obs[modality]},) or "
            f"({idx.size}, {model.num_obs[modality]}), got {values.shape}"
        )
    table[idx] = values
    current[modality] = table
    return replace(state, C=tuple(current))


def empirical_prior(
    model: GenerativeModel, config: EngineConfig, state: PopulationState
) -> tuple[FloatArray, ...]:
    """Each agent's prior for its next step: ``B[f][:, :, action] @ qs[f]``, or ``D[f]`` before any action."""
    num = model.numerics(config)
    n = state.num_agents
    return tuple(_prior_factor(model, num, state, f, 0, n) for f in range(model.num_factors))


def step(
    model: GenerativeModel,
    config: EngineConfig,
    state: PopulationState,
    observations: IntArray,
    rng: np.random.Generator | None = None,
) -> tuple[PopulationState, NDArray[np.int32], StepDiagnostics]:
    """One perception-action(-learning) cycle for every agent of the population.

    ``observations`` is an int array ``(N, num_modalities)`` of outcome indices. In order, as pymdp 1.0's
    ``rollout`` does: (1) prior = ``B[action] @ qs`` (``D`` after ``NO_ACTION``); (2) posterior ``qs`` by
    fixed-point iteration; (3) ``neg_efe`` of every policy and ``q_pi = softmax(gamma * neg_efe + log E)``;
    (4) Dirichlet learning: ``pA[o] += lr * qs`` (every step), ``pB[:, :, a] += lr * qs ⊗ qs_prev`` (after
    an action), ``pD += lr * qs`` (first step of an episode); (5) action from ``q_pi``. ``rng`` (a
    ``numpy.random.Generator``) is required for stochastic action selection and is the only source of
    randomness. Returns ``(new_state, actions (N, F) int32, diagnostics)``.
    """
    model.check_config(config)
    n = state.num_agents
    obs = _check_observations(model, observations, n)
    if state.q_pi.dtype != config.np_dtype:
        raise ValueError(f"state dtype {state.q_pi.dtype} does not match config dtype {config.dtype}")
    uniforms: FloatArray | None = None
    if config.action_selection == "stochastic":
        if rng is None:
            raise ValueError("stochastic action selection needs rng (a numpy.random.Generator)")
        uniforms = rng.random((n, model.num_factors if config.sampling_mode == "marginal" else 1))
    ctx = _Context(
        model,
        config,
        model.numerics(config),
        model.plan(config),
        state,
        obs,
        uniforms,
        model.composites(config),
        fused_step_applies(model, config),
    )
    out = _Outputs.allocate(model, config, state, n)
    chunks = _fused_chunks(n) if ctx.fused else _chunks(model, config, ctx.plan, n)
    workers = _num_threads(config)
    if workers > 1 and n >= PARALLEL_MIN_AGENTS and len(chunks) > 1:
        futures = [_pool(workers).submit(_step_chunk, ctx, out, lo, hi) for lo, hi in chunks]
        for fut in futures:
            fut.result()
    else:
        for lo, hi in chunks:
            _step_chunk(ctx, out, lo, hi)
    new_state = replace(
        state,
        qs=tuple(out.qs),
        q_pi=out.q_pi,
        action=out.action,
        pA=_tuple_or_none(out.pA),
        A=_tuple_or_none(out.A),
        pB=_tuple_or_none(out.pB),
        B=_tuple_or_none(out.B),
        pD=_tuple_or_none(out.pD),
        D=_tuple_or_none(out.D) if out.D is not None else state.D,
    )
    diagnostics = StepDiagnostics(
        vfe=out.vfe,
        neg_efe=out.utility + out.info + out.param,
        utility=out.utility,
        state_info_gain=out.info,
        param_info_gain=out.param,
        q_pi=out.q_pi,
    )
    return new_state, out.action, diagnostics


# ---------------------------------------------------------------------------------------------------------
# plumbing
# ---------------------------------------------------------------------------------------------------------


def _rows(items: tuple[FloatArray | None, ...] | None, i: int, lo: int, hi: int) -> FloatArray | None:
    """Rows ``lo:hi`` of the per-agent array ``items[i]``, or ``None`` where there is none."""
    if items is None:
        return None
    item = items[i]
    return None if item is None else item[lo:hi]


def _tuple_or_none(items: list[FloatArray | None] | None) -> tuple[FloatArray | None, ...] | None:
    return None if items is None else tuple(items)


def _per_agent_vectors(
    name: str, values: Sequence[FloatArray | None] | None, n: int, sizes: Sequence[int], dt: np.dtype[Any]
) -> tuple[FloatArray | None, ...] | None:
    if values is None:
        return None
    if len(values) != len(sizes):
        raise ValueError(f"{name} must have {len(sizes)} entries, got {len(values)}")
    out: list[FloatArray | None] = []
    for i, (v, size) in enumerate(zip(values, sizes, strict=True)):
        if v is None:
            out.append(None)
            continue
        a = np.asarray(v, dtype=dt)
        if a.shape == (size,):
            a = np.broadcast_to(a, (n, size))
        if a.shape != (n, size):
            raise ValueError(f"{name}[{i}] must have shape ({size},) or ({n}, {size}), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}[{i}] must be finite")
        out.append(np.ascontiguousarray(a))
    return tuple(out)


def _check_observations(model: GenerativeModel, observations: IntArray, n: int) -> NDArray[np.intp]:
    obs = np.asarray(observations)
    if obs.shape != (n, model.num_modalities):
        raise ValueError(f"observations must have shape ({n}, {model.num_modalities}), got {obs.shape}")
    if obs.size and not np.issubdtype(obs.dtype, np.integer):
        raise ValueError(f"observations must be integers, got dtype {obs.dtype}")
    checked: NDArray[np.intp] = obs.astype(np.intp, copy=False)
    obs = checked
    for m, size in enumerate(model.num_obs):
        col = obs[:, m]
        bad = np.flatnonzero((col < 0) | (col >= size))
        if bad.size:
            raise ValueError(
                f"observation of modality {m} for agent {bad[0]} is {col[bad[0]]}, outside [0, {size})"
            )
    return obs


@dataclass
class _Context:
    model: GenerativeModel
    config: EngineConfig
    num: Numerics
    plan: PolicyPlan
    state: PopulationState
    obs: NDArray[np.intp]
    uniforms: FloatArray | None
    composites: tuple[CompositeModality, ...] | None
    fused: bool = False


@dataclass
class _Outputs:
    qs: list[FloatArray]
    q_pi: FloatArray
    action: NDArray[np.int32]
    vfe: FloatArray
    utility: FloatArray
    info: FloatArray
    param: FloatArray
    pA: list[FloatArray | None] | None
    A: list[FloatArray | None] | None
    pB: list[FloatArray | None] | None
    B: list[FloatArray | None] | None
    pD: list[FloatArray | None] | None
    D: list[FloatArray | None] | None

    @classmethod
    def allocate(
        cls, model: GenerativeModel, config: EngineConfig, state: PopulationState, n: int
    ) -> _Outputs:
        dt = config.np_dtype
        P = model.num_policies

        def like(items: tuple[FloatArray | None, ...] | None) -> list[FloatArray | None] | None:
            return None if items is None else [None if a is None else np.empty_like(a) for a in items]

        learned_D = model.learned_priors(config)
        D_out: list[FloatArray | None] | None = None
        if learned_D and state.D is not None:
            D_out = [
                None if d is None else (np.empty_like(d) if f in learned_D else d)
                for f, d in enumerate(state.D)
            ]
        return cls(
            qs=[np.empty((n, s), dtype=dt) for s in model.num_states],
            q_pi=np.empty((n, P), dtype=dt),
            action=np.empty((n, model.num_factors), dtype=np.int32),
            vfe=np.empty(n, dtype=dt),
            utility=np.zeros((n, P), dtype=dt),
            info=np.zeros((n, P), dtype=dt),
            param=np.zeros((n, P), dtype=dt),
            pA=like(state.pA),
            A=like(state.A),
            pB=like(state.pB),
            B=like(state.B),
            pD=like(state.pD),
            D=D_out,
        )


def _fused_chunks(n: int) -> list[tuple[int, int]]:
    """Chunks for the one-factor kernel: its working set is a few rows per agent, so chunks only need to be
    many enough to spread over the threads and few enough to keep the per-call overhead small."""
    size = min(max(-(-n // FUSED_CHUNKS), 256), 16384)
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _chunks(model: GenerativeModel, config: EngineConfig, plan: PolicyPlan, n: int) -> list[tuple[int, int]]:
    widest = max(
        [
            len(level.nodes) * max(model.modality_states(m), model.num_obs[m])
            for m, levels in enumerate(plan.modality_levels)
            for level in levels
        ]
        + [model.num_policies]
    )
    learned = 0
    if config.learn_A and model.pA is not None:
        learned += sum(p.size for p in model.pA if p is not None)
    if config.learn_B and model.pB is not None:
        learned += sum(p.size for p in model.pB if p is not None)
    learned *= 4 * config.np_dtype.itemsize
    per_agent = max(widest * config.np_dtype.itemsize, learned, 1)
    # The split depends on the model, the config and N only, never on the number of threads: BLAS may round
    # differently for different block sizes, and results must not depend on the machine's thread count.
    size = max(64, CHUNK_BYTES // per_agent)
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


# ---------------------------------------------------------------------------------------------------------
# the kernel: one chunk of agents
# ---------------------------------------------------------------------------------------------------------


def _step_chunk(ctx: _Context, out: _Outputs, lo: int, hi: int) -> None:
    if ctx.fused:
        _step_chunk_fused(ctx, out, lo, hi)
        return
    model, config, num, state = ctx.model, ctx.config, ctx.num, ctx.state
    obs = ctx.obs[lo:hi]
    prior = [_prior_factor(model, num, state, f, lo, hi) for f in range(model.num_factors)]
    A_agent = _agent_A(model, config, state, lo, hi)
    qs, vfe = _infer_states(model, config, num, prior, obs, A_agent)
    for f, q in enumerate(qs):
        out.qs[f][lo:hi] = q
    out.vfe[lo:hi] = vfe

    _expected_free_energy(ctx, qs, A_agent, out, lo, hi)
    neg_efe = out.utility[lo:hi] + out.info[lo:hi] + out.param[lo:hi]
    out.q_pi[lo:hi] = _softmax_rows(config.gamma * neg_efe + num.log_E)

    _learn(ctx, qs, obs, out, lo, hi)
    out.action[lo:hi] = _select_actions(ctx, out.q_pi[lo:hi], lo, hi)


def _prior_factor(
    model: GenerativeModel, num: Numerics, state: PopulationState, f: int, lo: int, hi: int
) -> FloatArray:
    qs_prev = state.qs[f][lo:hi]
    actions = state.action[lo:hi, f]
    B_agent = state.B[f] if state.B is not None else None
    prior = np.empty_like(qs_prev)
    start = actions < 0
    if start.any():
        D_agent = state.D[f] if state.D is not None else None
        prior[start] = D_agent[lo:hi][start] if D_agent is not None else num.D[f]
    moved = ~start
    if not moved.any():
        return prior
    if B_agent is not None:
        rows = np.flatnonzero(moved)
        B_sel = B_agent[lo:hi][rows, :, :, actions[rows]]  # (r, Ns, Ns)
        prior[rows] = np.matmul(B_sel, qs_prev[rows][:, :, None])[:, :, 0]
        return prior
    pre = num.preimages[f]
    for u in range(model.num_controls[f]):
        rows = np.flatnonzero(actions == u)
        if not rows.size:
            continue
        block = qs_prev if rows.size == len(actions) else qs_prev[rows]
        if pre is not None:
            # deterministic B: gather each target's source states (a zero column pads missing ones)
            padded = np.concatenate([block, np.zeros((len(block), 1), dtype=block.dtype)], axis=1)
            moved_mass = padded[:, pre[u, :, 0]]
            for j in range(1, pre.shape[2]):
                moved_mass += padded[:, pre[u, :, j]]
        else:
            moved_mass = block @ num.Bt[f][u]
        if rows.size == len(actions):
            return moved_mass
        prior[rows] = moved_mass
    return prior


def _agent_A(
    model: GenerativeModel, config: EngineConfig, state: PopulationState, lo: int, hi: int
) -> list[FloatArray | None]:
    """Per-agent ``A[m]`` flattened to ``(n, No, S_m)`` for learned modalities, ``None`` for shared ones."""
    out: list[FloatArray | None] = [None] * model.num_modalities
    if state.A is None:
        return out
    for m, a in enumerate(state.A):
        if a is not None:
            out[m] = a[lo:hi].reshape(hi - lo, model.num_obs[m], -1)
    return out


def _softmax_rows(x: FloatArray) -> FloatArray:
    x = x - x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def _xlogx_rowsum(q: FloatArray) -> FloatArray:
    """``sum(q * log(max(q, eps)))`` over the last axis (pymdp 1.0's ``stable_xlogx``)."""
    logs = np.maximum(q, clip_eps(q.dtype))
    np.log(logs, out=logs)
    return np.asarray(np.einsum("...i,...i->...", q, logs))


# ------------------------------------------------------------------------------------------- inference


def _infer_states(
    model: GenerativeModel,
    config: EngineConfig,
    num: Numerics,
    prior: list[FloatArray],
    obs: NDArray[np.intp],
    A_agent: list[FloatArray | None],
) -> tuple[list[FloatArray], FloatArray]:
    sem = config.semantics
    n = obs.shape[0]
    rows = np.arange(n)
    if model.num_factors == 1:
        # Exact in one pass. softmax(sum_m log A_m[o_m] + log prior) computed as a normalised product of the
        # clipped values (no logarithms); rows whose product underflows fall back to log space.
        lik = clipped(prior[0], sem)
        for m in range(model.num_modalities):
            a_m = A_agent[m]
            lik *= num.A_clip[m][obs[:, m]] if a_m is None else clipped(a_m[rows, obs[:, m]], sem)
        Z = lik.sum(axis=1)
        tiny = np.finfo(lik.dtype).tiny * 1e6
        bad = np.flatnonzero(~(tiny < Z))
        if bad.size:
            log_post = safe_log(prior[0][bad], sem)
            for m in range(model.num_modalities):
                a_m = A_agent[m]
                log_post += num.log_A[m][obs[bad, m]] if a_m is None else safe_log(a_m[bad, obs[bad, m]], sem)
            log_Z_bad = np.logaddexp.reduce(log_post, axis=1)
            lik[bad] = np.exp(log_post - log_Z_bad[:, None])
            Z[bad] = 1.0
        q = lik / Z[:, None]
        log_Z = np.log(Z)
        if bad.size:
            log_Z[bad] = log_Z_bad
        # For the exact posterior, VFE = sum q log q - sum q log prior - sum q log lik = -log Z (pymdp's
        # clipped xlogy differs only on entries below eps, by less than eps / e each).
        vfe = -log_Z
        return [q], vfe
    return _fpi(model, config, num, prior, obs, A_agent)


def _fpi(
    model: GenerativeModel,
    config: EngineConfig,
    num: Numerics,
    prior: list[FloatArray],
    obs: NDArray[np.intp],
    A_agent: list[FloatArray | None],
) -> tuple[list[FloatArray], FloatArray]:
    """Mean-field fixed-point iteration (``run_factorized_fpi``; legacy ``run_vanilla_fpi_factorized``).

    All factors are updated together from the previous iterate, starting from uniform beliefs. With a
    ``tolerance``, an agent stops once its free energy changes by less than it (legacy ``dF_tol``).
    """
    sem = config.semantics
    n = obs.shape[0]
    rows = np.arange(n)
    F = model.num_factors
    ll: list[FloatArray] = []
    for m in range(model.num_modalities):
        a_m = A_agent[m]
        flat = num.log_A[m][obs[:, m]] if a_m is None else safe_log(a_m[rows, obs[:, m]], sem)
        ll.append(flat.reshape(n, *(model.num_states[f] for f in model.A_factor_list[m])))
    log_prior = [safe_log(p, sem) for p in prior]
    # Modalities that depend on one factor only contribute a constant to that factor's update.
    const = [lp.copy() for lp in log_prior]
    coupled: list[tuple[int, int, str, list[int]]] = []  # (m, f, einsum subscripts, other factors)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for m, deps in enumerate(model.A_factor_list):
        if len(deps) == 1:
            const[deps[0]] += ll[m]
            continue
        for i, f in enumerate(deps):
            others = [d for d in deps if d != f]
            sub = "Z" + "".join(letters[j] for j in range(len(deps)))
            operands = ",".join("Z" + letters[deps.index(d)] for d in others)
            coupled.append((m, f, f"{sub},{operands}->Z{letters[i]}", others))

    def update(q: list[FloatArray]) -> list[FloatArray]:
        new = [c.copy() for c in const]
        for m, f, subs, others in coupled:
            new[f] += np.einsum(subs, ll[m], *(q[d] for d in others), optimize=False)
        return new

    def log_q_entropy_term(qf: FloatArray) -> FloatArray:
        return _xlogx_rowsum(qf) if sem == "pymdp" else np.einsum("ni,ni->n", qf, np.log(qf + LEGACY_EPS))

    def free_energy(q: list[FloatArray], with_accuracy: bool = True) -> FloatArray:
        vfe = np.zeros(n, dtype=q[0].dtype)
        for f in range(F):
            vfe += log_q_entropy_term(q[f]) - np.einsum("ni,ni->n", q[f], log_prior[f])
        if with_accuracy:
            for m, deps in enumerate(model.A_factor_list):
                vfe -= _expected(ll[m], [q[d] for d in deps])
        return vfe

    q = [np.full((n, s), 1.0 / s, dtype=prior[0].dtype) for s in model.num_states]
    if config.tolerance is None:
        for _ in range(config.num_iter):
            q = [_softmax_rows(x) for x in update(q)]
    else:
        # pymdp.legacy: start from F(uniform q) without the accuracy term and dF = 1; iterate while
        # dF >= tolerance, per agent.
        prev = free_energy(q, with_accuracy=False)
        active = np.full(n, config.tolerance <= 1.0)
        for _ in range(config.num_iter):
            if not active.any():
                break
            new_q = [_softmax_rows(x) for x in update(q)]
            for f in range(F):
                new_q[f][~active] = q[f][~active]
            q = new_q
            current = free_energy(q)
            dF = np.abs(prev - current)
            prev = np.where(active, current, prev)
            active &= dF >= config.tolerance
    # pymdp 1.0's calc_vfe of the result
    vfe = np.zeros(n, dtype=q[0].dtype)
    for f in range(F):
        vfe += _xlogx_rowsum(q[f]) - np.einsum("ni,ni->n", q[f], log_prior[f])
    for m, deps in enumerate(model.A_factor_list):
        vfe -= _expected(ll[m], [q[d] for d in deps])
    return q, vfe


def _expected(tensor: FloatArray, factors: list[FloatArray]) -> FloatArray:
    """``E_q[tensor]`` for ``tensor`` ``(n, *dims)`` under independent ``factors`` ``[(n, dim_i)]``."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    k = len(factors)
    subs = "Z" + letters[:k] + "," + ",".join("Z" + letters[i] for i in range(k)) + "->Z"
    return np.asarray(np.einsum(subs, tensor, *factors, optimize=False))


# ------------------------------------------------------------------------------- expected free energy


def _expected_free_energy(
    ctx: _Context, qs: list[FloatArray], A_agent: list[FloatArray | None], out: _Outputs, lo: int, hi: int
) -> None:
    """Accumulate utility, state and parameter information gain of every policy into ``out[lo:hi]``.

    Walks the policy trie step by step: at step ``t`` every distinct predicted belief (per factor) and
    every distinct predicted outcome distribution (per modality) is computed once for the whole chunk, as
    ``(nodes, agents, states)`` arrays, and added to every policy that passes through it.
    """
    model, config, num, plan, state = ctx.model, ctx.config, ctx.num, ctx.plan, ctx.state
    if not (config.use_utility or config.use_states_info_gain or config.use_param_info_gain):
        return
    if ctx.composites is not None:
        _efe_composite(ctx, ctx.composites, qs, out, lo, hi)
        return
    sem = config.semantics
    n = hi - lo
    P = model.num_policies
    dt = config.np_dtype
    util = np.zeros((P, n), dtype=dt)
    info = np.zeros((P, n), dtype=dt)
    param = np.zeros((P, n), dtype=dt)
    B_agent = [_rows(state.B, f, lo, hi) for f in range(model.num_factors)]
    C_agent = [_rows(state.C, m, lo, hi) for m in range(model.num_modalities)]
    if sem == "legacy":
        C_agent = [None if c is None else _legacy_log_pref_rows(c) for c in C_agent]

    # Per-agent quantities of learned A (ambiguity and novelty weights change as A is learned).
    amb_agent: list[FloatArray | None] = [None] * model.num_modalities
    wA: list[FloatArray | None] = [None] * model.num_modalities  # (No, S) shared or (n, No, S)
    for m, a_m in enumerate(A_agent):
        if a_m is not None and config.use_states_info_gain:
            amb_agent[m] = _ambiguity_rows(a_m, sem)
    if config.use_param_info_gain and model.pA is not None:
        wnorm = legacy_wnorm if sem == "legacy" else exact_wnorm
        for m in range(model.num_modalities):
            counts = _rows(state.pA, m, lo, hi)
            if counts is not None:
                p = counts.reshape(n, model.num_obs[m], -1)
                wA[m] = np.asarray(wnorm(np.moveaxis(p, 1, 0).astype(np.float64)), dtype=dt).transpose(
                    1, 0, 2
                )
            elif num.wA is not None:
                wA[m] = num.wA[m]
    wBt: list[FloatArray | None] = [None] * model.num_factors  # (Nu, Ns, Ns) shared or (n, Nu, Ns, Ns)
    if config.use_param_info_gain and model.pB is not None:
        wnorm = legacy_wnorm if sem == "legacy" else exact_wnorm
        for f in range(model.num_factors):
            counts = _rows(state.pB, f, lo, hi)  # (n, Ns, Ns, Nu)
            if counts is not None:
                w_f = np.asarray(
                    wnorm(np.moveaxis(counts, 1, 0).astype(np.float64)), dtype=dt
                )  # (Ns, n, Ns, Nu)
                wBt[f] = np.ascontiguousarray(np.transpose(w_f, (1, 3, 2, 0)))  # (n, Nu, Ns_prev, Ns_next)
            elif num.wBt is not None:
                wBt[f] = num.wBt[f]

    X_prev = [q[None] for q in qs]  # per factor: (nodes, n, Ns)
    for t in range(model.policy_len):
        X_new: list[FloatArray] = []
        for f in range(model.num_factors):
            level = plan.factor_levels[f][t]
            parents = X_prev[f] if _is_identity(level.parent, X_prev[f].shape[0]) else X_prev[f][level.parent]
            x = _propagate(parents, level.action, num.Bt[f], B_agent[f])
            X_new.append(x)
            w_B = wBt[f]
            if w_B is not None:
                # novelty of B: qs_next . (wB[:, :, a] @ qs_prev), per node
                if w_B.ndim == 3:
                    y = _propagate(parents, level.action, w_B, None)
                else:
                    y = _propagate(parents, level.action, w_B, w_agent_layout=True)
                term = -np.einsum("kns,kns->kn", x, y)
                param += term[level.policy_node]
        for m, deps in enumerate(model.A_factor_list):
            level_m = plan.modality_levels[m][t]
            J = _joint(X_new, deps, level_m.nodes)  # (K, n, S_m)
            a_m = A_agent[m]
            qo = (
                _matmul_last(J, num.A2T[m])
                if a_m is None
                else np.matmul(J.transpose(1, 0, 2), a_m.transpose(0, 2, 1)).transpose(1, 0, 2)
            )
            idx = level_m.policy_node
            if config.use_utility:
                c = C_agent[m]
                u = qo @ num.C[m] if c is None else np.einsum("kno,no->kn", qo, c)
                util += u[idx]
            if config.use_states_info_gain:
                info += _state_info_gain(J, qo, a_m, num, m, amb_agent[m], sem)[idx]
            w_m = wA[m]
            if w_m is not None:
                wj = (
                    J @ w_m.T
                    if w_m.ndim == 2
                    else np.matmul(J.transpose(1, 0, 2), w_m.transpose(0, 2, 1)).transpose(1, 0, 2)
                )
                param += (-np.einsum("kno,kno->kn", qo, wj))[idx]
        X_prev = X_new
    out.utility[lo:hi] = util.T
    out.info[lo:hi] = info.T
    out.param[lo:hi] = param.T


def _efe_composite(
    ctx: _Context,
    composites: tuple[CompositeModality, ...],
    qs: list[FloatArray],
    out: _Outputs,
    lo: int,
    hi: int,
) -> None:
    """Fast path with shared ``A`` and ``B``: per modality, one matrix product of the current joint beliefs
    with the precomputed composite table gives every node's predicted outcomes and linear terms at once."""
    model, config, state = ctx.model, ctx.config, ctx.state
    n = hi - lo
    util = out.utility[lo:hi]
    info = out.info[lo:hi]
    param = out.param[lo:hi]
    if config.accelerator == "numba":
        _efe_composite_sparse(ctx, composites, qs, lo, hi, util, info, param)
        return
    for m, comp in enumerate(composites):
        Y = _modality_joint(model, qs, m) @ comp.W
        K, No = comp.num_nodes, model.num_obs[m]
        qo = Y[:, : K * No].reshape(n, K, No)
        if config.use_utility:
            c = _rows(state.C, m, lo, hi)
            u = Y[:, K * No : K * No + K] if c is None else np.einsum("nko,no->nk", qo, c)
            util += u @ comp.incidence
        if config.use_states_info_gain:
            gain = _xlogx_rowsum(qo)
            gain += Y[:, K * No + K : K * No + 2 * K]
            info -= gain @ comp.incidence
        if Y.shape[1] > K * No + 2 * K:
            wq = Y[:, K * No + 2 * K :].reshape(n, K, No)
            param -= np.einsum("nko,nko->nk", qo, wq) @ comp.incidence


def _modality_joint(model: GenerativeModel, qs: list[FloatArray], m: int) -> FloatArray:
    """Current joint beliefs ``(n, prod Ns[deps])`` over the factors modality ``m`` depends on."""
    deps = model.A_factor_list[m]
    J0 = qs[deps[0]]
    for d in deps[1:]:
        J0 = (J0[:, :, None] * qs[d][:, None, :]).reshape(len(J0), -1)
    return J0


def sparse_threshold(dtype: np.dtype[Any], num_states: int) -> float:
    """Belief entries at or below this are skipped by the accelerator: ``eps / S``, so the skipped mass of
    a row of ``S`` joint states is at most one machine epsilon of the working dtype."""
    return float(np.finfo(dtype).eps) / num_states


def _efe_composite_sparse(
    ctx: _Context,
    composites: tuple[CompositeModality, ...],
    qs: list[FloatArray],
    lo: int,
    hi: int,
    util: FloatArray,
    info: FloatArray,
    param: FloatArray,
) -> None:
    """The accelerator's version of :func:`_efe_composite` (same outputs, sparse composite tables)."""
    from freeagentics.domain.engine import _numba_kernels

    model, config, state = ctx.model, ctx.config, ctx.state
    sparse = model.sparse_composites(config)
    assert sparse is not None
    dt = config.np_dtype
    for m, (comp, table) in enumerate(zip(composites, sparse, strict=True)):
        c = _rows(state.C, m, lo, hi)
        _numba_kernels.composite_efe(
            np.ascontiguousarray(_modality_joint(model, qs, m)),
            sparse_threshold(dt, model.modality_states(m)),
            table.qo_indptr,
            table.qo_indices,
            table.qo_data,
            table.qo_dense,
            table.linear,
            table.column_entropy,
            table.nov_indptr,
            table.nov_indices,
            table.nov_data,
            comp.num_nodes,
            model.num_obs[m],
            table.policy_nodes,
            np.zeros((1, 1), dtype=dt) if c is None else np.ascontiguousarray(c),
            c is not None,
            config.use_utility,
            config.use_states_info_gain,
            clip_eps(dt),
            dt == np.float32,
            util,
            info,
            param,
        )


def fused_step_applies(model: GenerativeModel, config: EngineConfig) -> bool:
    """Whether the accelerator runs whole steps of this model in one kernel (one factor, shared tensors)."""
    return (
        config.accelerator == "numba"
        and model.num_factors == 1
        and not model.learned_priors(config)
        and (config.use_utility or config.use_states_info_gain or config.use_param_info_gain)
        and model.composites(config) is not None
    )


def _step_chunk_fused(ctx: _Context, out: _Outputs, lo: int, hi: int) -> None:
    """:func:`_step_chunk` in one compiled kernel, for :func:`fused_step_applies` models."""
    from freeagentics.domain.engine import _numba_kernels

    model, config, num, state = ctx.model, ctx.config, ctx.num, ctx.state
    sparse = model.sparse_composites(config)
    assert sparse is not None
    dt = config.np_dtype
    S = model.num_states[0]
    M = model.num_modalities
    tables = model.fused_tables(config)
    D_agent = _rows(state.D, 0, lo, hi)
    C_rows = [_rows(state.C, m, lo, hi) for m in range(M)]
    dummy = np.zeros((1, 1), dtype=dt)
    table = model.transition_tables[0]
    uniforms = ctx.uniforms[lo:hi] if ctx.uniforms is not None else np.zeros((1, 1))
    _numba_kernels.step_one_factor(
        state.qs[0][lo:hi],
        state.action[lo:hi, 0],
        num.D[0],
        dummy if D_agent is None else D_agent,
        D_agent is not None,
        np.zeros((1, 1), dtype=np.int64) if table is None else table,
        num.Bt[0],
        table is not None,
        ctx.obs[lo:hi],
        tables.A_clip,
        tables.log_A,
        tables.obs_offset,
        tuple(t.qo_indptr for t in sparse),
        tuple(t.qo_indices for t in sparse),
        tuple(t.qo_data for t in sparse),
        tuple(t.qo_dense for t in sparse),
        tuple(t.linear for t in sparse),
        tuple(t.column_entropy for t in sparse),
        tuple(t.nov_indptr for t in sparse),
        tuple(t.nov_indices for t in sparse),
        tuple(t.nov_data for t in sparse),
        tables.num_nodes,
        tables.num_obs,
        tuple(t.policy_nodes for t in sparse),
        tuple(dummy if c is None else np.ascontiguousarray(c) for c in C_rows),
        np.array([c is not None for c in C_rows]),
        config.use_utility,
        config.use_states_info_gain,
        float(config.gamma),
        num.log_E,
        tables.first_action,
        model.num_controls[0],
        config.action_selection == "stochastic",
        config.sampling_mode == "full",
        float(config.alpha),
        uniforms,
        clip_eps(dt),
        dt == np.float32,
        sparse_threshold(dt, S),
        float(np.finfo(dt).tiny) * 1e6,
        out.qs[0][lo:hi],
        out.vfe[lo:hi],
        out.utility[lo:hi],
        out.info[lo:hi],
        out.param[lo:hi],
        out.q_pi[lo:hi],
        out.action[lo:hi, 0],
    )


def _matmul_last(x: FloatArray, w: FloatArray) -> FloatArray:
    """``x @ w`` for ``x`` ``(..., S)`` and a 2-D ``w`` as one 2-D GEMM (NumPy's stacked matmul is slower)."""
    return (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[1])


def _is_identity(index: IntArray, size: int) -> bool:
    return len(index) == size and bool(np.all(index == np.arange(size)))


def _propagate(
    parents: FloatArray,
    actions: IntArray,
    Bt_shared: FloatArray,
    B_agent: FloatArray | None = None,
    *,
    w_agent_layout: bool = False,
) -> FloatArray:
    """Predicted beliefs ``B[:, :, a_k] @ x_k`` for every node ``k``: ``parents`` is ``(K, n, Ns)``.

    ``Bt_shared`` is ``(Nu, Ns, Ns)`` with ``Bt[u] = B[:, :, u].T``. ``B_agent`` is a per-agent ``B``
    ``(n, Ns, Ns, Nu)``; with ``w_agent_layout`` the per-agent tensor is already ``(n, Nu, Ns, Ns)``
    transposed and passed as ``Bt_shared``.
    """
    if w_agent_layout:
        out = np.empty_like(parents)
        for u in np.unique(actions):
            sel = np.flatnonzero(actions == u)
            out[sel] = np.matmul(parents[sel][:, :, None, :], Bt_shared[None, :, u])[:, :, 0, :]
        return out
    if B_agent is not None:
        out = np.empty_like(parents)
        for u in np.unique(actions):
            sel = np.flatnonzero(actions == u)
            Bu = B_agent[..., u]  # (n, Ns_next, Ns_prev)
            out[sel] = np.matmul(Bu[None], parents[sel][..., None])[..., 0]
        return out
    out = np.empty_like(parents)
    Ns = parents.shape[2]
    for u in np.unique(actions):
        sel = np.flatnonzero(actions == u)
        block = parents[sel].reshape(-1, Ns) @ Bt_shared[u]
        out[sel] = block.reshape(len(sel), parents.shape[1], -1)
    return out


def _joint(X: list[FloatArray], deps: tuple[int, ...], nodes: IntArray) -> FloatArray:
    """Joint predicted beliefs over a modality's factors, ``(K, n, prod Ns[deps])``, one per modality node."""
    first = X[deps[0]]
    J = first if _is_identity(nodes[:, 0], first.shape[0]) else first[nodes[:, 0]]
    for j in range(1, len(deps)):
        x = X[deps[j]][nodes[:, j]]
        J = (J[..., :, None] * x[..., None, :]).reshape(J.shape[0], J.shape[1], -1)
    return J


def _state_info_gain(
    J: FloatArray,
    qo: FloatArray,
    a_m: FloatArray | None,
    num: Numerics,
    m: int,
    amb_agent: FloatArray | None,
    sem: str,
) -> FloatArray:
    """Expected information gain about states, ``H[qo] - E_J[H[A]]``, per node ``(K, n)``."""
    if sem == "legacy":
        # spm_MDP_G: states with joint probability <= exp(-16) are left out, logs carry +exp(-16) / +1e-16.
        keep = J > LEGACY_MDP_G_EPS
        if not keep.all():
            J = J * keep
            qo = (
                _matmul_last(J, num.A2T[m])
                if a_m is None
                else np.matmul(J.transpose(1, 0, 2), a_m.transpose(0, 2, 1)).transpose(1, 0, 2)
            )
        entropy = -np.einsum("kno,kno->kn", qo, np.log(qo + LEGACY_EPS))
    else:
        entropy = -_xlogx_rowsum(qo)
    amb = J @ num.ambiguity[m] if amb_agent is None else np.einsum("kns,ns->kn", J, amb_agent)
    return np.asarray(entropy - amb)


def _ambiguity_rows(a: FloatArray, sem: str) -> FloatArray:
    """Per-agent ambiguity ``-sum_o A log A`` of ``a`` ``(n, No, S)`` -> ``(n, S)``."""
    if sem == "legacy":
        return np.asarray(-(a * np.log(a + LEGACY_MDP_G_EPS)).sum(axis=1))
    return np.asarray(-(a * np.log(np.maximum(a, clip_eps(a.dtype)))).sum(axis=1))


def _legacy_log_pref_rows(c: FloatArray) -> FloatArray:
    e = np.exp(c - c.max(axis=1, keepdims=True))
    return np.asarray(np.log(e / e.sum(axis=1, keepdims=True) + LEGACY_EPS))


# ------------------------------------------------------------------------------------------- learning


def _learn(
    ctx: _Context, qs: list[FloatArray], obs: NDArray[np.intp], out: _Outputs, lo: int, hi: int
) -> None:
    model, config, state = ctx.model, ctx.config, ctx.state
    sem = config.semantics
    n = hi - lo
    rows = np.arange(n)
    if out.pA is not None and out.A is not None and state.pA is not None and state.A is not None:
        for m in model.learned_modalities(config):
            pA_old, A_old = state.pA[m], state.A[m]
            pA_new, A_new = out.pA[m], out.A[m]
            assert pA_old is not None
            assert A_old is not None
            assert pA_new is not None
            assert A_new is not None
            J = _modality_joint(model, qs, m)
            counts = pA_old[lo:hi].reshape(n, model.num_obs[m], -1).copy()
            update = config.lr_pA * J
            if sem == "legacy":
                update = update * (A_old[lo:hi].reshape(n, model.num_obs[m], -1)[rows, obs[:, m]] > 0)
            counts[rows, obs[:, m]] += update
            pA_new[lo:hi] = counts.reshape(pA_new[lo:hi].shape)
            A_new[lo:hi] = np.moveaxis(normalise_counts(np.moveaxis(counts, 1, 0), sem), 0, 1).reshape(
                A_new[lo:hi].shape
            )
    if out.pB is not None and out.B is not None and state.pB is not None and state.B is not None:
        for f in model.learned_factors(config):
            pB_old, B_old = state.pB[f], state.B[f]
            pB_new, B_new = out.pB[f], out.B[f]
            assert pB_old is not None
            assert B_old is not None
            assert pB_new is not None
            assert B_new is not None
            counts = pB_old[lo:hi].copy()
            expected = B_old[lo:hi].copy()
            a = state.action[lo:hi, f]
            moved = np.flatnonzero(a >= 0)
            if moved.size:
                am = a[moved]
                update = config.lr_pB * (qs[f][moved][:, :, None] * state.qs[f][lo:hi][moved][:, None, :])
                if sem == "legacy":
                    update = update * (expected[moved, :, :, am] > 0)
                counts[moved, :, :, am] += update
                expected[moved] = np.moveaxis(normalise_counts(np.moveaxis(counts[moved], 1, 0), sem), 0, 1)
            pB_new[lo:hi] = counts
            B_new[lo:hi] = expected
    if out.pD is not None and out.D is not None and state.pD is not None and state.D is not None:
        for f in model.learned_priors(config):
            pD_old, D_old = state.pD[f], state.D[f]
            pD_new, D_new = out.pD[f], out.D[f]
            assert pD_old is not None
            assert D_old is not None
            assert pD_new is not None
            assert D_new is not None
            counts = pD_old[lo:hi].copy()
            prior = D_old[lo:hi].copy()
            started = np.flatnonzero(state.action[lo:hi, f] < 0)
            if started.size:
                counts[started] += config.lr_pD * qs[f][started] * (counts[started] > 0)
                prior[started] = counts[started] / counts[started].sum(axis=1, keepdims=True)
            pD_new[lo:hi] = counts
            D_new[lo:hi] = prior


# ------------------------------------------------------------------------------------------- actions


def _select_actions(ctx: _Context, q_pi: FloatArray, lo: int, hi: int) -> NDArray[np.int32]:
    model, config, num = ctx.model, ctx.config, ctx.num
    n = hi - lo
    stochastic = config.action_selection == "stochastic"
    if config.sampling_mode == "full":
        if stochastic:
            assert ctx.uniforms is not None
            chosen = _sample_rows(config.alpha * safe_log(q_pi, config.semantics), ctx.uniforms[lo:hi, 0])
        else:
            chosen = _first_maximum(q_pi)
        return np.asarray(num.first_action_index[chosen], dtype=np.int32)
    actions = np.empty((n, model.num_factors), dtype=np.int32)
    for f in range(model.num_factors):
        marginal = q_pi @ num.first_actions[f]  # (n, Nu)
        if stochastic:
            assert ctx.uniforms is not None
            actions[:, f] = _sample_rows(
                config.alpha * safe_log(marginal, config.semantics), ctx.uniforms[lo:hi, f]
            )
        else:
            actions[:, f] = _first_maximum(marginal)
    return actions


def _first_maximum(p: FloatArray) -> IntArray:
    """Per row, the first index within ``TIE_EPS`` machine epsilons of the maximum: options that tie in exact
    arithmetic stay tied despite rounding (pymdp 1.0 takes the first exact maximum)."""
    tolerance = TIE_EPS * np.finfo(p.dtype).eps
    return np.asarray((p >= p.max(axis=1, keepdims=True) - tolerance).argmax(axis=1))


def _sample_rows(logits: FloatArray, u: FloatArray) -> IntArray:
    """Inverse-CDF sample of ``softmax(logits)`` per row with uniforms ``u``."""
    p = _softmax_rows(logits.astype(np.float64))
    cdf = np.cumsum(p, axis=1)
    idx = (cdf < (u * cdf[:, -1])[:, None]).sum(axis=1)
    return np.asarray(np.minimum(idx, logits.shape[1] - 1))
