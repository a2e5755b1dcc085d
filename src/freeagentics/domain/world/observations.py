"""Observation functions of the grid world, matching the grid agent templates.

These are the canonical, readable definitions; :class:`~freeagentics.domain.world.grid.GridWorld` computes
the same values through precomputed lookup tables (its tests check that the two agree).

- Grid explorer (one modality): the **location index** ``row * width + col`` of the agent's cell
  (:func:`freeagentics.domain.conventions.location_index`).
- Resource collector (two modalities, in this order): the location index, then the **cell content**
  (:class:`~freeagentics.domain.conventions.CellContent`) of the agent's cell: ``GOAL`` on a goal cell,
  ``RESOURCE`` on a cell whose pile still holds units, ``EMPTY`` otherwise.

Shapes: ``positions`` is ``(N, 2)`` integer ``(row, col)``; outputs are ``(N,)`` (one modality) or ``(N, 2)``
(column ``m`` is modality ``m``), dtype int64.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.conventions import CellContent

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


def location_observation(positions: NDArray[np.integer], width: int) -> IntArray:
    """Location index ``row * width + col`` of each agent, shape ``(N,)``."""
    positions = np.asarray(positions, dtype=np.int64)
    result: IntArray = positions[:, 0] * width + positions[:, 1]
    return result


def cell_content_grid(goal_mask: BoolArray, resources_left: NDArray[np.integer]) -> IntArray:
    """``CellContent`` of every cell ``(H, W)`` from a goal mask and per-cell resource units, both ``(H, W)``.

    Goal cells never hold resources in a valid world; ``GOAL`` takes precedence regardless.
    """
    content = np.full(goal_mask.shape, int(CellContent.EMPTY), dtype=np.int64)
    content[np.asarray(resources_left) > 0] = int(CellContent.RESOURCE)
    content[goal_mask] = int(CellContent.GOAL)
    return content


def cell_content_observation(positions: NDArray[np.integer], content_grid: IntArray) -> IntArray:
    """``CellContent`` of each agent's cell, shape ``(N,)``, from a ``(H, W)`` content grid."""
    positions = np.asarray(positions, dtype=np.int64)
    result: IntArray = content_grid[positions[:, 0], positions[:, 1]]
    return result


def collector_observation(positions: NDArray[np.integer], content_grid: IntArray) -> IntArray:
    """Both collector modalities, shape ``(N, 2)``: column 0 the location index, column 1 the cell content."""
    width = int(content_grid.shape[1])
    return np.stack(
        [location_observation(positions, width), cell_content_observation(positions, content_grid)], axis=1
    )
