"""Seeded random layouts for demo worlds, benchmarks and tests.

:func:`random_grid_spec` scatters walls, then walls off every open cell that the largest open region cannot
reach, so an agent placed on any open cell can reach every resource and goal. Resources and goals are then
placed on distinct open cells. The same generator state gives the same spec.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.world.spec import GridWorldSpec, ResourcePile

BoolArray = NDArray[np.bool_]


def random_grid_spec(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    wall_density: float = 0.15,
    num_resource_piles: int = 10,
    resource_amount: int = 3,
    num_goals: int = 2,
    max_agents: int | None = None,
) -> GridWorldSpec:
    """A connected ``height`` x ``width`` world with about ``wall_density`` walls.

    ``num_resource_piles`` piles of ``resource_amount`` units and ``num_goals`` goal cells are placed on
    distinct cells of the connected open region. Raises ``ValueError`` when they do not fit.
    """
    if not 0.0 <= wall_density < 1.0:
        raise ValueError(f"wall_density must lie in [0, 1), got {wall_density}")
    if min(num_resource_piles, num_goals, resource_amount) < 0:
        raise ValueError("counts and amounts must be >= 0")
    open_cells = rng.random((height, width)) >= wall_density
    if not open_cells.any():
        open_cells[rng.integers(height), rng.integers(width)] = True
    open_cells = largest_connected_region(open_cells)
    candidates = np.flatnonzero(open_cells.ravel())
    needed = num_resource_piles + num_goals
    if needed > candidates.size - 1:
        raise ValueError(f"{needed} resource and goal cells do not fit in {candidates.size} open cells")
    chosen = rng.choice(candidates, size=needed, replace=False)
    walls = tuple((int(r), int(c)) for r, c in zip(*np.nonzero(~open_cells), strict=True))
    piles = tuple(
        ResourcePile(cell=(int(index // width), int(index % width)), amount=resource_amount)
        for index in chosen[:num_resource_piles]
    )
    goals = tuple((int(index // width), int(index % width)) for index in chosen[num_resource_piles:])
    return GridWorldSpec(
        height=height,
        width=width,
        walls=walls,
        resources=piles if resource_amount > 0 else (),
        goals=goals,
        max_agents=max_agents,
    )


def largest_connected_region(open_cells: BoolArray) -> BoolArray:
    """The largest 4-connected region of ``open_cells`` ``(H, W)``, as a mask of the same shape.

    Flood fill by repeated vectorised dilation (``O(diameter)`` array passes), numpy only.
    """
    remaining = open_cells.copy()
    best = np.zeros_like(open_cells)
    while remaining.any():
        seed = np.unravel_index(int(np.argmax(remaining)), remaining.shape)
        region = np.zeros_like(open_cells)
        region[seed] = True
        while True:
            grown = region.copy()
            grown[1:, :] |= region[:-1, :]
            grown[:-1, :] |= region[1:, :]
            grown[:, 1:] |= region[:, :-1]
            grown[:, :-1] |= region[:, 1:]
            grown &= open_cells
            if np.array_equal(grown, region):
                break
            region = grown
        remaining &= ~region
        if region.sum() > best.sum():
            best = region
        if best.sum() >= remaining.sum():
            break
    return best
