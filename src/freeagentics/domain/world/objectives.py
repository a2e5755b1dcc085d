"""Objective regions and the vectorised completion check the coalition coordinator relies on.

An objective (see issue 6) points at a target cell or rectangular region of a grid world and requires
capability amounts (e.g. ``explore: 1, carry: 2``). The coordinator owns objectives, capabilities and the
assignment of agents to coalitions; the world owns positions. :func:`objective_status` joins them: it sums,
per objective, the capability vectors of the agents standing in its region and reports which objectives are
covered. Capability names are the coordinator's business: here a capability is a column index ``q``.

Shapes: ``K`` objectives, ``N`` agents (or world slots), ``Q`` capabilities.

- ``regions``: ``(K, 4)`` int64 ``[top, left, bottom, right]``, inclusive on all four sides.
- ``required``: ``(K, Q)`` float64, finite, ``>= 0``.
- ``positions``: ``(N, 2)`` ``(row, col)``; rows with a negative coordinate (free world slots) never count.
- ``capabilities``: ``(N, Q)`` float64, finite, ``>= 0``.
- ``assignment``: ``(N,)`` int, objective index per agent or ``-1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from freeagentics.domain.world.errors import FieldError, Loc, WorldValidationError
from freeagentics.domain.world.spec import GridWorldSpec, parse_cell, parse_int

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Relative slack when comparing summed float capabilities with requirements (sums of integers are exact).
COVERAGE_TOLERANCE = 1e-9


class RegionLike(Protocol):
    """Inclusive ``top``/``left``/``bottom``/``right`` cell bounds.

    :class:`ObjectiveRegion` and the coalition package's ``Region`` both qualify.
    """

    @property
    def top(self) -> int: ...
    @property
    def left(self) -> int: ...
    @property
    def bottom(self) -> int: ...
    @property
    def right(self) -> int: ...


@dataclass(frozen=True)
class ObjectiveRegion:
    """The rectangle of cells ``top <= row <= bottom``, ``left <= col <= right``; one cell when all equal."""

    top: int
    left: int
    bottom: int
    right: int

    def __post_init__(self) -> None:
        if not 0 <= self.top <= self.bottom or not 0 <= self.left <= self.right:
            raise ValueError(f"not a region: {self}")

    @classmethod
    def at_cell(cls, row: int, col: int) -> ObjectiveRegion:
        return cls(top=row, left=col, bottom=row, right=col)

    def contains(self, row: int, col: int) -> bool:
        return self.top <= row <= self.bottom and self.left <= col <= self.right

    def to_mapping(self) -> dict[str, int]:
        return {"top": self.top, "left": self.left, "bottom": self.bottom, "right": self.right}


def region_from_mapping(data: object, spec: GridWorldSpec, loc: Loc = ("region",)) -> ObjectiveRegion:
    """A region from plain data, checked to lie inside ``spec``'s grid.

    Accepts ``{"cell": [row, col]}`` or ``{"top": t, "left": l, "bottom": b, "right": r}`` (inclusive).
    Raises :class:`WorldValidationError` whose ``loc`` entries start with ``loc``.
    """
    errors: list[FieldError] = []
    if not isinstance(data, Mapping):
        raise WorldValidationError([FieldError(loc, "a region must be an object", "type_error")])
    if "cell" in data:
        errors.extend(
            FieldError((*loc, str(key)), "unknown field next to 'cell'", "extra_forbidden")
            for key in data
            if key != "cell"
        )
        cell = parse_cell(data["cell"], (*loc, "cell"), errors, height=spec.height, width=spec.width)
        if errors or cell is None:
            raise WorldValidationError(errors)
        return ObjectiveRegion.at_cell(*cell)
    sides = {
        "top": spec.height - 1,
        "left": spec.width - 1,
        "bottom": spec.height - 1,
        "right": spec.width - 1,
    }
    errors.extend(
        FieldError((*loc, str(key)), "unknown field", "extra_forbidden") for key in data if key not in sides
    )
    values: dict[str, int] = {}
    for side, maximum in sides.items():
        if side not in data:
            errors.append(FieldError((*loc, side), "field required (or give 'cell')", "missing"))
            continue
        parsed = parse_int(data[side], (*loc, side), errors, minimum=0, maximum=maximum)
        if parsed is not None:
            values[side] = parsed
    if "top" in values and "bottom" in values and values["top"] > values["bottom"]:
        errors.append(FieldError((*loc, "bottom"), "must be >= top", "out_of_range"))
    if "left" in values and "right" in values and values["left"] > values["right"]:
        errors.append(FieldError((*loc, "right"), "must be >= left", "out_of_range"))
    if errors:
        raise WorldValidationError(errors)
    return ObjectiveRegion(**values)


@dataclass(frozen=True)
class Objectives:
    """A batch of ``K`` objectives: ``regions`` ``(K, 4)`` and ``required`` capabilities ``(K, Q)``.

    The arrays are copied and made read-only; see the module docstring for their conventions.
    """

    regions: IntArray
    required: FloatArray

    def __post_init__(self) -> None:
        regions = np.array(self.regions, dtype=np.int64, copy=True)
        required = np.array(self.required, dtype=np.float64, copy=True)
        if regions.ndim != 2 or regions.shape[1] != 4:
            raise ValueError(f"regions must have shape (K, 4), got {regions.shape}")
        if required.ndim != 2 or required.shape[0] != regions.shape[0]:
            raise ValueError(f"required must have shape ({regions.shape[0]}, Q), got {required.shape}")
        top, left, bottom, right = regions.T
        if ((top < 0) | (left < 0) | (top > bottom) | (left > right)).any():
            raise ValueError("every region needs 0 <= top <= bottom and 0 <= left <= right")
        if not np.isfinite(required).all() or (required < 0).any():
            raise ValueError("required capabilities must be finite and >= 0")
        regions.flags.writeable = False
        required.flags.writeable = False
        object.__setattr__(self, "regions", regions)
        object.__setattr__(self, "required", required)

    @classmethod
    def from_regions(cls, regions: Sequence[RegionLike], required: ArrayLike) -> Objectives:
        table = np.array([[r.top, r.left, r.bottom, r.right] for r in regions], dtype=np.int64)
        return cls(regions=table.reshape(len(regions), 4), required=np.asarray(required, dtype=np.float64))

    @property
    def num_objectives(self) -> int:
        return int(self.regions.shape[0])

    @property
    def num_capabilities(self) -> int:
        return int(self.required.shape[1])


@dataclass(frozen=True)
class ObjectiveStatus:
    """Result of :func:`objective_status`.

    - ``present_capability``: ``(K, Q)`` summed capabilities of the agents counted toward each objective.
    - ``present_count``: ``(K,)`` number of agents counted toward each objective.
    - ``complete``: ``(K,)`` at least one agent counted and ``present_capability >= required`` everywhere.
    - ``counted``: ``(N,)`` whether each agent counted toward at least one objective.
    """

    present_capability: FloatArray
    present_count: IntArray
    complete: BoolArray
    counted: BoolArray


def objective_status(
    objectives: Objectives,
    positions: ArrayLike,
    capabilities: ArrayLike,
    *,
    grid_shape: tuple[int, int],
    assignment: ArrayLike | None = None,
) -> ObjectiveStatus:
    """Which objectives have agents present in their region covering the required capabilities.

    With ``assignment`` (a coalition structure) an agent counts only toward its own objective, and only
    while inside that objective's region: ``O(N + K·Q)``. Without it every agent inside a region counts
    toward it (overlapping regions share agents): one summed-area table over the grid, ``O(N·Q + H·W·Q +
    K·Q)`` — no ``N x K`` intermediate.
    """
    height, width = grid_shape
    position_array = np.asarray(positions, dtype=np.int64).reshape(-1, 2)
    capability_array = np.asarray(capabilities, dtype=np.float64)
    num_agents, num_objectives = position_array.shape[0], objectives.num_objectives
    num_capabilities = objectives.num_capabilities
    if capability_array.shape != (num_agents, num_capabilities):
        raise ValueError(
            f"capabilities must have shape ({num_agents}, {num_capabilities}), got {capability_array.shape}"
        )
    if not np.isfinite(capability_array).all() or (capability_array < 0).any():
        raise ValueError("capabilities must be finite and >= 0")
    if num_objectives and (
        objectives.regions[:, 2].max() >= height or objectives.regions[:, 3].max() >= width
    ):
        raise ValueError(f"a region extends beyond the {height}x{width} grid")
    rows, cols = position_array[:, 0], position_array[:, 1]
    on_grid = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)

    if assignment is not None:
        present, count, counted = _members_in_region(
            objectives, rows, cols, on_grid, capability_array, assignment
        )
    else:
        present, count, counted = _anyone_in_region(
            objectives, rows, cols, on_grid, capability_array, grid_shape
        )
    slack = COVERAGE_TOLERANCE * np.maximum(1.0, objectives.required)
    covered = (present >= objectives.required - slack).all(axis=1)
    return ObjectiveStatus(
        present_capability=present, present_count=count, complete=covered & (count > 0), counted=counted
    )


def _members_in_region(
    objectives: Objectives,
    rows: IntArray,
    cols: IntArray,
    on_grid: BoolArray,
    capabilities: FloatArray,
    assignment: ArrayLike,
) -> tuple[FloatArray, IntArray, BoolArray]:
    member_of = np.asarray(assignment)
    num_objectives = objectives.num_objectives
    if member_of.shape != rows.shape or not np.issubdtype(member_of.dtype, np.integer):
        raise ValueError(f"assignment must be an integer array of shape {rows.shape}")
    if member_of.size and (member_of.min() < -1 or member_of.max() >= num_objectives):
        raise ValueError(f"assignment entries must lie in [-1, {num_objectives})")
    member_of = member_of.astype(np.int64)
    region = objectives.regions[np.maximum(member_of, 0)] if num_objectives else np.zeros((rows.size, 4), int)
    counted = (
        (member_of >= 0)
        & on_grid
        & (rows >= region[:, 0])
        & (cols >= region[:, 1])
        & (rows <= region[:, 2])
        & (cols <= region[:, 3])
    )
    objective = member_of[counted]
    present = np.zeros((num_objectives, objectives.num_capabilities), dtype=np.float64)
    np.add.at(present, objective, capabilities[counted])
    count = np.bincount(objective, minlength=num_objectives).astype(np.int64)
    return present, count, counted


def _anyone_in_region(
    objectives: Objectives,
    rows: IntArray,
    cols: IntArray,
    on_grid: BoolArray,
    capabilities: FloatArray,
    grid_shape: tuple[int, int],
) -> tuple[FloatArray, IntArray, BoolArray]:
    height, width = grid_shape
    # Per-cell totals of [capabilities..., 1] so agent counts ride along with the capability sums.
    weights = np.concatenate([capabilities, np.ones((rows.size, 1))], axis=1)[on_grid]
    cell = rows[on_grid] * width + cols[on_grid]
    # One bincount per capability column (Q is small); far faster than an unbuffered np.add.at.
    per_cell = np.stack(
        [np.bincount(cell, weights=weights[:, q], minlength=height * width) for q in range(weights.shape[1])],
        axis=1,
    )
    table = np.zeros((height + 1, width + 1, weights.shape[1]), dtype=np.float64)
    table[1:, 1:] = per_cell.reshape(height, width, -1).cumsum(axis=0).cumsum(axis=1)
    top, left, bottom, right = objectives.regions.T
    sums = table[bottom + 1, right + 1] - table[top, right + 1] - table[bottom + 1, left] + table[top, left]
    present = sums[:, :-1]
    count = np.rint(sums[:, -1]).astype(np.int64)
    # Which cells some region covers: a 2-d difference array integrated by two cumulative sums.
    coverage = np.zeros((height + 1, width + 1), dtype=np.int64)
    np.add.at(coverage, (top, left), 1)
    np.add.at(coverage, (top, right + 1), -1)
    np.add.at(coverage, (bottom + 1, left), -1)
    np.add.at(coverage, (bottom + 1, right + 1), 1)
    covered_cell = coverage.cumsum(axis=0).cumsum(axis=1)[:height, :width] > 0
    counted = np.zeros(rows.size, dtype=bool)
    counted[on_grid] = covered_cell[rows[on_grid], cols[on_grid]]
    return np.ascontiguousarray(present), count, counted
