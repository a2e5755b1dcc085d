"""Behaviour of agents built from the templates, stepped by the engine in tiny in-test environments.

Each environment samples observations from the template's own ``A`` and moves with its own ``B`` (the
generative process equals the generative model), using a seeded generator; the whole population is one batch.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from freeagentics.domain.conventions import cell_of, location_index
from freeagentics.domain.engine import EngineConfig, GenerativeModel, init_population, step
from freeagentics.domain.models import (
    CompiledModel,
    grid_explorer,
    resource_collector,
    tmaze,
    transition_table,
)

CENTRE, LEFT_ARM, RIGHT_ARM, CUE = 0, 1, 2, 3


class ModelWorld:
    """Hidden states ``(N, F)`` that move by the model's ``B`` and emit observations sampled from its ``A``."""

    def __init__(self, model: CompiledModel, states: np.ndarray, rng: np.random.Generator) -> None:
        self.model = model
        self.states = np.array(states, dtype=np.int64)
        self.rng = rng

    def _sample(self, columns: np.ndarray) -> np.ndarray:
        """One index per row of ``columns`` ``(N, K)`` (each row a distribution)."""
        cumulative = np.cumsum(columns, axis=1)
        draws = self.rng.random((columns.shape[0], 1)) * cumulative[:, -1:]
        return np.minimum((cumulative <= draws).sum(axis=1), columns.shape[1] - 1)

    def observe(self) -> np.ndarray:
        obs = np.zeros((self.states.shape[0], self.model.num_modalities), dtype=np.int64)
        for m, (A_m, deps) in enumerate(zip(self.model.A, self.model.A_factor_list, strict=True)):
            columns = A_m[(slice(None), *(self.states[:, f] for f in deps))]  # (No, N)
            obs[:, m] = self._sample(columns.T)
        return obs

    def act(self, actions: np.ndarray) -> None:
        for f, B_f in enumerate(self.model.B):
            columns = B_f[:, self.states[:, f], actions[:, f]]  # (Ns, N)
            self.states[:, f] = self._sample(columns.T)


def test_tmaze_agent_visits_the_cue_then_takes_the_cued_arm_in_both_contexts() -> None:
    model = tmaze()
    engine_model = GenerativeModel.from_compiled(model)
    config = EngineConfig(dtype="float64")
    contexts = np.array([0, 1, 0, 1])
    world = ModelWorld(model, np.stack([np.full(4, CENTRE), contexts], axis=1), np.random.default_rng(3))
    state = init_population(engine_model, config, len(contexts))

    visited = [world.states[:, 0].copy()]
    for _ in range(3):
        state, actions, _ = step(engine_model, config, state, world.observe())
        world.act(actions)
        visited.append(world.states[:, 0].copy())

    path = np.stack(visited, axis=1)  # (agents, time) locations
    for agent, context in enumerate(contexts):
        cued_arm = LEFT_ARM if context == 0 else RIGHT_ARM
        assert path[agent, 1] == CUE, path[agent]
        assert path[agent, 2] == cued_arm, path[agent]
        assert path[agent, 3] == cued_arm, path[agent]  # and it stays with the reward


def test_tmaze_agent_that_knows_the_context_goes_straight_to_the_reward() -> None:
    model = tmaze(context=1)
    engine_model = GenerativeModel.from_compiled(model)
    config = EngineConfig(dtype="float64")
    world = ModelWorld(model, np.array([[CENTRE, 1]]), np.random.default_rng(0))
    state = init_population(engine_model, config, 1)

    state, actions, _ = step(engine_model, config, state, world.observe())

    assert actions[0, 0] == RIGHT_ARM


@pytest.mark.parametrize("policy_len", [1, 2])
def test_grid_explorer_reaches_its_goal_along_a_shortest_path(policy_len: int) -> None:
    size, goal = 7, (3, 5)
    starts = [(0, 0), (6, 6), (6, 0), (3, 5), (0, 6), (5, 2)]
    model = grid_explorer(size, size, goal=goal, policy_len=policy_len)
    engine_model = GenerativeModel.from_compiled(model)
    config = EngineConfig(dtype="float64")
    start_index = np.array([location_index(r, c, size) for r, c in starts])
    world = ModelWorld(model, start_index[:, None], np.random.default_rng(0))
    D = np.eye(size * size)[start_index]  # each agent knows where it starts
    state = init_population(engine_model, config, len(starts), D=[D])

    cells = [world.states[:, 0].copy()]
    for _ in range(2 * size):
        state, actions, _ = step(engine_model, config, state, world.observe())
        world.act(actions)
        cells.append(world.states[:, 0].copy())

    trajectory = np.stack(cells, axis=1)
    goal_index = location_index(*goal, size)
    for agent, start in enumerate(starts):
        distance = abs(start[0] - goal[0]) + abs(start[1] - goal[1])
        rows_cols = [cell_of(int(s), size) for s in trajectory[agent]]
        steps_taken = [abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in itertools.pairwise(rows_cols)]
        # Every move until the goal shortens the distance by one, and the agent then stays.
        assert trajectory[agent, distance] == goal_index, rows_cols
        assert all(s == 1 for s in steps_taken[:distance]), rows_cols
        assert np.all(trajectory[agent, distance:] == goal_index), rows_cols


def test_learning_grid_transitions_from_flat_counts_converges_to_the_true_b() -> None:
    size, agents, steps, concentration = 5, 8, 600, 0.05
    # No preferences: with a flat B every policy is equally good, so stochastic selection random-walks
    # and visits every (cell, move) pair.
    model = grid_explorer(
        size,
        size,
        goal=(0, 0),
        goal_preference=0.0,
        distance_preference=0.0,
        learn_B=True,
        pB_concentration=concentration,
    )
    process = grid_explorer(size, size, goal=(0, 0))  # the world moves by the true transitions
    true_B = process.B[0]
    engine_model = GenerativeModel.from_compiled(model)
    config = EngineConfig(dtype="float64", learn_B=True, action_selection="stochastic", alpha=1.0)
    rng = np.random.default_rng(7)
    world = ModelWorld(process, rng.integers(0, size * size, size=(agents, 1)), np.random.default_rng(8))
    state = init_population(engine_model, config, agents)
    counts = np.zeros((agents, *true_B.shape))

    def mean_error() -> float:
        assert state.pB is not None
        pB = state.pB[0]
        assert pB is not None
        learned = pB / pB.sum(axis=1, keepdims=True)
        return float(np.abs(learned - true_B[None]).sum(axis=1).mean() / 2)  # mean total variation per column

    errors = [mean_error()]
    previous = world.states[:, 0].copy()
    last_actions = np.zeros((agents, 1), dtype=np.int64)
    for t in range(steps):
        state, actions, _ = step(engine_model, config, state, world.observe(), rng)
        if t > 0:
            np.add.at(counts, (np.arange(agents), world.states[:, 0], previous, last_actions[:, 0]), 1.0)
        previous = world.states[:, 0].copy()
        last_actions = actions
        world.act(actions)
        if (t + 1) % 150 == 0:
            errors.append(mean_error())

    # Observations are exact, so each update adds one count at the transition that happened.
    assert state.pB is not None
    np.testing.assert_allclose(state.pB[0], concentration + counts, atol=1e-9)
    # The learned B approaches the true transitions, and faster where a column was tried more often.
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 0.3 * errors[0]
    learned = state.pB[0] / state.pB[0].sum(axis=1, keepdims=True)  # type: ignore[operator]
    well_visited = counts.sum(axis=1) >= 5
    assert well_visited.sum() > 400
    table = transition_table(true_B)
    assert table is not None
    agent_index, state_index, action_index = np.nonzero(well_visited)
    true_next = table[state_index, action_index]
    assert np.all(learned[agent_index, true_next, state_index, action_index] > 0.8)


@pytest.mark.parametrize(
    "config",
    [
        EngineConfig(dtype="float64"),
        EngineConfig(dtype="float64", action_selection="stochastic", sampling_mode="full", alpha=2.0),
    ],
)
def test_resource_collector_takes_one_action_for_both_factors(config: EngineConfig) -> None:
    model = resource_collector(4, 4, resources=[[0, 0], [3, 0]], goals=[[3, 3]], walls=[[1, 1]], policy_len=2)
    engine_model = GenerativeModel.from_compiled(model)
    starts = np.array([location_index(r, c, 4) for r, c in [(0, 1), (2, 3), (3, 1), (0, 3)]])
    world = ModelWorld(
        model, np.stack([starts, np.zeros(4, dtype=np.int64)], axis=1), np.random.default_rng(1)
    )
    state = init_population(engine_model, config, len(starts), D=[np.eye(16)[starts], None])
    rng = np.random.default_rng(2)

    for _ in range(12):
        state, actions, _ = step(engine_model, config, state, world.observe(), rng)
        # The tied policies make the location and carrying actions one CollectorAction.
        np.testing.assert_array_equal(actions[:, 0], actions[:, 1])
        world.act(actions)
