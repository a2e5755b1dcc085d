"""The optional compiled kernels (``EngineConfig(accelerator="numba")``) against the NumPy path.

Both paths get the same state and observations at every step (the NumPy path's state carries the rollout
forward), so every step compares like with like. Values agree to rounding. Actions agree wherever the
choice is not an exact tie: where two options tie in exact arithmetic, rounding decides which one each path
sees as first, so there the test checks that both chose one of the tied best options.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest

from freeagentics.domain.engine import EngineConfig, GenerativeModel, init_population, set_preferences, step
from freeagentics.domain.engine.config import accelerator_available
from freeagentics.domain.engine.population import fused_step_applies
from freeagentics.domain.models.templates import grid_explorer, resource_collector, tmaze

pytestmark = pytest.mark.skipif(
    not accelerator_available("numba"), reason="numba (the accel extra) not installed"
)

KEYS = ("utility", "state_info_gain", "param_info_gain", "neg_efe", "q_pi", "vfe")


def _marginal(q_pi: np.ndarray, model: GenerativeModel, config: EngineConfig) -> np.ndarray:
    num = model.numerics(config)
    if config.sampling_mode == "full":
        return q_pi
    return np.concatenate([q_pi @ num.first_actions[f] for f in range(model.num_factors)], axis=1)


def _assert_same_choices(
    model: GenerativeModel, config: EngineConfig, q_pi: np.ndarray, a_np: np.ndarray, a_nb: np.ndarray
) -> None:
    differ = np.flatnonzero((a_np != a_nb).any(axis=1))
    if not differ.size:
        return
    assert config.action_selection == "deterministic", "sampled actions must match given the same uniforms"
    values = _marginal(q_pi[differ], model, config)
    num = model.numerics(config)
    for row, agent in enumerate(differ):
        if config.sampling_mode == "full":
            chosen = [
                int(np.flatnonzero((num.first_action_index == a).all(axis=1))[0])
                for a in (a_np[agent], a_nb[agent])
            ]
        else:
            chosen = [int(a_np[agent, 0]), int(a_nb[agent, 0])]
        best = values[row].max()
        # float32 rounding alone moves q_pi by ~1e-5 (gamma 16 times neg_efe of ~10 at eps 1.2e-7)
        tie = 1e-9 if config.dtype == "float64" else 1e-4
        for option in chosen:
            assert best - values[row, option] < tie, (agent, values[row], chosen)


def _rollout(
    model: GenerativeModel,
    config: EngineConfig,
    n: int,
    steps: int,
    observe,
    *,
    tol: float,
    C: np.ndarray | None = None,
    seed: int = 0,
) -> None:
    fast = replace(config, accelerator="numba")
    state = init_population(model, config, n)
    if C is not None:
        state = set_preferences(model, state, 0, C[: n // 2], np.arange(n // 2))
    rng = np.random.default_rng(seed)
    for t in range(steps):
        obs = observe(rng, n)
        seed_t = int(rng.integers(2**32))
        s_np, a_np, d_np = step(model, config, state, obs, np.random.default_rng(seed_t))
        s_nb, a_nb, d_nb = step(model, fast, state, obs, np.random.default_rng(seed_t))
        for f in range(model.num_factors):
            np.testing.assert_allclose(s_nb.qs[f], s_np.qs[f], atol=tol, rtol=0, err_msg=f"qs[{f}] step {t}")
        for key in KEYS:
            np.testing.assert_allclose(
                getattr(d_nb, key), getattr(d_np, key), atol=tol * 10, rtol=tol, err_msg=f"{key} step {t}"
            )
        _assert_same_choices(model, config, d_np.q_pi, a_np, a_nb)
        state = s_np


def _uniform_obs(model: GenerativeModel):
    def observe(rng: np.random.Generator, n: int) -> np.ndarray:
        return np.stack([rng.integers(0, k, n) for k in model.num_obs], axis=1)

    return observe


@pytest.mark.parametrize("policy_len", [1, 2])
@pytest.mark.parametrize("selection", ["deterministic", "stochastic"])
@pytest.mark.parametrize("sampling", ["marginal", "full"])
def test_grid_explorer_whole_steps_match_the_numpy_path(
    policy_len: int, selection: str, sampling: str
) -> None:
    model = GenerativeModel.from_compiled(
        grid_explorer(6, 6, goal=(5, 5), observation_noise=0.1, policy_len=policy_len)
    )
    config = EngineConfig(dtype="float64", action_selection=selection, sampling_mode=sampling)  # type: ignore[arg-type]
    assert fused_step_applies(model, replace(config, accelerator="numba"))
    C = np.random.default_rng(3).normal(size=(20, 36))
    _rollout(model, config, 40, 8, _uniform_obs(model), tol=1e-10, C=C)


def test_per_agent_D_and_float32_match_the_numpy_path() -> None:
    model = GenerativeModel.from_compiled(
        grid_explorer(5, 5, goal=(4, 4), observation_noise=0.2, policy_len=2)
    )
    config = EngineConfig(dtype="float32")
    D = np.random.default_rng(1).dirichlet(np.ones(25), size=30)
    state = init_population(model, config, 30, D=[D])
    obs = np.random.default_rng(2).integers(0, 25, (30, 1))
    s_np, a_np, d_np = step(model, config, state, obs)
    s_nb, a_nb, d_nb = step(model, replace(config, accelerator="numba"), state, obs)
    np.testing.assert_allclose(s_nb.qs[0], s_np.qs[0], atol=1e-6)
    np.testing.assert_allclose(d_nb.neg_efe, d_np.neg_efe, rtol=1e-5, atol=1e-4)
    _assert_same_choices(model, config, d_np.q_pi.astype(np.float64), a_np, a_nb)


@pytest.mark.parametrize(
    "compiled",
    [
        tmaze(policy_len=2, cue_validity=0.9),
        resource_collector(4, 4, resources=[(0, 3)], goals=[(3, 0)], observation_noise=0.1, policy_len=1),
    ],
    ids=["tmaze", "collector"],
)
def test_multi_factor_models_match_the_numpy_path(compiled) -> None:
    model = GenerativeModel.from_compiled(compiled)
    config = EngineConfig(dtype="float64", sampling_mode=compiled.metadata.get("sampling_mode", "marginal"))
    assert not fused_step_applies(model, replace(config, accelerator="numba"))
    _rollout(model, config, 16, 6, _uniform_obs(model), tol=1e-10)


def test_novelty_of_a_shared_pA_matches_the_numpy_path() -> None:
    rng = np.random.default_rng(4)
    A = [rng.dirichlet(np.ones(4), size=5).T, rng.dirichlet(np.ones(3), size=5).T]
    B = [rng.dirichlet(np.ones(5) * 0.5, size=(5, 3)).transpose(2, 0, 1)]
    pA = [a * 4.0 + 0.5 for a in A]
    model = GenerativeModel.from_arrays(
        A, B, [rng.normal(size=4), rng.normal(size=3)], [np.full(5, 0.2)], policy_len=2, pA=pA
    )
    config = EngineConfig(dtype="float64", use_param_info_gain=True)
    assert fused_step_applies(model, replace(config, accelerator="numba"))
    _rollout(model, config, 24, 6, _uniform_obs(model), tol=1e-10)


def test_underflowing_posteriors_fall_back_to_log_space_alike() -> None:
    # Five modalities that each rule the observed state out: the product of clipped likelihoods underflows
    # in float32, so both paths take the log-space branch.
    A = [np.eye(3) for _ in range(5)]
    B = [np.stack([np.eye(3)] * 2, axis=2)]
    model = GenerativeModel.from_arrays(A, B, [np.zeros(3)] * 5, [np.array([1.0, 0.0, 0.0])], policy_len=1)
    config = EngineConfig(dtype="float32")
    state = init_population(model, config, 4)
    obs = np.array([[1, 2, 1, 2, 1], [0, 0, 0, 0, 0], [2, 2, 2, 2, 2], [1, 1, 1, 1, 1]])
    s_np, _, d_np = step(model, config, state, obs)
    s_nb, _, d_nb = step(model, replace(config, accelerator="numba"), state, obs)
    assert np.isfinite(d_nb.vfe).all()
    np.testing.assert_allclose(s_nb.qs[0], s_np.qs[0], atol=1e-6)
    np.testing.assert_allclose(d_nb.vfe, d_np.vfe, rtol=1e-5)


def test_results_do_not_depend_on_the_thread_count() -> None:
    model = GenerativeModel.from_compiled(grid_explorer(8, 8, goal=(7, 7), observation_noise=0.1))
    n = 5000
    obs = np.random.default_rng(0).integers(0, 64, (n, 1))
    results = []
    for threads in (1, 3):
        config = EngineConfig(accelerator="numba", num_threads=threads)
        state = init_population(model, config, n)
        for _ in range(3):
            state, actions, diag = step(model, config, state, obs)
        results.append((state.qs[0], actions, diag.neg_efe))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_config_refuses_an_accelerator_that_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "numba" else real(name, *a)
    )
    with pytest.raises(ValueError, match="not installed"):
        EngineConfig(accelerator="numba")
    assert EngineConfig(accelerator="numpy").accelerator == "numpy"


def test_agents_that_learn_B_take_the_numpy_path_and_still_run() -> None:
    model = GenerativeModel.from_compiled(grid_explorer(4, 4, goal=(3, 3), policy_len=1, learn_B=True))
    config = EngineConfig(accelerator="numba", learn_B=True)
    assert not fused_step_applies(model, config)
    assert model.composites(config) is None
    state = init_population(model, config, 3)
    state, actions, _ = step(model, config, state, np.zeros((3, 1), dtype=np.int64))
    assert actions.shape == (3, 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_beliefs_on_a_single_state_match_the_numpy_path(dtype: str) -> None:
    # Agents that see their true cell hold beliefs on a single cell wherever the noise of their location
    # model is spread thinly enough (interior cells: the kernel's shortcut through the precomputed column
    # entropies); at the borders, or after a wrong observation, beliefs keep a few cells (the general
    # path). Both kinds share each population step.
    compiled = grid_explorer(5, 5, goal=(4, 4), observation_noise=0.1, policy_len=2, start=(2, 2))
    model = GenerativeModel.from_compiled(compiled)
    config = EngineConfig(dtype=dtype)  # type: ignore[arg-type]
    fast = replace(config, accelerator="numba")
    table = np.asarray(compiled.B[0].argmax(axis=0))  # next cell per (cell, action)
    n = 40
    rng = np.random.default_rng(5)
    cells = np.full(n, 12, dtype=np.int64)  # (2, 2)
    state = init_population(model, config, n)
    single = 0
    for t in range(8):
        obs = cells.copy()
        wrong = rng.random(n) < 0.1
        obs[wrong] = rng.integers(0, 25, int(wrong.sum()))
        s_np, a_np, d_np = step(model, config, state, obs[:, None])
        s_nb, a_nb, d_nb = step(model, fast, state, obs[:, None])
        single += int(((s_np.qs[0] > np.finfo(dtype).eps / 25).sum(axis=1) == 1).sum())
        tol = 1e-10 if dtype == "float64" else 2e-5
        np.testing.assert_allclose(s_nb.qs[0], s_np.qs[0], atol=tol, err_msg=f"qs step {t}")
        for key in KEYS:
            np.testing.assert_allclose(
                getattr(d_nb, key), getattr(d_np, key), atol=tol * 10, rtol=tol, err_msg=f"{key} step {t}"
            )
        _assert_same_choices(model, config, d_np.q_pi.astype(np.float64), a_np, a_nb)
        state = s_np
        cells = table[cells, a_np[:, 0]]
    assert single > n, "the single-state shortcut was not exercised"


@pytest.mark.parametrize(
    ("size", "dense"), [(5, True), (10, True), (13, False)], ids=["5x5-dense", "10x10-dense", "13x13-sparse"]
)
def test_float32_whole_steps_match_the_numpy_path_on_dense_and_sparse_tables(size: int, dense: bool) -> None:
    # float32 takes the SIMD paths: whole dense rows where the dense block is small enough (5x5 and 10x10,
    # policy_len 1: 16 and 208 KB), the sparse entries otherwise (13x13: 595 KB); half the agents carry
    # their own C.
    model = GenerativeModel.from_compiled(
        grid_explorer(size, size, goal=(size - 1, size - 1), observation_noise=0.1, policy_len=1)
    )
    config = EngineConfig(dtype="float32")
    sparse = model.sparse_composites(replace(config, accelerator="numba"))
    assert sparse is not None
    assert (sparse[0].qo_dense.shape[0] == size * size) is dense
    C = np.random.default_rng(4).normal(size=(30, size * size))
    _rollout(model, config, 60, 8, _uniform_obs(model), tol=2e-5, C=C)


def test_simd_log_and_exp_stay_within_a_few_float32_ulps() -> None:
    from freeagentics.domain.engine import _numba_kernels as kernels

    rng = np.random.default_rng(0)
    tiny, eps = np.finfo(np.float32).tiny, np.finfo(np.float32).eps
    v = np.concatenate(
        [10.0 ** rng.uniform(-37.9, 0, 100_000), rng.uniform(0, 1, 100_000), [tiny, eps, 0.5, 1.0]]
    ).astype(np.float32)
    v = v[v >= tiny]
    work = kernels._log32_work(len(v))
    work.values[:] = v
    kernels._log32(work, len(v))
    exact = np.log(v.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert (np.abs(work.logs - exact) / ulp).max() < 3.0
    assert work.logs[v == 1.0][0] == 0.0

    x = np.concatenate([-rng.uniform(0, 87, 200_000), [0.0, -1e-8, -87.0, -87.5, -1e30, -np.inf]])
    x = x.astype(np.float32)
    out = np.empty(len(x), dtype=np.float32)
    kernels._exp32(x, out, len(x))
    exact = np.exp(x.astype(np.float64))
    normal = x >= -87.0
    ulp = np.spacing(exact[normal].astype(np.float32)).astype(np.float64)
    assert (np.abs(out[normal] - exact[normal]) / ulp).max() < 2.0
    assert out[x == 0.0][0] == 1.0
    assert not out[~normal].any()
