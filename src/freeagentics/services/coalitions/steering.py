"""How a coalition steers its members: log-preferences over locations that peak on the objective's region.

The engine plans by expected free energy, so preferring the observations of the target cells (and, to give
a short planning horizon a gradient, fewer moves from them) makes each member walk there under its own
active inference. Nothing moves an agent directly.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.models.templates import grid_distances
from freeagentics.domain.world import GridWorldSpec

TARGET_PREFERENCE = 4.0
DISTANCE_PREFERENCE = 1.0


def region_cells(region: dict[str, int]) -> list[tuple[int, int]]:
    return [
        (row, col)
        for row in range(region["top"], region["bottom"] + 1)
        for col in range(region["left"], region["right"] + 1)
    ]


def location_preferences(spec: GridWorldSpec, region: dict[str, int]) -> NDArray[np.float64]:
    """``C`` for the location modality, ``(height * width,)``: high on the region, falling with distance."""
    walls = frozenset(spec.walls)
    targets = [cell for cell in region_cells(region) if cell not in walls]
    distance = grid_distances(spec.height, spec.width, walls, targets).astype(np.float64)
    preferences = -DISTANCE_PREFERENCE * distance
    for row, col in targets:
        preferences[row * spec.width + col] += TARGET_PREFERENCE
    return preferences
