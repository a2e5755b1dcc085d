"""Closed loop: a population of grid explorers, one engine call per tick, walks to its goal in the world.

World observations go to the engine in its ``(N, num_modalities)`` layout and the engine's actions go back
to ``GridWorld.step`` unchanged: the seam the runtime's tick loop uses.
"""

from __future__ import annotations

import numpy as np

from freeagentics.domain.engine import EngineConfig, GenerativeModel, init_population, step
from freeagentics.domain.models.templates import grid_explorer
from freeagentics.domain.world import GridWorld, spec_from_mapping

SPEC = spec_from_mapping(
    {
        "height": 5,
        "width": 6,
        "walls": [[1, 1], [2, 1], [3, 1], [1, 3], [2, 3], [3, 3]],
        "goals": [[4, 5]],
    }
)
GOAL_LOCATION = 4 * 6 + 5


def run(seed: int, ticks: int) -> tuple[GridWorld, list[int]]:
    layout = SPEC.layout_parameters()
    model = GenerativeModel.from_compiled(
        grid_explorer(height=layout["height"], width=layout["width"], walls=layout["walls"], goal=[4, 5])
    )
    config = EngineConfig()
    world = GridWorld(SPEC)
    observations = world.reset(seed, num_agents=120)
    state = init_population(model, config, world.capacity)
    arrivals: list[int] = []
    for _ in range(ticks):
        state, actions, _ = step(model, config, state, observations.explorer())
        result = world.step(actions[:, 0])
        observations = result.observations
        arrivals.extend(result.events.goal_reached.tolist())
    return world, arrivals


def test_explorers_reach_the_goal_under_their_own_inference() -> None:
    world, arrivals = run(seed=3, ticks=20)
    assert (world.observe().location == GOAL_LOCATION).all()
    starts = GridWorld(SPEC)
    started_away = np.flatnonzero(starts.reset(3, num_agents=120).location != GOAL_LOCATION)
    assert set(arrivals) == set(started_away.tolist())


def test_the_closed_loop_is_reproducible() -> None:
    first, first_arrivals = run(seed=8, ticks=6)
    second, second_arrivals = run(seed=8, ticks=6)
    assert first.snapshot() == second.snapshot()
    assert first_arrivals == second_arrivals
