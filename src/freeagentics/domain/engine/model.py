"""The shared generative model of a population, and everything that depends on the model alone.

A :class:`GenerativeModel` is built once per model (from a :class:`CompiledModel` or from pymdp-style lists
of arrays) and shared, read-only, by every agent of every population that uses it. Everything that depends
only on the model and the numerical settings (``dtype``, ``semantics``) — logs and entropies of ``A``,
transposed transition matrices, the policy trie used to share computation between policies with a common
prefix — is computed once, on first use, and cached on the model.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.engine.config import EngineConfig
from freeagentics.domain.models.compiled import CompiledModel, compile_arrays, transition_table

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.int64]

#: Additive epsilon of ``pymdp.legacy`` (``spm_log_single``): ``log(x + 1e-16)``.
LEGACY_EPS = 1e-16
#: Threshold and epsilon of ``pymdp.legacy.maths.spm_MDP_G`` (state information gain).
LEGACY_MDP_G_EPS = math.exp(-16)


def clip_eps(dtype: np.dtype[Any]) -> float:
    """pymdp 1.0's ``MINVAL``: the machine epsilon of the working float type."""
    return float(np.finfo(dtype).eps)


def safe_log(x: FloatArray, semantics: str, out: FloatArray | None = None) -> FloatArray:
    """pymdp's stable log: ``log(max(x, eps))`` (pymdp 1.0) or ``log(x + 1e-16)`` (legacy)."""
    if semantics == "legacy":
        res = np.add(x, LEGACY_EPS, out=out)
    else:
        res = np.maximum(x, clip_eps(x.dtype), out=out)
    return np.log(res, out=res)


def clipped(x: FloatArray, semantics: str) -> FloatArray:
    """``exp(safe_log(x))`` without the log: the values pymdp's log-space arithmetic effectively uses."""
    if semantics == "legacy":
        return x + LEGACY_EPS
    return np.maximum(x, clip_eps(x.dtype))


def _readonly(a: NDArray[Any]) -> NDArray[Any]:
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class FactorLevel:
    """Distinct predicted-state nodes of one factor at one planning step.

    Node ``k`` is reached from node ``parent[k]`` of the previous step (the current posterior at step 1) under
    action ``action[k]``. ``policy_node[p]`` is the node policy ``p`` passes through at this step.
    """

    parent: IntArray
    action: IntArray
    policy_node: IntArray


@dataclass(frozen=True)
class ModalityLevel:
    """Distinct predicted-outcome nodes of one modality at one planning step.

    ``nodes[k]`` holds, for each factor the modality depends on, the factor node whose beliefs enter node
    ``k``; ``policy_node[p]`` is the node policy ``p`` passes through.
    """

    nodes: IntArray
    policy_node: IntArray


@dataclass(frozen=True)
class PolicyPlan:
    """How the expected free energy of all policies is computed with shared prefixes."""

    factor_levels: tuple[tuple[FactorLevel, ...], ...]  # [factor][step]
    modality_levels: tuple[tuple[ModalityLevel, ...], ...]  # [modality][step]

    @property
    def num_nodes(self) -> int:
        """Distinct (modality, step, predicted outcome) evaluations per agent (lower is cheaper)."""
        return sum(len(level.nodes) for levels in self.modality_levels for level in levels)


def _unique_rows(rows: NDArray[Any]) -> tuple[NDArray[Any], IntArray]:
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1).astype(np.int64)


def build_plan(
    policies: IntArray,
    num_states: Sequence[int],
    tables: Sequence[IntArray | None],
    A_factor_list: Sequence[Sequence[int]],
    merge_by_map: Sequence[bool],
) -> PolicyPlan:
    """Build the policy trie.

    Policies that share their first ``t`` actions of a factor share that factor's predicted beliefs at step
    ``t``. Where a factor's transitions are deterministic and ``merge_by_map[f]``, prefixes whose composite
    state maps are equal (for instance UP-LEFT and LEFT-UP on an open grid, or anything followed by STAY) are
    merged too: they push every belief to the same place, so the predictions are identical for every agent.
    """
    num_policies, policy_len, num_factors = policies.shape
    factor_levels: list[tuple[FactorLevel, ...]] = []
    for f in range(num_factors):
        levels: list[FactorLevel] = []
        node_of_policy = np.zeros(num_policies, dtype=np.int64)  # step 0: every policy at the root
        maps = [np.arange(num_states[f], dtype=np.int64)] if tables[f] is not None else []
        for t in range(policy_len):
            actions = policies[:, t, f].astype(np.int64)
            pairs, pair_of_policy = _unique_rows(np.stack([node_of_policy, actions], axis=1))
            if tables[f] is not None and merge_by_map[f]:
                table = tables[f]
                assert table is not None
                pair_maps = np.stack([table[maps[p], a] for p, a in pairs])
                uniq_maps, node_of_pair = _unique_rows(pair_maps)
                first_pair = np.full(len(uniq_maps), -1, dtype=np.int64)
                for i, k in enumerate(node_of_pair):
                    if first_pair[k] < 0:
                        first_pair[k] = i
                parent, action = pairs[first_pair, 0], pairs[first_pair, 1]
                maps = list(uniq_maps)
                node_of_policy = node_of_pair[pair_of_policy]
            else:
                parent, action = pairs[:, 0], pairs[:, 1]
                if tables[f] is not None:
                    table = tables[f]
                    assert table is not None
                    maps = [table[maps[p], a] for p, a in pairs]
                node_of_policy = pair_of_policy
            levels.append(
                FactorLevel(
                    parent=_readonly(np.ascontiguousarray(parent, dtype=np.int64)),
                    action=_readonly(np.ascontiguousarray(action, dtype=np.int64)),
                    policy_node=_readonly(node_of_policy.copy()),
                )
            )
        factor_levels.append(tuple(levels))
    modality_levels: list[tuple[ModalityLevel, ...]] = []
    for deps in A_factor_list:
        mlevels: list[ModalityLevel] = []
        for t in range(policy_len):
            keys = np.stack([factor_levels[f][t].policy_node for f in deps], axis=1)
            nodes, node_of_policy = _unique_rows(keys)
            mlevels.append(
                ModalityLevel(
                    nodes=_readonly(np.ascontiguousarray(nodes, dtype=np.int64)),
                    policy_node=_readonly(node_of_policy),
                )
            )
        modality_levels.append(tuple(mlevels))
    return PolicyPlan(factor_levels=tuple(factor_levels), modality_levels=tuple(modality_levels))


def exact_wnorm(p: FloatArray) -> FloatArray:
    """pymdp 1.0's exact parameter-information-gain weights (``maths._exact_wnorm``), masked by ``p > 0``."""
    eps = clip_eps(p.dtype)
    safe = np.maximum(p, eps)
    safe_sum = np.maximum(safe.sum(axis=0, keepdims=True), eps)
    w = np.log(safe_sum) - np.log(safe) + _digamma(safe + 1.0) - _digamma(safe_sum + 1.0)
    return np.asarray(-w * (p > 0), dtype=p.dtype)


def legacy_wnorm(p: FloatArray) -> FloatArray:
    """``pymdp.legacy``'s heuristic ``spm_wnorm``: ``1/sum - 1/a`` after adding 1e-16, masked by ``p > 0``."""
    a = p + LEGACY_EPS
    w = 1.0 / a.sum(axis=0, keepdims=True) - 1.0 / a
    return np.asarray(w * (p > 0), dtype=p.dtype)


def _digamma(x: FloatArray) -> FloatArray:
    """Digamma for positive arguments (recurrence to x >= 10, then the asymptotic series; ~1e-15 relative)."""
    x = np.asarray(x, dtype=np.float64)
    result = np.zeros_like(x)
    shifted = x.copy()
    small = shifted < 10.0
    while np.any(small):
        result[small] -= 1.0 / shifted[small]
        shifted[small] += 1.0
        small = shifted < 10.0
    inv = 1.0 / shifted
    inv2 = inv * inv
    series = inv2 * (
        1.0 / 12
        - inv2
        * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 * (1.0 / 132 - inv2 * (691.0 / 32760)))))
    )
    return result + np.log(shifted) - 0.5 * inv - series


def normalise_counts(p: FloatArray, semantics: str) -> FloatArray:
    """Expected value of Dirichlet counts over axis 0 (pymdp 1.0 clips at eps first; legacy does not)."""
    if semantics == "legacy":
        return np.asarray(p / p.sum(axis=0, keepdims=True))
    q = np.maximum(p, clip_eps(p.dtype))
    return np.asarray(q / q.sum(axis=0, keepdims=True))


@dataclass(frozen=True)
class Numerics:
    """Model tensors converted to one dtype and one set of pymdp conventions (cached per model)."""

    dtype: np.dtype[Any]
    semantics: str
    A2T: tuple[FloatArray, ...]  # [m] (S_m, No): A flattened over its factors, transposed
    A_clip: tuple[FloatArray, ...]  # [m] (No, S_m): the values the log-space likelihood uses
    log_A: tuple[FloatArray, ...]  # [m] (No, S_m)
    ambiguity: tuple[FloatArray, ...]  # [m] (S_m,): expected entropy of outcomes given each state
    C: tuple[FloatArray, ...]  # [m] (No,) preferences as used in the utility term
    Bt: tuple[FloatArray, ...]  # [f] (Nu, Ns, Ns): Bt[f][u] = B[f][:, :, u].T, so that x @ Bt[u] = B[u] x
    D: tuple[FloatArray, ...]
    log_E: FloatArray
    wA: tuple[FloatArray | None, ...] | None  # [m] (No, S_m) from the model's pA
    wBt: tuple[FloatArray | None, ...] | None  # [f] (Nu, Ns, Ns) from the model's pB, transposed like Bt
    preimages: tuple[IntArray | None, ...]  # [f] (Nu, Ns, k) sources of each target (deterministic B)
    first_actions: tuple[FloatArray, ...]  # [f] (P, Nu): one-hot of each policy's first action
    first_action_index: IntArray  # (P, F)


@dataclass(frozen=True, eq=False)
class GenerativeModel:
    """A discrete POMDP generative model shared (never copied) by every agent of a population.

    Shapes, in pymdp notation (``Ns[f]`` states of factor ``f``, ``No[m]`` outcomes of modality ``m``,
    ``Nu[f]`` actions of factor ``f``, ``P`` policies, ``L`` policy length):

    - ``A[m]``: ``(No[m], *Ns[A_factor_list[m]])``, ``A[m][o, s...] = P(o | s...)``;
    - ``B[f]``: ``(Ns[f], Ns[f], Nu[f])``, ``B[f][s_next, s, u] = P(s_next | s, u)``;
    - ``C[m]``: ``(No[m],)`` log-preferences (higher is preferred; pymdp 1.0 uses them unnormalised);
    - ``D[f]``: ``(Ns[f],)`` initial-state prior; ``E``: ``(P,)`` policy prior;
    - ``policies``: ``(P, L, F)`` action indices, pymdp's enumeration unless given;
    - ``pA`` / ``pB`` / ``pD``: Dirichlet counts shaped like ``A`` / ``B`` / ``D`` (``None``: not learnable);
    - ``transition_tables[f]``: ``(Ns[f], Nu[f])`` next-state index table when ``B[f]`` is deterministic
      (0/1), else ``None``; the engine then shares predictions between policies that move beliefs alike.

    Build it with :meth:`from_compiled` or :meth:`from_arrays`; both validate the model.
    """

    compiled: CompiledModel
    num_states: tuple[int, ...]
    num_obs: tuple[int, ...]
    num_controls: tuple[int, ...]
    A_factor_list: tuple[tuple[int, ...], ...]
    control_factors: tuple[int, ...]
    policy_len: int
    policies: IntArray
    E: FloatArray
    transition_tables: tuple[IntArray | None, ...]
    _cache: dict[tuple[object, ...], object] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_compiled(cls, model: CompiledModel) -> GenerativeModel:
        """The engine's view of a validated :class:`CompiledModel` (templates and specs produce these)."""
        policies = np.ascontiguousarray(model.policy_table(), dtype=np.int64)
        num_policies = policies.shape[0]
        if model.E is None:
            E = np.full(num_policies, 1.0 / num_policies)
        else:
            E = np.asarray(model.E, dtype=np.float64)
        return cls(
            compiled=model,
            num_states=model.num_states,
            num_obs=model.num_obs,
            num_controls=model.num_controls,
            A_factor_list=tuple(tuple(int(f) for f in deps) for deps in model.A_factor_list),
            control_factors=tuple(int(f) for f in model.control_factors),
            policy_len=int(policies.shape[1]),
            policies=_readonly(policies),
            E=_readonly(E.copy()),
            transition_tables=tuple(
                None if t is None else _readonly(np.ascontiguousarray(t))
                for t in map(transition_table, model.B)
            ),
        )

    @classmethod
    def from_arrays(
        cls,
        A: Sequence[object],
        B: Sequence[object],
        C: Sequence[object] | None = None,
        D: Sequence[object] | None = None,
        E: object | None = None,
        *,
        A_factor_list: Sequence[Sequence[int]] | None = None,
        control_fac_idx: Sequence[int] | None = None,
        policy_len: int = 1,
        policies: object | None = None,
        pA: Sequence[object | None] | None = None,
        pB: Sequence[object | None] | None = None,
        pD: Sequence[object | None] | None = None,
    ) -> GenerativeModel:
        """Build from pymdp-style lists of arrays, as pymdp's ``Agent`` takes them (validated like a spec).

        Defaults follow pymdp: every modality depends on every factor, the controllable factors are those
        with more than one action, ``C`` is zeros, ``D`` and ``E`` are uniform. ``A_dependencies`` of pymdp
        1.0 is ``A_factor_list`` here.
        Raises :class:`~freeagentics.domain.models.errors.ModelValidationError`.
        """
        compiled = compile_arrays(
            A,
            B,
            C,
            D,
            E,
            A_factor_list=A_factor_list,
            control_fac_idx=control_fac_idx,
            policy_len=policy_len,
            policies=policies,
            pA=pA,
            pB=pB,
            pD=pD,
        )
        return cls.from_compiled(compiled)

    # ------------------------------------------------------------------ plain views
    @property
    def A(self) -> tuple[FloatArray, ...]:
        return self.compiled.A

    @property
    def B(self) -> tuple[FloatArray, ...]:
        return self.compiled.B

    @property
    def C(self) -> tuple[FloatArray, ...]:
        return self.compiled.C

    @property
    def D(self) -> tuple[FloatArray, ...]:
        return self.compiled.D

    @property
    def pA(self) -> tuple[FloatArray | None, ...] | None:
        return self.compiled.pA

    @property
    def pB(self) -> tuple[FloatArray | None, ...] | None:
        return self.compiled.pB

    @property
    def pD(self) -> tuple[FloatArray | None, ...] | None:
        return self.compiled.pD

    @property
    def num_factors(self) -> int:
        return len(self.num_states)

    @property
    def num_modalities(self) -> int:
        return len(self.num_obs)

    @property
    def num_policies(self) -> int:
        return int(self.policies.shape[0])

    def modality_states(self, m: int) -> int:
        """Number of joint states modality ``m`` depends on (``prod(Ns[A_factor_list[m]])``)."""
        return math.prod(self.num_states[f] for f in self.A_factor_list[m])

    # ------------------------------------------------------------------ derived, cached
    def _cached(self, key: tuple[object, ...], build: Any) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def numerics(self, config: EngineConfig) -> Numerics:
        """The model's tensors in ``config.dtype`` under ``config.semantics`` (computed once, then cached)."""
        value: Numerics = self._cached(
            ("numerics", config.dtype, config.semantics), lambda: self._build_numerics(config)
        )
        return value

    def plan(self, config: EngineConfig) -> PolicyPlan:
        """The policy trie for ``config``: shared prefixes; merged maps for deterministic transitions."""
        merge = tuple(self._merge_by_map(config, f) for f in range(self.num_factors))
        return self._cached(  # type: ignore[no-any-return]
            ("plan", merge),
            lambda: build_plan(
                self.policies, self.num_states, self.transition_tables, self.A_factor_list, merge
            ),
        )

    def composites(self, config: EngineConfig) -> tuple[CompositeModality, ...] | None:
        """Tables of the fast EFE path for ``config``, or ``None`` where it does not apply.

        It applies when every agent shares ``A`` and ``B`` (nothing of them is learned), under pymdp 1.0
        semantics, without ``B`` novelty, and while the tables stay under ``COMPOSITE_MAX_BYTES``.
        """
        if (
            config.semantics != "pymdp"
            or self.learned_modalities(config)
            or self.learned_factors(config)
            or (config.use_param_info_gain and self.pB is not None)
        ):
            return None
        key = ("composites", config.dtype, config.use_param_info_gain)
        return self._cached(  # type: ignore[no-any-return]
            key, lambda: build_composites(self, self.numerics(config), self.plan(config), config)
        )

    def sparse_composites(self, config: EngineConfig) -> tuple[SparseComposite, ...] | None:
        """The composite tables of :meth:`composites` in CSR form, for the accelerator (cached)."""
        composites = self.composites(config)
        if composites is None:
            return None
        key = ("sparse_composites", config.dtype, config.use_param_info_gain)
        return self._cached(  # type: ignore[no-any-return]
            key,
            lambda: tuple(
                SparseComposite.from_composite(c, self.num_obs[m]) for m, c in enumerate(composites)
            ),
        )

    def fused_tables(self, config: EngineConfig) -> FusedTables:
        """Model tables of the accelerator's one-factor step kernel (cached)."""
        return self._cached(  # type: ignore[no-any-return]
            ("fused_tables", config.dtype, config.semantics, config.use_param_info_gain),
            lambda: FusedTables.build(self, config),
        )

    def learned_modalities(self, config: EngineConfig) -> tuple[int, ...]:
        """Modalities whose ``A`` each agent learns under ``config``."""
        if not config.learn_A or self.pA is None:
            return ()
        pA = self.pA
        wanted = (
            range(self.num_modalities) if config.modalities_to_learn is None else config.modalities_to_learn
        )
        return tuple(m for m in wanted if m < self.num_modalities and pA[m] is not None)

    def learned_factors(self, config: EngineConfig) -> tuple[int, ...]:
        """Factors whose ``B`` each agent learns under ``config``."""
        if not config.learn_B or self.pB is None:
            return ()
        pB = self.pB
        wanted = range(self.num_factors) if config.factors_to_learn is None else config.factors_to_learn
        return tuple(f for f in wanted if f < self.num_factors and pB[f] is not None)

    def learned_priors(self, config: EngineConfig) -> tuple[int, ...]:
        """Factors whose ``D`` each agent learns under ``config``."""
        if not config.learn_D or self.pD is None:
            return ()
        pD = self.pD
        wanted = range(self.num_factors) if config.factors_to_learn_D is None else config.factors_to_learn_D
        return tuple(f for f in wanted if f < self.num_factors and pD[f] is not None)

    def check_config(self, config: EngineConfig) -> None:
        """Raise ``ValueError`` when ``config`` asks for something this model cannot do."""
        for name, wanted, bound, part in (
            ("modalities_to_learn", config.modalities_to_learn, self.num_modalities, self.pA),
            ("factors_to_learn", config.factors_to_learn, self.num_factors, self.pB),
            ("factors_to_learn_D", config.factors_to_learn_D, self.num_factors, self.pD),
        ):
            if wanted is None:
                continue
            for i in wanted:
                if i >= bound:
                    raise ValueError(f"EngineConfig.{name} names {i}, but the model has only {bound}")
                if part is None or part[i] is None:
                    raise ValueError(
                        f"EngineConfig.{name} names {i}, which has no Dirichlet counts in the model"
                    )
        if config.learn_A and not self.learned_modalities(config):
            raise ValueError("EngineConfig.learn_A is set but the model has no pA")
        if config.learn_B and not self.learned_factors(config):
            raise ValueError("EngineConfig.learn_B is set but the model has no pB")
        if config.learn_D and not self.learned_priors(config):
            raise ValueError("EngineConfig.learn_D is set but the model has no pD")
        if config.use_param_info_gain and self.pA is None and self.pB is None:
            raise ValueError("EngineConfig.use_param_info_gain needs pA or pB in the model")
        if config.use_param_info_gain and self.pB is not None and any(p is None for p in self.pB):
            raise ValueError("parameter information gain about B needs pB for every factor (as in pymdp)")

    def _merge_by_map(self, config: EngineConfig, f: int) -> bool:
        # The B-novelty term depends on the path, not only on where it leads; learned B is per agent.
        if config.use_param_info_gain and self.pB is not None:
            return False
        return f not in self.learned_factors(config)

    def _build_numerics(self, config: EngineConfig) -> Numerics:
        dt = config.np_dtype
        sem = config.semantics
        A2 = tuple(np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=dt) for a in self.A)
        A_clip = tuple(_readonly(np.ascontiguousarray(clipped(a, sem))) for a in A2)
        log_A = tuple(_readonly(np.log(a)) for a in A_clip)
        if sem == "legacy":
            ambiguity = tuple(
                _readonly(
                    np.asarray(
                        -(a.astype(np.float64) * np.log(a.astype(np.float64) + LEGACY_MDP_G_EPS)).sum(0),
                        dtype=dt,
                    )
                )
                for a in A2
            )
            C = tuple(_readonly(np.asarray(_legacy_log_preferences(c), dtype=dt)) for c in self.C)
            log_E = np.log(self.E + LEGACY_EPS)
        else:
            eps = clip_eps(dt)
            ambiguity = tuple(
                _readonly(np.asarray(-(a * np.log(np.maximum(a, eps))).sum(0), dtype=dt)) for a in A2
            )
            C = tuple(_readonly(np.asarray(c, dtype=dt)) for c in self.C)
            log_E = np.log(np.maximum(self.E, eps))
        Bt = tuple(_readonly(np.ascontiguousarray(np.transpose(b, (2, 1, 0)), dtype=dt)) for b in self.B)
        wA: tuple[FloatArray | None, ...] | None = None
        wBt: tuple[FloatArray | None, ...] | None = None
        wnorm = legacy_wnorm if sem == "legacy" else exact_wnorm
        if self.pA is not None:
            wA = tuple(
                None
                if p is None
                else _readonly(np.asarray(wnorm(p.reshape(p.shape[0], -1).astype(np.float64)), dtype=dt))
                for p in self.pA
            )
        if self.pB is not None:
            wBt = tuple(
                None
                if p is None
                else _readonly(
                    np.ascontiguousarray(np.transpose(wnorm(p.astype(np.float64)), (2, 1, 0)), dtype=dt)
                )
                for p in self.pB
            )
        first = self.policies[:, 0, :]
        first_actions = tuple(
            _readonly(np.eye(self.num_controls[f], dtype=dt)[first[:, f]]) for f in range(self.num_factors)
        )
        return Numerics(
            dtype=dt,
            semantics=sem,
            A2T=tuple(_readonly(np.ascontiguousarray(a.T)) for a in A2),
            A_clip=A_clip,
            log_A=log_A,
            ambiguity=ambiguity,
            C=C,
            Bt=Bt,
            D=tuple(_readonly(np.asarray(d, dtype=dt)) for d in self.D),
            log_E=_readonly(np.asarray(log_E, dtype=dt)),
            wA=wA,
            wBt=wBt,
            preimages=tuple(None if t is None else _preimages(t) for t in self.transition_tables),
            first_actions=first_actions,
            first_action_index=_readonly(np.ascontiguousarray(first)),
        )


def _preimages(table: IntArray) -> IntArray:
    """For a next-state table ``(Ns, Nu)``: ``pre[u, s_next, j]`` lists the states that ``u`` sends to
    ``s_next``, padded with ``Ns`` (an index past the last state, read as zero probability)."""
    Ns, Nu = table.shape
    width = max(1, max(int(np.bincount(table[:, u], minlength=Ns).max()) for u in range(Nu)))
    pre = np.full((Nu, Ns, width), Ns, dtype=np.int64)
    for u in range(Nu):
        fill = np.zeros(Ns, dtype=np.int64)
        for s in range(Ns):
            target = table[s, u]
            pre[u, target, fill[target]] = s
            fill[target] += 1
    return _readonly(pre)


def _legacy_log_preferences(c: FloatArray) -> FloatArray:
    """``pymdp.legacy``'s ``log(softmax(C) + 1e-16)``: C as a normalised log-probability."""
    e = np.exp(c - c.max())
    return np.asarray(np.log(e / e.sum() + LEGACY_EPS))


#: Largest composite table (bytes) the fast EFE path precomputes for one modality.
COMPOSITE_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class CompositeModality:
    """Everything one modality contributes to ``neg_efe``, as one matrix over its current joint beliefs.

    For trie node ``k`` (all steps concatenated) with composite transition ``T_k`` (the product of the ``B``
    along the node's path, a Kronecker product over the modality's factors), the predicted outcomes are
    ``qo_k = A T_k J0`` for the current joint ``J0``. ``W`` stacks, column-wise, ``(A T_k)^T`` for every node
    (``K * No`` columns), then ``T_k^T A^T C`` (utility, ``K``), then ``T_k^T H[A]`` (ambiguity, ``K``), then
    ``(wA T_k)^T`` (novelty, ``K * No``) when used. ``incidence[k, p]`` counts how often policy ``p``
    passes through node ``k``.
    """

    W: FloatArray
    num_nodes: int
    incidence: FloatArray


#: When the accelerator's float32 kernel also gets the predicted-outcome block dense (``qo_dense``): the
#: dense copy is at most ``DENSE_MAX_BYTES`` and its rows are at most ``DENSE_MAX_SPARSITY`` times wider than
#: their non-zero entries. Then one SIMD pass over whole rows per belief entry costs less than visiting the
#: non-zero entries one by one. Measured on grid explorers (replayed benchmark steps, one thread): dense is
#: faster at 5x5, 6x6, 8x8 and 10x10 with policy_len 1 (16-208 KB, rows 8-23 times their non-zeros; 10x10
#: by 30 %) and 5x5 with policy_len 3 (214 KB, 8 times), slower at 10x10 with policy_len 3 (2.8 MB, 23
#: times), 15x15 (1.0 MB, 49 times) and 20x20 (1.6 MB, 83 times) with policy_len 1.
DENSE_MAX_BYTES = 512 * 1024
DENSE_MAX_SPARSITY = 32

#: The dense block gives every node a whole number of SIMD vectors (8 float32, one AVX2 register): node
#: ``k``'s ``No`` outcomes start at column ``k * dense_width(No)`` and the padding columns hold zeros, so
#: the kernel's per-node sums are vector sums without a remainder loop.
DENSE_LANES = 8


def dense_width(num_obs: int) -> int:
    """Columns per node in :attr:`SparseComposite.qo_dense`: ``num_obs`` rounded up to :data:`DENSE_LANES`."""
    return -(-num_obs // DENSE_LANES) * DENSE_LANES


@dataclass(frozen=True, eq=False)
class SparseComposite:
    """A :class:`CompositeModality` laid out for the accelerator's kernels.

    ``W``'s predicted-outcome block ``(S, K * No)`` and novelty block (if any) in compressed sparse rows:
    row ``s`` holds ``qo_data[qo_indptr[s]:qo_indptr[s + 1]]`` at columns ``qo_indices[...]`` (zeros
    dropped); in float32, within :data:`DENSE_MAX_BYTES` and :data:`DENSE_MAX_SPARSITY`, the block is also
    kept dense in ``qo_dense`` ``(S, K * Wd)`` (else ``(0, 0)``), node ``k`` in columns
    ``k * Wd : k * Wd + No`` and zeros up to ``Wd = dense_width(No)``, for the float32 kernel's SIMD passes
    over whole rows; the ``2 K``
    utility and ambiguity columns stay dense in ``linear`` ``(S, 2 K)``;
    ``column_entropy[s, k]`` is the entropy ``-Σ_o w log max(w, eps)`` of node ``k``'s predicted outcomes
    from state ``s`` (``w = W[s, k * No : (k + 1) * No]``, computed in float64). A model
    without novelty has ``nov_indptr`` of length 1. ``policy_nodes`` ``(P, L)`` is the node of every step
    of every policy (the ``incidence`` matrix as lists).
    """

    qo_indptr: IntArray
    qo_indices: IntArray
    qo_data: FloatArray
    qo_dense: FloatArray
    linear: FloatArray
    column_entropy: FloatArray
    nov_indptr: IntArray
    nov_indices: IntArray
    nov_data: FloatArray
    policy_nodes: IntArray

    @classmethod
    def from_composite(cls, comp: CompositeModality, num_obs: int) -> SparseComposite:
        K = comp.num_nodes
        KNo = K * num_obs
        W = comp.W
        qo_indptr, qo_indices, qo_data = _csr(W[:, :KNo])
        qo_dense = np.zeros((0, 0), dtype=W.dtype)
        dense_columns = K * dense_width(num_obs)
        dense_bytes = W.shape[0] * dense_columns * W.dtype.itemsize
        nonzeros_per_row = max(len(qo_data) / W.shape[0], 1.0)
        # only the float32 kernel takes the dense rows (float64 keeps libm logarithms on the sparse entries)
        if (
            W.dtype == np.float32
            and dense_bytes <= DENSE_MAX_BYTES
            and dense_columns <= DENSE_MAX_SPARSITY * nonzeros_per_row
        ):
            padded = np.zeros((W.shape[0], K, dense_width(num_obs)), dtype=W.dtype)
            padded[:, :, :num_obs] = W[:, :KNo].reshape(W.shape[0], K, num_obs)
            qo_dense = padded.reshape(W.shape[0], -1)
        if W.shape[1] > KNo + 2 * K:
            nov_indptr, nov_indices, nov_data = _csr(W[:, KNo + 2 * K :])
        else:
            nov_indptr, nov_indices = np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
            nov_data = np.zeros(0, dtype=W.dtype)
        clip = float(np.finfo(W.dtype).eps)
        columns = W[:, :KNo].astype(np.float64).reshape(W.shape[0], K, num_obs)
        column_entropy = -(columns * np.log(np.maximum(columns, clip))).sum(axis=2)
        counts = np.rint(comp.incidence).astype(np.int64)
        policy_nodes = np.stack(
            [np.repeat(np.arange(K), counts[:, p]) for p in range(counts.shape[1])]
        ).astype(np.int64)
        return cls(
            qo_indptr=_readonly(qo_indptr),
            qo_indices=_readonly(qo_indices),
            qo_data=_readonly(qo_data),
            qo_dense=_readonly(qo_dense),
            linear=_readonly(np.ascontiguousarray(W[:, KNo : KNo + 2 * K])),
            column_entropy=_readonly(np.ascontiguousarray(column_entropy)),
            nov_indptr=_readonly(nov_indptr),
            nov_indices=_readonly(nov_indices),
            nov_data=_readonly(nov_data),
            policy_nodes=_readonly(np.ascontiguousarray(policy_nodes)),
        )


@dataclass(frozen=True, eq=False)
class FusedTables:
    """Per-model inputs of the accelerator's one-factor step kernel: the clipped and log likelihoods of all
    modalities stacked ``(sum No, S)`` (modality ``m`` from row ``obs_offset[m]``), the node and outcome
    counts per modality, and each policy's first action ``(P,)``."""

    A_clip: FloatArray
    log_A: FloatArray
    obs_offset: IntArray
    num_nodes: IntArray
    num_obs: IntArray
    first_action: IntArray

    @classmethod
    def build(cls, model: GenerativeModel, config: EngineConfig) -> FusedTables:
        num = model.numerics(config)
        composites = model.composites(config)
        assert composites is not None
        S = model.num_states[0]
        return cls(
            A_clip=_readonly(np.concatenate([a.reshape(-1, S) for a in num.A_clip])),
            log_A=_readonly(np.concatenate([a.reshape(-1, S) for a in num.log_A])),
            obs_offset=_readonly(np.concatenate([[0], np.cumsum(model.num_obs)[:-1]]).astype(np.int64)),
            num_nodes=_readonly(np.array([c.num_nodes for c in composites], dtype=np.int64)),
            num_obs=_readonly(np.array(model.num_obs, dtype=np.int64)),
            first_action=_readonly(np.ascontiguousarray(num.first_action_index[:, 0], dtype=np.int64)),
        )


def _csr(W: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
    rows, cols = np.nonzero(W)
    indptr = np.zeros(W.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=W.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int64), np.ascontiguousarray(W[rows, cols])


def build_composites(
    model: GenerativeModel, num: Numerics, plan: PolicyPlan, config: EngineConfig
) -> tuple[CompositeModality, ...] | None:
    """Composite tables for the shared-tensor fast path, or ``None`` when they would be too large."""
    F = model.num_factors
    transforms: list[list[NDArray[np.float64]]] = []  # [f] -> stacked over steps: (nodes, Ns, Ns)
    for f in range(F):
        B = np.asarray(model.B[f], dtype=np.float64)
        previous = np.eye(model.num_states[f])[None]
        per_step = []
        for level in plan.factor_levels[f]:
            current = np.einsum("ijk,kjl->kil", B[:, :, level.action], previous[level.parent])
            # current[k] = B[:, :, a_k] @ previous[parent_k]
            per_step.append(current)
            previous = current
        transforms.append(per_step)
    out = []
    novelty = config.use_param_info_gain and num.wA is not None
    for m, deps in enumerate(model.A_factor_list):
        No, S = model.num_obs[m], model.modality_states(m)
        K = sum(len(level.nodes) for level in plan.modality_levels[m])
        cols = K * No * (2 if novelty and num.wA is not None and num.wA[m] is not None else 1) + 2 * K
        if S * cols * num.dtype.itemsize > COMPOSITE_MAX_BYTES:
            return None
        A = np.asarray(model.A[m], dtype=np.float64).reshape(No, S)
        amb = num.ambiguity[m].astype(np.float64)
        C = num.C[m].astype(np.float64)
        w_m = None if num.wA is None else num.wA[m]
        wA = None if not novelty or w_m is None else w_m.astype(np.float64)
        blocks_qo, blocks_util, blocks_amb, blocks_w = [], [], [], []
        incidence = np.zeros((K, model.num_policies))
        offset = 0
        for t, mlevel in enumerate(plan.modality_levels[m]):
            for node in mlevel.nodes:
                T = transforms[deps[0]][t][node[0]]
                for j in range(1, len(deps)):
                    T = np.kron(T, transforms[deps[j]][t][node[j]])
                AT = A @ T  # (No, S)
                blocks_qo.append(AT.T)
                blocks_util.append((AT.T @ C)[:, None])
                blocks_amb.append((T.T @ amb)[:, None])
                if wA is not None:
                    blocks_w.append((wA @ T).T)
            np.add.at(incidence, (offset + mlevel.policy_node, np.arange(model.num_policies)), 1.0)
            offset += len(mlevel.nodes)
        W = np.concatenate(blocks_qo + blocks_util + blocks_amb + blocks_w, axis=1)
        out.append(
            CompositeModality(
                W=_readonly(np.ascontiguousarray(W, dtype=num.dtype)),
                num_nodes=K,
                incidence=_readonly(np.ascontiguousarray(incidence, dtype=num.dtype)),
            )
        )
    return tuple(out)
