"""Conventions shared by worlds and agent templates.

Grid worlds and the grid-based agent templates must agree on how a cell is numbered and what an action
index means; both import these constants so the two can never drift apart.

- A cell ``(row, col)`` of a grid ``height`` x ``width`` has the location index ``row * width + col``.
- Row 0 is the top row: ``UP`` decreases the row, ``DOWN`` increases it.
- Moving into a wall or off the grid leaves the agent where it was.
"""

from __future__ import annotations

from enum import IntEnum


class Move(IntEnum):
    """Movement actions of every grid template, in this order (action index = value)."""

    UP = 0
    DOWN = 1
    LEFT = 2
    RIGHT = 3
    STAY = 4


class CollectorAction(IntEnum):
    """Actions of the resource collector: the five moves, then the two resource actions."""

    UP = 0
    DOWN = 1
    LEFT = 2
    RIGHT = 3
    STAY = 4
    COLLECT = 5
    DEPOSIT = 6


class CellContent(IntEnum):
    """What a collector observes about the cell it stands on (its second observation modality)."""

    EMPTY = 0
    RESOURCE = 1
    GOAL = 2


#: (row delta, column delta) per movement action, indexed by ``Move``.
MOVE_DELTAS: tuple[tuple[int, int], ...] = ((-1, 0), (1, 0), (0, -1), (0, 1), (0, 0))


def location_index(row: int, col: int, width: int) -> int:
    """Location index of the cell ``(row, col)`` in a grid ``width`` cells wide."""
    return row * width + col


def cell_of(index: int, width: int) -> tuple[int, int]:
    """``(row, col)`` of a location index in a grid ``width`` cells wide."""
    return divmod(index, width)
