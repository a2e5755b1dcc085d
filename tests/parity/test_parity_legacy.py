"""Parity with ``pymdp.legacy`` (NumPy) agents run one per agent in a loop, under ``semantics="legacy"``
(float64, ``tolerance=0.001``, ``num_iter=10``, ``gamma = alpha = 16``: legacy's defaults): qs, q_pi, neg_efe
and learned pA/pB/pD agree to 1e-6 and deterministic actions are identical over 20 steps.

``pymdp.legacy`` breaks near-ties (within 1e-8) at random; the harness pins that to the first of them.
The last test documents the offset between the two pymdp versions' ``neg_efe`` (how they treat ``C``)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.parity._harness import (
    Arrays,
    Ours,
    Process,
    PymdpLegacy,
    from_compiled,
    grid_world,
    max_diff,
    random_model,
)

from freeagentics.domain.engine import EngineConfig
from freeagentics.domain.models.templates import tmaze

pytestmark = pytest.mark.parity

TOL = 1e-6
STEPS = 20
AGENTS = 2

CASES = {
    "1f-1m-L1": (21, [4], [3], [5], [[0]], 1, False, False),
    "1f-2m-L3-learnABD": (22, [3], [3], [3, 2], [[0], [0]], 3, True, False),
    "2f-2m-L2-learnABD-novelty": (23, [3, 2], [3, 2], [4, 3], [[0, 1], [1]], 2, True, True),
    "3f-3m-L1-learnABD": (24, [2, 3, 2], [2, 1, 2], [3, 2, 4], [[0, 1, 2], [1], [0, 2]], 1, True, False),
    "2f-1m-L2": (25, [3, 3], [2, 3], [4], [[0, 1]], 2, False, False),
}

LEGACY = {
    "dtype": "float64",
    "semantics": "legacy",
    "tolerance": 0.001,
    "num_iter": 10,
    "gamma": 16.0,
    "alpha": 16.0,
}


def rollout(arrays: Arrays, config: EngineConfig, reference: PymdpLegacy, seed: int) -> dict[str, float]:
    ours = Ours(arrays, config, AGENTS)
    process = Process(arrays, AGENTS, seed)
    keys = (
        "qs",
        "q_pi",
        "neg_efe",
        *tuple(k for k, on in (("pA", config.learn_A), ("pB", config.learn_B), ("pD", config.learn_D)) if on),
    )
    worst = dict.fromkeys(keys, 0.0)
    for t in range(STEPS):
        obs = process.observe()
        mine, theirs = ours.step(obs), reference.step(obs)
        for key, value in max_diff(mine, theirs, keys).items():
            worst[key] = max(worst[key], value)
        np.testing.assert_array_equal(mine["action"], theirs["action"], err_msg=f"actions differ at step {t}")
        process.advance(mine["action"])
    return worst


@pytest.mark.parametrize("case", sorted(CASES))
def test_random_models_match_legacy(case: str) -> None:
    seed, Ns, Nu, No, deps, policy_len, learn, novelty = CASES[case]
    arrays = random_model(seed, Ns, Nu, No, deps, policy_len, learn)
    config = EngineConfig(**LEGACY, learn_A=learn, learn_B=learn, learn_D=learn, use_param_info_gain=novelty)
    reference = PymdpLegacy(
        arrays, AGENTS, learn_A=learn, learn_B=learn, learn_D=learn, use_param_info_gain=novelty
    )
    worst = rollout(arrays, config, reference, seed)
    assert max(worst.values()) < TOL, (case, worst)


def test_tmaze_matches_legacy() -> None:
    arrays = from_compiled(tmaze(policy_len=2, cue_validity=0.95))
    worst = rollout(arrays, EngineConfig(**LEGACY), PymdpLegacy(arrays, AGENTS), seed=3)
    assert max(worst.values()) < TOL, worst


def test_grid_world_learning_B_matches_legacy() -> None:
    arrays = grid_world(4, policy_len=2, learn_B=True, seed=1)
    worst = rollout(
        arrays, EngineConfig(**LEGACY, learn_B=True), PymdpLegacy(arrays, AGENTS, learn_B=True), 4
    )
    assert max(worst.values()) < TOL, worst


def test_neg_efe_offset_between_pymdp_versions() -> None:
    """pymdp 1.0 scores outcomes with ``C`` as given; legacy with ``log(softmax(C) + 1e-16)``. On the same
    beliefs, legacy's ``neg_efe`` is pymdp 1.0's minus ``policy_len * Σ_m logsumexp(C_m)`` (so ``q_pi`` is
    unchanged), up to legacy's ``exp(-16)`` epsilons in the information gain (< 1e-5 here)."""
    seed, Ns, Nu, No, deps, policy_len, _, _ = CASES["2f-2m-L2-learnABD-novelty"]
    arrays = random_model(seed, Ns, Nu, No, deps, policy_len, learn=False)
    offset = policy_len * sum(float(np.logaddexp.reduce(c)) for c in arrays.C)
    obs = Process(arrays, AGENTS, seed).observe()
    # pymdp 1.0 semantics, with legacy's inference settings so that both reach the same beliefs
    config = EngineConfig(dtype="float64", tolerance=0.001, num_iter=10, gamma=16.0)
    v1 = Ours(arrays, config, AGENTS).step(obs)
    legacy = PymdpLegacy(arrays, AGENTS).step(obs)
    np.testing.assert_allclose(v1["qs"][0], legacy["qs"][0], atol=1e-10, rtol=0)
    np.testing.assert_allclose(v1["neg_efe"] - offset, legacy["neg_efe"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(v1["q_pi"], legacy["q_pi"], atol=1e-4, rtol=0)
