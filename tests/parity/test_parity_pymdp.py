"""Parity with pymdp 1.0's batched JAX agent (float64): qs, q_pi, neg_efe, learned pA/pB agree to 1e-6 and
deterministic actions are identical at every step of 20-step rollouts. Models that no agent learns run on
both of the engine's paths: NumPy and the optional compiled kernels (``accelerator="numba"``)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.parity._harness import (
    Arrays,
    Ours,
    Process,
    PymdpJax,
    from_compiled,
    grid_world,
    max_diff,
    random_model,
)

from freeagentics.domain.engine import EngineConfig
from freeagentics.domain.engine.config import accelerator_available
from freeagentics.domain.models.templates import tmaze

pytestmark = pytest.mark.parity

TOL = 1e-6
STEPS = 20
AGENTS = 3

# Shape families (num_states, num_controls, num_obs, A_deps, policy_len, learn, param_info_gain); each is
# run with several value seeds so that pymdp's jitted step compiles once per family.
FAMILIES = {
    "1f-1m-L1": ([4], [3], [5], [[0]], 1, False, False),
    "1f-2m-L2": ([5], [3], [4, 3], [[0], [0]], 2, False, False),
    "1f-3m-L3-learnA-novelty": ([4], [2], [3, 2, 3], [[0], [0], [0]], 3, True, True),
    "2f-2m-L2-learnAB": ([3, 2], [3, 2], [4, 3], [[0, 1], [1]], 2, True, False),
    "2f-1m-L2-learnAB-novelty": ([3, 3], [2, 3], [4], [[0, 1]], 2, True, True),
    "3f-3m-L1": ([2, 3, 2], [2, 1, 2], [3, 2, 4], [[0, 1, 2], [1], [0, 2]], 1, False, False),
}
SEEDS = (11, 12)
ACCELERATORS = [
    "numpy",
    pytest.param(
        "numba", marks=pytest.mark.skipif(not accelerator_available("numba"), reason="numba not installed")
    ),
]


def rollout(arrays: Arrays, config: EngineConfig, reference: PymdpJax, seed: int) -> dict[str, float]:
    ours = Ours(arrays, config, AGENTS)
    process = Process(arrays, AGENTS, seed)
    keys = (
        ("qs", "q_pi", "neg_efe") + (("pA",) if config.learn_A else ()) + (("pB",) if config.learn_B else ())
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


# Agents that learn A or B always take the NumPy path, so only the other families run on both.
@pytest.mark.parametrize(
    ("family", "accelerator"),
    [(family, "numpy") for family in sorted(FAMILIES)]
    + [
        pytest.param(family, *accelerator.values, marks=accelerator.marks)
        for family in sorted(FAMILIES)
        if not FAMILIES[family][5]
        for accelerator in ACCELERATORS[1:]
    ],
)
def test_random_models_match_pymdp(family: str, accelerator: str) -> None:
    Ns, Nu, No, deps, policy_len, learn, novelty = FAMILIES[family]
    for seed in SEEDS:
        arrays = random_model(seed, Ns, Nu, No, deps, policy_len, learn)
        config = EngineConfig(
            dtype="float64",
            gamma=4.0,
            alpha=16.0,
            num_iter=16,
            learn_A=learn,
            learn_B=learn,
            use_param_info_gain=novelty,
            accelerator=accelerator,  # type: ignore[arg-type]
        )
        reference = PymdpJax(
            arrays, AGENTS, gamma=4.0, learn_A=learn, learn_B=learn, use_param_info_gain=novelty
        )
        worst = rollout(arrays, config, reference, seed)
        assert max(worst.values()) < TOL, (family, seed, worst)


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_tmaze_matches_pymdp(accelerator: str) -> None:
    arrays = from_compiled(tmaze(policy_len=2, cue_validity=0.95))
    config = EngineConfig(dtype="float64", gamma=16.0, num_iter=16, accelerator=accelerator)  # type: ignore[arg-type]
    worst = rollout(arrays, config, PymdpJax(arrays, AGENTS, gamma=16.0), seed=5)
    assert max(worst.values()) < TOL, worst


def test_grid_world_learning_B_matches_pymdp() -> None:
    arrays = grid_world(4, policy_len=2, learn_B=True, seed=1)
    config = EngineConfig(dtype="float64", gamma=16.0, learn_B=True)
    worst = rollout(arrays, config, PymdpJax(arrays, AGENTS, gamma=16.0, learn_B=True), seed=7)
    assert max(worst.values()) < TOL, worst


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_grid_world_matches_pymdp(accelerator: str) -> None:
    arrays = grid_world(5, policy_len=3, learn_B=False, seed=2)
    config = EngineConfig(dtype="float64", gamma=16.0, accelerator=accelerator)  # type: ignore[arg-type]
    worst = rollout(arrays, config, PymdpJax(arrays, AGENTS, gamma=16.0), seed=9)
    assert max(worst.values()) < TOL, worst
