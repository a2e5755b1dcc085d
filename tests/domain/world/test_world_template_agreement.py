"""The grid world and the grid templates agree on cells, moves and observations.

The templates are built from the world's own ``layout_parameters()``; every (open cell, action) pair is
stepped in the world at once and compared with the template's transition and likelihood matrices.
"""

from __future__ import annotations

import numpy as np

from freeagentics.domain.conventions import CollectorAction, Move
from freeagentics.domain.models.templates import grid_explorer, resource_collector
from freeagentics.domain.world import GridWorld, spec_from_mapping

SPEC = spec_from_mapping(
    {
        "height": 4,
        "width": 5,
        "walls": [[1, 1], [1, 2], [3, 0]],
        "resources": [{"cell": [0, 4], "amount": 1000}, {"cell": [2, 0], "amount": 1000}],
        "goals": [[3, 4]],
    }
)


def open_cells() -> np.ndarray:
    walls = set(SPEC.walls)
    return np.array(
        [(r, c) for r in range(SPEC.height) for c in range(SPEC.width) if (r, c) not in walls], dtype=np.int64
    )


def world_next_locations(num_actions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One agent per (open cell, action): start locations, actions and the locations after one step."""
    cells = open_cells()
    starts = np.repeat(cells, num_actions, axis=0)
    actions = np.tile(np.arange(num_actions), len(cells))
    world = GridWorld(SPEC)
    before = world.reset(0, starts).location
    after = world.step(actions).observations.location
    return before, actions, after


def test_explorer_transitions_match_world_moves() -> None:
    parameters = SPEC.layout_parameters()
    model = grid_explorer(
        height=parameters["height"], width=parameters["width"], walls=parameters["walls"], goal=[3, 4]
    )
    before, actions, after = world_next_locations(len(Move))
    predicted = model.B[0][:, before, actions].argmax(axis=0)
    assert np.array_equal(predicted, after)
    assert np.array_equal(model.A[0][:, after].argmax(axis=0), after)


def test_collector_transitions_and_cell_content_match_the_world() -> None:
    model = resource_collector(**SPEC.layout_parameters())
    before, actions, after = world_next_locations(len(CollectorAction))
    assert np.array_equal(model.B[0][:, before, actions].argmax(axis=0), after)

    world = GridWorld(SPEC)
    observations = world.reset(0, open_cells())
    predicted_location = model.A[0][:, observations.location].argmax(axis=0)
    predicted_content = model.A[1][:, observations.location].argmax(axis=0)
    assert np.array_equal(predicted_location, observations.location)
    assert np.array_equal(predicted_content, observations.cell_content)
