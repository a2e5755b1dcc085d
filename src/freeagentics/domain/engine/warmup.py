"""Compiling the accelerator's kernels ahead of the first step that needs them."""

from __future__ import annotations

import numpy as np

from freeagentics.domain.engine.config import EngineConfig, accelerator_available
from freeagentics.domain.engine.model import GenerativeModel
from freeagentics.domain.engine.population import init_population, step
from freeagentics.domain.models.templates import grid_explorer, resource_collector


def compile_accelerator() -> bool:
    """Step tiny one-factor and two-factor models on the Numba path in float32 and float64.

    Numba compiles a kernel for each argument signature on first use and keeps it in its on-disk cache
    beside the module, so a process that calls this once (a deployment step, the test session) spares every
    later process the compilation (seconds) in its first tick. Returns ``False`` when Numba is not installed.
    """
    if not accelerator_available("numba"):
        return False
    models = (
        grid_explorer(3, 3, goal=(2, 2), observation_noise=0.1, policy_len=1),
        resource_collector(3, 3, resources=[(0, 2)], goals=[(2, 0)], policy_len=1),
    )
    for compiled in models:
        model = GenerativeModel.from_compiled(compiled)
        for dtype in ("float32", "float64"):
            config = EngineConfig(dtype=dtype, accelerator="numba", num_threads=1)
            state = init_population(model, config, 2)
            obs = np.zeros((2, model.num_modalities), dtype=np.int64)
            for _ in range(2):
                state, _, _ = step(model, config, state, obs)
    return True
