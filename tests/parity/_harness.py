"""Shared helpers of the parity suite: random models, a generative process, and three steppers.

The generative process samples each agent's true hidden states and observations from the model itself
(``A``, ``B``, ``D``), driven by the actions the agents take, with its own seeded ``numpy`` generator. Every
stepper sees the same observations; rollouts stop being comparable the moment actions differ, so the tests
assert identical actions at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from freeagentics.domain.engine import EngineConfig, GenerativeModel, init_population, step


@dataclass
class Arrays:
    """A model as pymdp takes it (float64 lists of arrays)."""

    A: list[np.ndarray]
    B: list[np.ndarray]
    C: list[np.ndarray]
    D: list[np.ndarray]
    A_deps: list[list[int]]
    policy_len: int
    pA: list[np.ndarray] | None = None
    pB: list[np.ndarray] | None = None
    pD: list[np.ndarray] | None = None

    @property
    def num_obs(self) -> list[int]:
        return [a.shape[0] for a in self.A]

    def engine_model(self) -> GenerativeModel:
        return GenerativeModel.from_arrays(
            self.A,
            self.B,
            self.C,
            self.D,
            A_factor_list=self.A_deps,
            policy_len=self.policy_len,
            pA=self.pA,
            pB=self.pB,
            pD=self.pD,
        )


def _dirichlet(rng: np.random.Generator, shape: tuple[int, ...], concentration: float = 1.0) -> np.ndarray:
    x = rng.gamma(concentration, size=shape) + 1e-3
    return x / x.sum(axis=0, keepdims=True)


def random_model(
    seed: int,
    num_states: list[int],
    num_controls: list[int],
    num_obs: list[int],
    A_deps: list[list[int]],
    policy_len: int,
    learn: bool,
) -> Arrays:
    """A random model of the given shapes (values drawn from ``seed``, so models of one shape family share
    pymdp's compiled functions). With ``learn``, ``A``/``B``/``D`` are the normalised Dirichlet counts
    ``pA``/``pB``/``pD``, so pymdp 1.0 (which starts from ``A``/``B``) and legacy (which starts from the
    normalised counts) start alike."""
    rng = np.random.default_rng(seed)
    Ns, Nu, No = num_states, num_controls, num_obs
    C = [rng.normal(scale=1.5, size=n) for n in No]
    if learn:
        pA = [rng.uniform(0.5, 3.0, size=(No[m], *[Ns[f] for f in deps])) for m, deps in enumerate(A_deps)]
        pB = [rng.uniform(0.5, 3.0, size=(Ns[f], Ns[f], Nu[f])) for f in range(len(Ns))]
        pD = [rng.uniform(0.5, 3.0, size=Ns[f]) for f in range(len(Ns))]
        A = [p / p.sum(axis=0, keepdims=True) for p in pA]
        B = [p / p.sum(axis=0, keepdims=True) for p in pB]
        D = [p / p.sum() for p in pD]
        return Arrays(A, B, C, D, A_deps, policy_len, pA, pB, pD)
    A = [_dirichlet(rng, (No[m], *[Ns[f] for f in deps])) for m, deps in enumerate(A_deps)]
    B = [_dirichlet(rng, (Ns[f], Ns[f], Nu[f]), 0.5) for f in range(len(Ns))]
    D = [_dirichlet(rng, (Ns[f],)) for f in range(len(Ns))]
    return Arrays(A, B, C, D, A_deps, policy_len)


def from_compiled(model: Any) -> Arrays:
    """The arrays of a template's ``CompiledModel`` as pymdp takes them."""
    return Arrays(
        A=[np.array(a) for a in model.A],
        B=[np.array(b) for b in model.B],
        C=[np.array(c) for c in model.C],
        D=[np.array(d) for d in model.D],
        A_deps=[list(d) for d in model.A_factor_list],
        policy_len=model.policy_len,
        pA=None if model.pA is None else [np.array(p) for p in model.pA],
        pB=None if model.pB is None else [np.array(p) for p in model.pB],
        pD=None if model.pD is None else [np.array(p) for p in model.pD],
    )


def grid_world(size: int, policy_len: int, learn_B: bool, seed: int) -> Arrays:
    """The grid explorer template's world (noisy location, deterministic moves) with random preferences
    over cells. Symmetric preferences make actions tie exactly, and pymdp then picks whichever its rounding
    favours, so parity of action sequences is only meaningful without exact ties. With ``learn_B``, ``pB``
    is a positive random prior (``B`` its normalised counts)."""
    from freeagentics.domain.models.templates import grid_explorer

    rng = np.random.default_rng(seed)
    arrays = from_compiled(
        grid_explorer(
            size, size, goal=(size - 1, size - 1), observation_noise=0.1, policy_len=policy_len, start=(0, 0)
        )
    )
    arrays.C = [rng.normal(scale=2.0, size=arrays.A[0].shape[0])]
    if learn_B:
        pB = arrays.B[0] * 2.0 + rng.uniform(0.1, 1.0, size=arrays.B[0].shape)
        arrays.pB = [pB]
        arrays.B = [pB / pB.sum(axis=0, keepdims=True)]
    return arrays


class Process:
    """The generative process: true states and observations sampled from the model, for ``n`` agents."""

    def __init__(self, arrays: Arrays, n: int, seed: int) -> None:
        self.arrays = arrays
        self.rng = np.random.default_rng(seed)
        self.states = np.stack([self._sample(d[:, None].repeat(n, 1)) for d in arrays.D], axis=1)  # (n, F)

    def _sample(self, probs: np.ndarray) -> np.ndarray:
        """One draw per column of ``probs`` ``(K, n)``."""
        u = self.rng.random(probs.shape[1])
        return np.minimum((np.cumsum(probs, axis=0) < u).sum(axis=0), probs.shape[0] - 1)

    def observe(self) -> np.ndarray:
        obs = []
        for a, deps in zip(self.arrays.A, self.arrays.A_deps, strict=True):
            index = (slice(None), *[self.states[:, f] for f in deps])
            obs.append(self._sample(a[index]))
        return np.stack(obs, axis=1).astype(np.int64)

    def advance(self, actions: np.ndarray) -> None:
        for f, b in enumerate(self.arrays.B):
            self.states[:, f] = self._sample(b[:, self.states[:, f], actions[:, f]])


class Ours:
    def __init__(self, arrays: Arrays, config: EngineConfig, n: int) -> None:
        self.model = arrays.engine_model()
        self.config = config
        self.state = init_population(self.model, config, n)

    def step(self, obs: np.ndarray) -> dict[str, Any]:
        self.state, actions, diag = step(self.model, self.config, self.state, obs)
        s = self.state
        return {
            "qs": [q.copy() for q in s.qs],
            "q_pi": diag.q_pi,
            "neg_efe": diag.neg_efe,
            "vfe": diag.vfe,
            "action": actions.astype(np.int64),
            "pA": None if s.pA is None else [None if p is None else p.copy() for p in s.pA],
            "pB": None if s.pB is None else [None if p is None else p.copy() for p in s.pB],
            "pD": None if s.pD is None else [None if p is None else p.copy() for p in s.pD],
        }


class PymdpJax:
    """pymdp 1.0's batched JAX ``Agent`` driven by ``pymdp.envs.rollout.infer_and_plan`` (jitted)."""

    _compiled: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        arrays: Arrays,
        n: int,
        *,
        gamma: float,
        alpha: float = 16.0,
        num_iter: int = 16,
        learn_A: bool = False,
        learn_B: bool = False,
        use_param_info_gain: bool = False,
        sampling_mode: str = "marginal",
    ) -> None:
        import equinox as eqx
        import jax.numpy as jnp
        from jax import random as jr
        from pymdp.agent import Agent
        from pymdp.envs.rollout import infer_and_plan

        def J(items: list[np.ndarray] | None) -> list[Any] | None:
            return None if items is None else [jnp.asarray(x) for x in items]

        self.agent = Agent(
            A=J(arrays.A),
            B=J(arrays.B),
            C=J(arrays.C),
            D=J(arrays.D),
            pA=J(arrays.pA) if (learn_A or use_param_info_gain) else None,
            pB=J(arrays.pB) if (learn_B or use_param_info_gain) else None,
            A_dependencies=arrays.A_deps,
            policy_len=arrays.policy_len,
            gamma=gamma,
            alpha=alpha,
            batch_size=n,
            num_iter=num_iter,
            sampling_mode=sampling_mode,
            action_selection="deterministic",
            learn_A=learn_A,
            learn_B=learn_B,
            use_param_info_gain=use_param_info_gain,
        )
        self.qs_prev = [jnp.expand_dims(d, -2) for d in self.agent.D]
        # int64 from the start: the actions pymdp returns under x64 are int64, and a dtype change recompiles
        self.action_prev = -jnp.ones((n, len(arrays.B)), dtype=jnp.int64)
        self.key = jr.PRNGKey(0)
        if "infer_and_plan" not in PymdpJax._compiled:
            # one jitted function for every instance: models of the same shapes reuse its compilations
            PymdpJax._compiled["infer_and_plan"] = eqx.filter_jit(infer_and_plan)
        self.infer_and_plan = PymdpJax._compiled["infer_and_plan"]

    def step(self, obs: np.ndarray) -> dict[str, Any]:
        import jax.numpy as jnp

        observation = [jnp.asarray(obs[:, m : m + 1]) for m in range(obs.shape[1])]
        self.agent, action, qs, info = self.infer_and_plan(
            self.agent, self.qs_prev, observation, self.action_prev, self.key
        )
        self.qs_prev = [q[:, -1:] for q in qs]
        self.action_prev = action
        return {
            "qs": [np.asarray(q[:, -1]) for q in qs],
            "q_pi": np.asarray(info["qpi"]),
            "neg_efe": np.asarray(info["neg_efe"]),
            "action": np.asarray(action).astype(np.int64),
            "pA": None if self.agent.pA is None else [np.asarray(p) for p in self.agent.pA],
            "pB": None if self.agent.pB is None else [np.asarray(p) for p in self.agent.pB],
        }


def _first_of_near_ties(options: np.ndarray) -> int:
    """``pymdp.legacy.control.select_highest`` without its random tie-break: the first option within 1e-8
    of the maximum (pymdp 1.0 and this engine take the first maximum)."""
    return int(np.flatnonzero(np.abs(options - np.max(options)) <= 1e-8)[0])


class PymdpLegacy:
    """``pymdp.legacy.Agent`` objects in a loop, one per agent, with the learning calls in pymdp 1.0's order
    (infer states, infer policies, update A / B / D, sample action)."""

    def __init__(
        self,
        arrays: Arrays,
        n: int,
        *,
        gamma: float = 16.0,
        alpha: float = 16.0,
        learn_A: bool = False,
        learn_B: bool = False,
        learn_D: bool = False,
        use_param_info_gain: bool = False,
        lr: float = 1.0,
    ) -> None:
        import pymdp.legacy.control as legacy_control
        from pymdp.legacy import utils
        from pymdp.legacy.agent import Agent

        legacy_control.select_highest = _first_of_near_ties
        obj = utils.obj_array_from_list

        def P(items: list[np.ndarray] | None, used: bool) -> Any:
            return obj([x.copy() for x in items]) if (items is not None and used) else None

        self.agents = [
            Agent(
                A=obj([a.copy() for a in arrays.A]),
                B=obj([b.copy() for b in arrays.B]),
                C=obj([c.copy() for c in arrays.C]),
                D=obj([d.copy() for d in arrays.D]),
                pA=P(arrays.pA, learn_A or use_param_info_gain),
                pB=P(arrays.pB, learn_B or use_param_info_gain),
                pD=P(arrays.pD, learn_D),
                A_factor_list=arrays.A_deps,
                policy_len=arrays.policy_len,
                gamma=gamma,
                alpha=alpha,
                action_selection="deterministic",
                sampling_mode="marginal",
                use_param_info_gain=use_param_info_gain,
                lr_pA=lr,
                lr_pB=lr,
                lr_pD=lr,
            )
            for _ in range(n)
        ]
        self.learn = (learn_A, learn_B, learn_D)
        self.t = 0

    def step(self, obs: np.ndarray) -> dict[str, Any]:
        learn_A, learn_B, learn_D = self.learn
        qs_all, q_pi_all, G_all, actions = [], [], [], []
        for agent, o in zip(self.agents, obs, strict=True):
            qs_prev = agent.qs
            o_list = [int(x) for x in o]
            qs = agent.infer_states(o_list)
            q_pi, G = agent.infer_policies()
            if learn_A:
                agent.update_A(o_list)
            if learn_B and self.t > 0:
                agent.update_B(qs_prev)
            if learn_D and self.t == 0:
                agent.update_D(qs)
            actions.append(np.asarray(agent.sample_action()).astype(np.int64))
            qs_all.append(qs)
            q_pi_all.append(q_pi)
            G_all.append(G)
        self.t += 1
        F = len(qs_all[0])
        return {
            "qs": [np.stack([q[f] for q in qs_all]) for f in range(F)],
            "q_pi": np.stack(q_pi_all),
            "neg_efe": np.stack(G_all),
            "action": np.stack(actions),
            "pA": None
            if not learn_A
            else [np.stack([a.pA[m] for a in self.agents]) for m in range(len(obs[0]))],
            "pB": None if not learn_B else [np.stack([a.pB[f] for a in self.agents]) for f in range(F)],
            "pD": None if not learn_D else [np.stack([a.pD[f] for a in self.agents]) for f in range(F)],
        }


def max_diff(ours: dict[str, Any], ref: dict[str, Any], keys: tuple[str, ...]) -> dict[str, float]:
    """Largest absolute difference per quantity (lists compared element-wise, ``None`` entries skipped)."""
    out = {}
    for key in keys:
        a, b = ours[key], ref[key]
        if isinstance(a, list):
            diffs = [
                np.max(np.abs(x - y)) for x, y in zip(a, b, strict=True) if x is not None and y is not None
            ]
            out[key] = float(max(diffs)) if diffs else 0.0
        else:
            out[key] = float(np.max(np.abs(a - b)))
    return out
