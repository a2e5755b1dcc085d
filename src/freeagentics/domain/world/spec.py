"""The validated description of a grid world: size, walls, resources, goal cells and an agent cap.

A cell is ``(row, col)`` with row 0 at the top (see :mod:`freeagentics.domain.conventions`). A spec is built
either directly (``GridWorldSpec(height=..., ...)``) or from untrusted plain data with
:func:`spec_from_mapping`; both paths run the same checks and raise one :class:`WorldValidationError`
listing every problem with its ``loc``. A constructed spec is therefore always valid.

Plain-data form (what the API accepts and :meth:`GridWorldSpec.to_mapping` produces)::

    {
        "height": 20, "width": 20,
        "walls": [[0, 5], [1, 5]],
        "resources": [{"cell": [3, 3], "amount": 2}],
        "goals": [[19, 19]],
        "max_agents": 1000,          # optional; null = only the global cap
    }
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from freeagentics.domain.world.errors import FieldError, Loc, WorldValidationError

Cell = tuple[int, int]

#: Longest side of a grid (long corridors are fine; the cell cap below bounds memory).
MAX_GRID_SIDE = 4_096
#: Largest number of cells (``height * width``): bounds memory and the location modality of templates.
MAX_GRID_CELLS = 1_000_000
#: Largest ``max_agents`` a spec may ask for.
MAX_AGENTS_LIMIT = 1_000_000
#: Largest number of resource units on one cell; keeps every total far below the int64 range.
MAX_RESOURCE_AMOUNT = 1_000_000_000

SPEC_FIELDS = frozenset({"height", "width", "walls", "resources", "goals", "max_agents"})
RESOURCE_FIELDS = frozenset({"cell", "amount"})


@dataclass(frozen=True)
class ResourcePile:
    """``amount`` units of resource lying on ``cell``; a collector picks them up one at a time."""

    cell: Cell
    amount: int


@dataclass(frozen=True)
class GridWorldSpec:
    """A rectangular grid world (``height`` rows x ``width`` columns).

    - ``walls``: impassable cells; moving into one (or off the grid) leaves the agent in place.
    - ``resources``: piles of resource units; a cell holds at most one pile.
    - ``goals``: cells where collectors deposit resources (and objectives of explorers may point).
    - ``max_agents``: the most agents the world hosts at once, or ``None`` for :data:`MAX_AGENTS_LIMIT`.

    Walls, resource cells and goal cells are pairwise disjoint, every cell is unique within its list, and at
    least one cell is open (not a wall). Sequences given as lists are stored as tuples.
    """

    height: int
    width: int
    walls: tuple[Cell, ...] = ()
    resources: tuple[ResourcePile, ...] = ()
    goals: tuple[Cell, ...] = ()
    max_agents: int | None = None

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        parsed = _parse_fields(
            {
                "height": self.height,
                "width": self.width,
                "walls": self.walls,
                "resources": self.resources,
                "goals": self.goals,
                "max_agents": self.max_agents,
            },
            errors,
        )
        if errors:
            raise WorldValidationError(errors)
        for name, value in parsed.items():
            object.__setattr__(self, name, value)

    @property
    def num_cells(self) -> int:
        return self.height * self.width

    @property
    def agent_limit(self) -> int:
        """The effective cap on agents present at once."""
        return MAX_AGENTS_LIMIT if self.max_agents is None else self.max_agents

    @property
    def total_resources(self) -> int:
        return sum(pile.amount for pile in self.resources)

    def layout_parameters(self) -> dict[str, Any]:
        """The layout as grid-template parameters (``height``, ``width``, ``walls``, ``resources``, ``goals``,
        cells as ``[row, col]`` lists), so an agent's model describes the world it acts in."""
        return {
            "height": self.height,
            "width": self.width,
            "walls": [list(cell) for cell in self.walls],
            "resources": [list(pile.cell) for pile in self.resources],
            "goals": [list(cell) for cell in self.goals],
        }

    def to_mapping(self) -> dict[str, Any]:
        """The spec as JSON-ready plain data; ``spec_from_mapping(spec.to_mapping()) == spec``."""
        return {
            "height": self.height,
            "width": self.width,
            "walls": [list(cell) for cell in self.walls],
            "resources": [{"cell": list(pile.cell), "amount": pile.amount} for pile in self.resources],
            "goals": [list(cell) for cell in self.goals],
            "max_agents": self.max_agents,
        }


def spec_from_mapping(data: object) -> GridWorldSpec:
    """Build a spec from untrusted plain data (e.g. a JSON body), rejecting unknown fields.

    Raises :class:`WorldValidationError` listing every problem found, each with the ``loc`` of the offending
    value (``("walls", 3)``, ``("resources", 0, "amount")``, ...).
    """
    if not isinstance(data, Mapping):
        raise WorldValidationError([FieldError((), "a world spec must be an object", "type_error")])
    errors = [
        FieldError((str(key),), "unknown field", "extra_forbidden") for key in data if key not in SPEC_FIELDS
    ]
    errors.extend(
        FieldError((required,), "field required", "missing")
        for required in ("height", "width")
        if required not in data
    )
    fields = {name: data[name] for name in SPEC_FIELDS if name in data}
    fields.setdefault("walls", ())
    fields.setdefault("resources", ())
    fields.setdefault("goals", ())
    fields.setdefault("max_agents", None)
    parsed = _parse_fields(fields, errors)
    if errors:
        raise WorldValidationError(errors)
    return GridWorldSpec(**parsed)


def parse_int(value: object, loc: Loc, errors: list[FieldError], *, minimum: int, maximum: int) -> int | None:
    """``value`` as a plain ``int`` within ``[minimum, maximum]``, or ``None`` after appending an error.

    Booleans and floats (even integral ones) are rejected: a spec is exact, and ``True`` or ``3.0`` in a grid
    coordinate is almost always a client bug worth reporting.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float) and not math.isfinite(value):
            errors.append(FieldError(loc, f"must be a finite integer, got {value!r}", "not_finite"))
        else:
            errors.append(FieldError(loc, f"must be an integer, got {type(value).__name__}", "type_error"))
        return None
    number = int(value)
    if number < minimum:
        errors.append(FieldError(loc, f"must be >= {minimum}, got {number}", "out_of_range"))
        return None
    if number > maximum:
        errors.append(FieldError(loc, f"must be <= {maximum}, got {number}", "out_of_range"))
        return None
    return number


def parse_cell(
    value: object, loc: Loc, errors: list[FieldError], *, height: int | None, width: int | None
) -> Cell | None:
    """``value`` as a ``(row, col)`` inside a ``height`` x ``width`` grid, or ``None`` after an error.

    With an unknown (invalid) grid size only the shape and types are checked.
    """
    if not _is_sequence(value) or len(value) != 2:
        errors.append(FieldError(loc, "a cell must be a [row, col] pair", "type_error"))
        return None
    row = parse_int(value[0], (*loc, 0), errors, minimum=0, maximum=MAX_GRID_SIDE)
    col = parse_int(value[1], (*loc, 1), errors, minimum=0, maximum=MAX_GRID_SIDE)
    if row is None or col is None:
        return None
    if height is not None and width is not None and (row >= height or col >= width):
        errors.append(
            FieldError(loc, f"cell ({row}, {col}) is outside the {height}x{width} grid", "out_of_range")
        )
        return None
    return (row, col)


def _parse_fields(fields: Mapping[str, object], errors: list[FieldError]) -> dict[str, Any]:
    # A missing size was already reported by the caller; its cells are then only checked for shape.
    height = (
        parse_int(fields["height"], ("height",), errors, minimum=1, maximum=MAX_GRID_SIDE)
        if "height" in fields
        else None
    )
    width = (
        parse_int(fields["width"], ("width",), errors, minimum=1, maximum=MAX_GRID_SIDE)
        if "width" in fields
        else None
    )
    if height is not None and width is not None and height * width > MAX_GRID_CELLS:
        errors.append(
            FieldError(
                ("width",),
                f"a {height}x{width} grid has {height * width} cells, more than the cap of {MAX_GRID_CELLS}",
                "too_large",
            )
        )
        height = width = None
    walls = _parse_cell_list(fields["walls"], "walls", errors, height, width)
    goals = _parse_cell_list(fields["goals"], "goals", errors, height, width)
    resources = _parse_resources(fields["resources"], errors, height, width)
    max_agents_value = fields["max_agents"]
    max_agents = (
        None
        if max_agents_value is None
        else parse_int(max_agents_value, ("max_agents",), errors, minimum=1, maximum=MAX_AGENTS_LIMIT)
    )
    if walls is not None and goals is not None and resources is not None:
        _check_disjoint(walls, goals, resources, errors)
        if height is not None and width is not None and len(walls) >= height * width:
            errors.append(FieldError(("walls",), "every cell is a wall: no room for agents", "no_open_cell"))
    return {
        "height": height,
        "width": width,
        "walls": tuple(walls or ()),
        "resources": tuple(resources or ()),
        "goals": tuple(goals or ()),
        "max_agents": max_agents,
    }


def _parse_cell_list(
    value: object, name: str, errors: list[FieldError], height: int | None, width: int | None
) -> list[Cell] | None:
    """The list of unique cells ``value``, or ``None`` when it is not a list at all."""
    if not _is_sequence(value):
        errors.append(FieldError((name,), "must be a list of [row, col] cells", "type_error"))
        return None
    if len(value) > MAX_GRID_CELLS:
        errors.append(FieldError((name,), f"more than {MAX_GRID_CELLS} cells", "too_large"))
        return None
    valid = _valid_cells_fast(value, height, width)
    if valid is not None:
        return valid
    cells: list[Cell] = []
    first_seen: dict[Cell, int] = {}
    for index, item in enumerate(value):
        cell = parse_cell(item, (name, index), errors, height=height, width=width)
        if cell is None:
            continue
        if cell in first_seen:
            errors.append(
                FieldError(
                    (name, index),
                    f"cell {cell} is listed twice ({name}[{first_seen[cell]}])",
                    "duplicate",
                )
            )
            continue
        first_seen[cell] = index
        cells.append(cell)
    return cells


def _valid_cells_fast(value: Sequence[Any], height: int | None, width: int | None) -> list[Cell] | None:
    """``value`` as cells when it is a clean list of unique in-grid integer pairs, else ``None``.

    Checked with a few array operations so a large layout parses in milliseconds; any doubt (a bool, a
    float, a ragged row, a duplicate, a cell off the grid) returns ``None`` and the item-by-item parser
    reports the precise problem.
    """
    if height is None or width is None or len(value) == 0:
        return None
    if not isinstance(value, np.ndarray):
        # numpy would silently turn True into 1 when stacking rows; map(type, ...) scans at C speed.
        try:
            scalar_types = set(map(type, itertools.chain.from_iterable(value)))
        except TypeError:
            return None
        if bool in scalar_types or np.bool_ in scalar_types:
            return None
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return None
    if array.ndim != 2 or array.shape[1] != 2 or array.dtype.kind not in "iu":
        return None
    rows, cols = array[:, 0].astype(np.int64), array[:, 1].astype(np.int64)
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= height or cols.max() >= width:
        return None
    flat = np.sort(rows * width + cols)
    if (flat[1:] == flat[:-1]).any():
        return None
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def _parse_resources(
    value: object, errors: list[FieldError], height: int | None, width: int | None
) -> list[ResourcePile] | None:
    if not _is_sequence(value):
        errors.append(FieldError(("resources",), "must be a list of {cell, amount} objects", "type_error"))
        return None
    if len(value) > MAX_GRID_CELLS:
        errors.append(FieldError(("resources",), f"more than {MAX_GRID_CELLS} piles", "too_large"))
        return None
    piles: list[ResourcePile] = []
    first_seen: dict[Cell, int] = {}
    for index, item in enumerate(value):
        loc: Loc = ("resources", index)
        if isinstance(item, ResourcePile):
            raw_cell: object = item.cell
            raw_amount: object = item.amount
        elif isinstance(item, Mapping):
            errors.extend(
                FieldError((*loc, str(key)), "unknown field", "extra_forbidden")
                for key in item
                if key not in RESOURCE_FIELDS
            )
            missing = [key for key in ("cell", "amount") if key not in item]
            errors.extend(FieldError((*loc, key), "field required", "missing") for key in missing)
            if missing:
                continue
            raw_cell, raw_amount = item["cell"], item["amount"]
        else:
            errors.append(FieldError(loc, "a resource pile must be an object {cell, amount}", "type_error"))
            continue
        cell = parse_cell(raw_cell, (*loc, "cell"), errors, height=height, width=width)
        amount = parse_int(raw_amount, (*loc, "amount"), errors, minimum=1, maximum=MAX_RESOURCE_AMOUNT)
        if cell is None or amount is None:
            continue
        if cell in first_seen:
            errors.append(
                FieldError(
                    (*loc, "cell"),
                    f"cell {cell} already holds a pile (resources[{first_seen[cell]}])",
                    "duplicate",
                )
            )
            continue
        first_seen[cell] = index
        piles.append(ResourcePile(cell=cell, amount=amount))
    return piles


def _check_disjoint(
    walls: list[Cell], goals: list[Cell], resources: list[ResourcePile], errors: list[FieldError]
) -> None:
    goal_index = {cell: index for index, cell in enumerate(goals)}
    resource_index = {pile.cell: index for index, pile in enumerate(resources)}
    for index, cell in enumerate(walls):
        if cell in goal_index:
            errors.append(
                FieldError(
                    ("walls", index), f"cell {cell} is also a goal (goals[{goal_index[cell]}])", "conflict"
                )
            )
        if cell in resource_index:
            errors.append(
                FieldError(
                    ("walls", index),
                    f"cell {cell} also holds a resource pile (resources[{resource_index[cell]}])",
                    "conflict",
                )
            )
    for index, cell in enumerate(goals):
        if cell in resource_index:
            # A collector observes one CellContent per cell; a goal holding resources would be ambiguous.
            errors.append(
                FieldError(
                    ("resources", resource_index[cell], "cell"),
                    f"cell {cell} is also a goal (goals[{index}])",
                    "conflict",
                )
            )


def _is_sequence(value: object) -> TypeGuard[Sequence[Any]]:
    # Arrays are accepted because specs are often built from numpy coordinates.
    return isinstance(value, Sequence | np.ndarray) and not isinstance(value, str | bytes | bytearray)
