"""Seeded random layouts are valid, connected and reproducible."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freeagentics.domain.world import GridWorld, largest_connected_region, random_grid_spec


def reachable_from(start: tuple[int, int], open_cells: set[tuple[int, int]]) -> set[tuple[int, int]]:
    seen = {start}
    queue = deque([start])
    while queue:
        row, col = queue.popleft()
        for neighbour in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
            if neighbour in open_cells and neighbour not in seen:
                seen.add(neighbour)
                queue.append(neighbour)
    return seen


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(2, 12),
    st.integers(2, 12),
    st.floats(0.0, 0.6),
)
def test_random_specs_are_connected_and_hold_what_was_asked(
    seed: int, height: int, width: int, density: float
) -> None:
    try:
        spec = random_grid_spec(
            np.random.default_rng(seed),
            height,
            width,
            wall_density=density,
            num_resource_piles=2,
            num_goals=1,
        )
    except ValueError as error:
        # A dense draw may leave too small a connected region; anything else is a bug.
        if "do not fit" not in str(error):
            raise
        return
    walls = set(spec.walls)
    open_cells = {(r, c) for r in range(height) for c in range(width)} - walls
    assert reachable_from(next(iter(open_cells)), open_cells) == open_cells
    assert len(spec.resources) == 2
    assert len(spec.goals) == 1
    assert all(pile.amount == 3 for pile in spec.resources)


def test_the_same_seed_gives_the_same_spec() -> None:
    first = random_grid_spec(np.random.default_rng(4), 20, 20)
    second = random_grid_spec(np.random.default_rng(4), 20, 20)
    other = random_grid_spec(np.random.default_rng(5), 20, 20)
    assert first == second
    assert first != other
    world = GridWorld(first)
    world.reset(0, num_agents=10)
    assert world.num_agents == 10


def test_largest_region_is_kept() -> None:
    open_cells = np.array(
        [
            [1, 1, 0, 1],
            [1, 0, 0, 1],
            [0, 0, 1, 1],
            [1, 0, 1, 1],
        ],
        dtype=bool,
    )
    expected = np.zeros_like(open_cells)
    expected[[0, 1, 2, 2, 3, 3], [3, 3, 2, 3, 2, 3]] = True
    assert np.array_equal(largest_connected_region(open_cells), expected)


def test_bad_arguments_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="wall_density"):
        random_grid_spec(rng, 5, 5, wall_density=1.0)
    with pytest.raises(ValueError, match="do not fit"):
        random_grid_spec(rng, 2, 2, wall_density=0.0, num_resource_piles=3, num_goals=1)
