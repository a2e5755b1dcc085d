"""Unit tests of the batched engine: shapes, validation, exactness against direct formulas, learning,
determinism, and independence from how the agent axis is split."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from freeagentics.domain.engine import (
    NO_ACTION,
    EngineConfig,
    GenerativeModel,
    empirical_prior,
    init_population,
    reset_agents,
    set_preferences,
    step,
)
from freeagentics.domain.models.errors import ModelValidationError
from freeagentics.domain.models.templates import grid_explorer, tmaze


def random_single_factor(seed: int, Ns: int = 4, No: int = 5, Nu: int = 3) -> tuple[list[np.ndarray], ...]:
    rng = np.random.default_rng(seed)
    A = rng.gamma(1.0, size=(No, Ns)) + 0.01
    B = rng.gamma(0.5, size=(Ns, Ns, Nu)) + 0.01
    return ([A / A.sum(0)], [B / B.sum(0)], [rng.normal(size=No)], [np.full(Ns, 1 / Ns)])


def reference_neg_efe(
    A: np.ndarray, B: np.ndarray, C: np.ndarray, qs: np.ndarray, policies: np.ndarray
) -> np.ndarray:
    """Direct pymdp 1.0 formula for one factor and one modality: Σ_t [H(qo) - E_qs H(A) + qo·C]."""
    eps = np.finfo(np.float64).eps
    H_A = -(A * np.log(np.maximum(A, eps))).sum(0)
    out = []
    for policy in policies:
        x, total = qs, 0.0
        for t in range(policy.shape[0]):
            x = B[:, :, policy[t, 0]] @ x
            qo = A @ x
            total += -(qo * np.log(np.maximum(qo, eps))).sum() - x @ H_A + qo @ C
        out.append(total)
    return np.array(out)


def test_config_rejects_bad_values() -> None:
    for kwargs in (
        {"num_iter": 0},
        {"gamma": -1.0},
        {"alpha": float("nan")},
        {"dtype": "float16"},
        {"action_selection": "greedy"},
        {"sampling_mode": "joint"},
        {"semantics": "spm"},
        {"tolerance": -1.0},
        {"num_threads": 0},
        {"modalities_to_learn": (-1,)},
    ):
        with pytest.raises(ValueError, match="EngineConfig"):
            EngineConfig(**kwargs)


def test_model_from_arrays_validates() -> None:
    A, B, C, D = random_single_factor(0)
    A[0][0, 0] += 0.5  # column no longer sums to 1
    with pytest.raises(ModelValidationError, match=r"A\[0\]"):
        GenerativeModel.from_arrays(A, B, C, D)


def test_config_must_fit_model() -> None:
    model = GenerativeModel.from_arrays(*random_single_factor(0))
    with pytest.raises(ValueError, match="pA"):
        init_population(model, EngineConfig(learn_A=True), 2)


def test_single_step_is_exact_bayes_and_matches_direct_efe() -> None:
    A, B, C, D = random_single_factor(1)
    model = GenerativeModel.from_arrays(A, B, C, D, policy_len=2)
    config = EngineConfig(dtype="float64", gamma=3.0)
    state = init_population(model, config, 2)
    obs = np.array([[0], [3]])
    state, actions, diag = step(model, config, state, obs)
    for i, o in enumerate(obs[:, 0]):
        post = A[0][o] * D[0]
        np.testing.assert_allclose(state.qs[0][i], post / post.sum(), atol=1e-12)
        assert diag.vfe[i] == pytest.approx(-np.log(post.sum()), abs=1e-12)
        expected = reference_neg_efe(A[0], B[0], C[0], state.qs[0][i], model.policies)
        np.testing.assert_allclose(diag.neg_efe[i], expected, atol=1e-12)
        q_pi = np.exp(3.0 * expected - (3.0 * expected).max())
        np.testing.assert_allclose(diag.q_pi[i], q_pi / q_pi.sum(), atol=1e-12)
    np.testing.assert_allclose(diag.neg_efe, diag.utility + diag.state_info_gain + diag.param_info_gain)
    assert (diag.state_info_gain >= -1e-12).all()
    # marginal deterministic selection: arg-max of q_pi summed per first action
    marginal = np.stack([diag.q_pi[:, model.policies[:, 0, 0] == u].sum(1) for u in range(3)], axis=1)
    np.testing.assert_array_equal(actions[:, 0], marginal.argmax(1))
    prior = empirical_prior(model, config, state)[0]
    for i in range(2):
        np.testing.assert_allclose(prior[i], B[0][:, :, actions[i, 0]] @ state.qs[0][i], atol=1e-12)


def test_fast_and_general_paths_agree() -> None:
    """Shared A/B use the composite fast path; learning A at rate 0 forces the general path."""
    cm = tmaze(policy_len=2, cue_validity=0.9)
    pA = tuple(np.asarray(a) * 10 for a in cm.A)  # normalises back to A, so learning at rate 0 keeps A
    model = GenerativeModel.from_arrays(
        list(cm.A),
        list(cm.B),
        list(cm.C),
        list(cm.D),
        A_factor_list=cm.A_factor_list,
        policy_len=2,
        pA=list(pA),
    )
    fast_cfg = EngineConfig(dtype="float64")
    slow_cfg = EngineConfig(dtype="float64", learn_A=True, lr_pA=0.0)
    assert model.composites(fast_cfg) is not None
    assert model.composites(slow_cfg) is None
    fast, slow = init_population(model, fast_cfg, 4), init_population(model, slow_cfg, 4)
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs = np.stack([rng.integers(0, n, 4) for n in model.num_obs], axis=1)
        fast, a1, d1 = step(model, fast_cfg, fast, obs)
        slow, a2, d2 = step(model, slow_cfg, slow, obs)
        np.testing.assert_allclose(d1.neg_efe, d2.neg_efe, atol=1e-12)
        np.testing.assert_array_equal(a1, a2)


def grid_run(config: EngineConfig, n: int, steps: int = 6, seed: int = 0) -> tuple[np.ndarray, ...]:
    model = GenerativeModel.from_compiled(
        grid_explorer(5, 5, goal=(4, 4), observation_noise=0.2, policy_len=2)
    )
    state = init_population(model, config, n)
    rng = np.random.default_rng(seed)
    obs = rng.integers(0, 25, size=(n, 1))
    actions = []
    for _ in range(steps):
        state, act, diag = step(model, config, state, obs, np.random.default_rng(1))
        actions.append(act)
        obs = np.minimum(24, obs + act)  # any deterministic function of the actions
    return state.qs[0], diag.q_pi, np.stack(actions)


def test_results_do_not_depend_on_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import freeagentics.domain.engine.population as population

    monkeypatch.setattr(population, "CHUNK_BYTES", 50_000)  # many chunks, so the threads share them out
    base = grid_run(EngineConfig(num_threads=1), 3000)
    for threads in (2, 3):
        other = grid_run(EngineConfig(num_threads=threads), 3000)
        for x, y in zip(base, other, strict=True):
            np.testing.assert_array_equal(x, y)


def test_stochastic_selection_is_reproducible_and_follows_alpha() -> None:
    model = GenerativeModel.from_compiled(grid_explorer(3, 3, goal=(2, 2), observation_noise=0.3))
    config = EngineConfig(action_selection="stochastic", alpha=1.0, dtype="float64")
    state = init_population(model, config, 20000)
    obs = np.zeros((20000, 1), dtype=np.int64)
    _s1, a1, d1 = step(model, config, state, obs, np.random.default_rng(7))
    _, a2, _ = step(model, config, state, obs, np.random.default_rng(7))
    _, a3, _ = step(model, config, state, obs, np.random.default_rng(8))
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a1, a3)
    marginal = np.stack([d1.q_pi[0, model.policies[:, 0, 0] == u].sum() for u in range(5)])
    freq = np.bincount(a1[:, 0], minlength=5) / 20000
    np.testing.assert_allclose(freq, marginal / marginal.sum(), atol=0.015)
    with pytest.raises(ValueError, match="rng"):
        step(model, config, state, obs)


def test_observation_validation() -> None:
    model = GenerativeModel.from_arrays(*random_single_factor(2))
    config = EngineConfig()
    state = init_population(model, config, 3)
    with pytest.raises(ValueError, match="shape"):
        step(model, config, state, np.zeros((2, 1), dtype=int))
    with pytest.raises(ValueError, match="agent 1"):
        step(model, config, state, np.array([[0], [9], [0]]))
    with pytest.raises(ValueError, match="integers"):
        step(model, config, state, np.zeros((3, 1)))


def test_learning_updates_counts_like_pymdp() -> None:
    A, B, C, D = random_single_factor(3)
    pA, pB, pD = [A[0] * 4 + 1], [B[0] * 4 + 1], [D[0] * 4 + 1]
    model = GenerativeModel.from_arrays(A, B, C, D, pA=pA, pB=pB, pD=pD)
    config = EngineConfig(dtype="float64", learn_A=True, learn_B=True, learn_D=True, lr_pA=0.5, lr_pB=2.0)
    state = init_population(model, config, 2)
    s1, a1, _ = step(model, config, state, np.array([[1], [2]]))
    for i, o in enumerate((1, 2)):
        expected = pA[0].copy()
        expected[o] += 0.5 * s1.qs[0][i]
        np.testing.assert_allclose(s1.pA[0][i], expected)
        np.testing.assert_allclose(s1.A[0][i], expected / expected.sum(0))
        np.testing.assert_allclose(s1.pD[0][i], pD[0] + s1.qs[0][i])  # first step of the episode
        np.testing.assert_allclose(s1.pB[0][i], pB[0])  # no action taken yet
    s2, _, _ = step(model, config, s1, np.array([[0], [0]]))
    for i in range(2):
        expected = pB[0].copy()
        expected[:, :, a1[i, 0]] += 2.0 * np.outer(s2.qs[0][i], s1.qs[0][i])
        np.testing.assert_allclose(s2.pB[0][i], expected)
        np.testing.assert_allclose(s2.B[0][i], expected / expected.sum(0))
        np.testing.assert_allclose(s2.pD[0][i], s1.pD[0][i])  # not the first step any more
    assert state.pA[0] is not s1.pA[0]  # states are values: the old one is unchanged
    np.testing.assert_allclose(state.pA[0][0], pA[0])


def test_learning_B_from_flat_counts_approaches_true_transitions() -> None:
    true = GenerativeModel.from_compiled(grid_explorer(3, 3, goal=(2, 2)))
    learner = GenerativeModel.from_compiled(grid_explorer(3, 3, goal=(2, 2), learn_B=True))
    config = EngineConfig(dtype="float64", learn_B=True, action_selection="stochastic", alpha=0.0)
    n = 8
    rng = np.random.default_rng(0)
    state = init_population(learner, config, n)
    pos = rng.integers(0, 9, n)
    table = true.transition_tables[0]
    errors = [np.abs(state.B[0] - true.B[0]).mean()]
    for t in range(300):  # each agent learns its own B: ~7 visits per (state, action)
        state, actions, _ = step(learner, config, state, pos[:, None], rng)
        pos = table[pos, actions[:, 0]]
        if t % 100 == 99:
            errors.append(np.abs(state.B[0] - true.B[0]).mean())
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 0.65 * errors[0]
    # the most likely next state is the true one almost everywhere
    assert (state.B[0].argmax(axis=1) == table[None]).mean() > 0.95


def test_reset_and_preferences() -> None:
    model = GenerativeModel.from_compiled(grid_explorer(3, 3, goal=(2, 2), start=(0, 0)))
    config = EngineConfig(dtype="float64")
    state = init_population(model, config, 3)
    state, _, _d0 = step(model, config, state, np.array([[0], [0], [0]]))
    state = reset_agents(model, config, state, np.array([True, False, False]))
    assert state.action[0, 0] == NO_ACTION
    assert state.action[1, 0] != NO_ACTION
    np.testing.assert_allclose(state.qs[0][0], model.D[0])
    C = np.zeros(9)
    C[6] = 5.0  # now prefer the bottom-left cell
    changed = set_preferences(model, state, 0, C, agents=np.array([2]))
    _, _, d1 = step(model, config, changed, np.array([[0], [0], [0]]))
    _, _, d2 = step(model, config, state, np.array([[0], [0], [0]]))
    np.testing.assert_allclose(d1.utility[:2], d2.utility[:2])
    assert not np.allclose(d1.utility[2], d2.utility[2])


@pytest.mark.parametrize("n", [0, 1, 2])
def test_every_per_agent_array_is_writable_for_any_population_size(n: int) -> None:
    # A broadcast view of the model's rows is read-only; for 0 or 1 agents it used to leak into the state.
    model = GenerativeModel.from_compiled(grid_explorer(3, 3, goal=(2, 2), learn_B=True))
    config = EngineConfig(dtype="float64", learn_B=True)
    state = init_population(model, config, n)
    assert all(array.flags.writeable for array in state.arrays())
    C = np.zeros(9)
    C[6] = 5.0
    changed = set_preferences(model, state, 0, C)
    assert changed.C is not None
    assert changed.C[0] is not None
    assert changed.C[0].flags.writeable
    np.testing.assert_allclose(changed.C[0], np.broadcast_to(C, (n, 9)))


def test_per_agent_state_is_small_and_model_is_shared() -> None:
    for policy_len in (1, 3):
        model = GenerativeModel.from_compiled(
            grid_explorer(10, 10, goal=(9, 9), observation_noise=0.1, policy_len=policy_len)
        )
        state = init_population(model, EngineConfig(), 1000)
        assert state.nbytes_per_agent <= 1024
        assert all(not np.shares_memory(q, a) for q in state.qs for a in model.A)


def test_plan_shares_prefixes_and_merges_equal_moves() -> None:
    model = GenerativeModel.from_compiled(grid_explorer(10, 10, goal=(9, 9), policy_len=3))
    plan = model.plan(EngineConfig())
    assert model.num_policies == 125
    assert plan.num_nodes < 5 + 25 + 125  # distinct (step, prediction) pairs actually evaluated
    # every policy's nodes reproduce its own path
    table = model.transition_tables[0]
    for p, policy in enumerate(model.policies):
        maps = np.arange(100)
        for t in range(3):
            maps = table[maps, policy[t, 0]]
            level = plan.factor_levels[0][t]
            node_maps = np.arange(100)
            node, path = level.policy_node[p], []
            for tt in range(t, -1, -1):
                path.append(plan.factor_levels[0][tt].action[node])
                node = plan.factor_levels[0][tt].parent[node]
            for a in reversed(path):
                node_maps = table[node_maps, a]
            np.testing.assert_array_equal(node_maps, maps)


def test_float32_close_to_float64() -> None:
    cm = tmaze(policy_len=2)
    model = GenerativeModel.from_compiled(cm)
    out = {}
    for dtype in ("float32", "float64"):
        config = EngineConfig(dtype=dtype)
        state = init_population(model, config, 2)
        state, actions, diag = step(model, config, state, np.array([[0, 0, 0], [0, 0, 1]]))
        out[dtype] = (diag.q_pi, actions)
    np.testing.assert_allclose(out["float32"][0], out["float64"][0], atol=1e-4)
    np.testing.assert_array_equal(out["float32"][1], out["float64"][1])


def test_multi_factor_fpi_iterations_and_tolerance() -> None:
    cm = tmaze(policy_len=1, cue_validity=0.8)
    model = GenerativeModel.from_compiled(cm)
    obs = np.array([list(o) for o in itertools.product(range(4), range(3), range(2))])

    def posterior(config: EngineConfig) -> tuple[np.ndarray, ...]:
        # every observation possible under the prior: the location starts uniform
        state = init_population(model, config, len(obs), D=[np.full(4, 0.25), None])
        return step(model, config, state, obs)[0].qs

    plain = posterior(EngineConfig(dtype="float64", num_iter=12))
    zero_tol = posterior(EngineConfig(dtype="float64", num_iter=12, tolerance=0.0))
    loose = posterior(EngineConfig(dtype="float64", num_iter=12, tolerance=0.5))
    for f in range(2):
        np.testing.assert_array_equal(plain[f], zero_tol[f])  # the rule only stops once dF < tolerance
        np.testing.assert_allclose(loose[f].sum(axis=1), 1.0)
    assert any(not np.allclose(loose[f], plain[f]) for f in range(2))  # some agents stopped early
    # factors that no modality couples are solved exactly by the first sweep
    A = [np.eye(3) * 0.7 + 0.1, np.eye(2) * 0.6 + 0.2]
    B = [np.eye(3)[:, :, None], np.eye(2)[:, :, None]]
    decoupled = GenerativeModel.from_arrays(A, B, A_factor_list=[[0], [1]])
    states = [
        step(
            decoupled,
            EngineConfig(dtype="float64", num_iter=k),
            init_population(decoupled, EngineConfig(dtype="float64", num_iter=k), 2),
            np.array([[0, 1], [2, 0]]),
        )[0].qs
        for k in (1, 16)
    ]
    for f in range(2):
        np.testing.assert_allclose(states[0][f], states[1][f], atol=1e-15)


def test_benchmark_script_runs() -> None:
    """The benchmark's quick mode stays runnable (no timing is asserted)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "benchmarks" / "engine.py"
    out = subprocess.run(
        [sys.executable, str(script), "--quick", "--no-legacy", "--agents", "1", "50", "--models", "5x5:1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    rows = [line for line in out.splitlines() if line.startswith("| 5x5")]
    assert len(rows) == 2
