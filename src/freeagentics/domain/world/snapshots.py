"""Reading :meth:`GridWorld.snapshot <freeagentics.domain.world.grid.GridWorld.snapshot>` data back.

A snapshot is plain data that may have travelled through a database or a client, so it is validated as
untrusted input: every problem is collected with its ``loc`` and raised as one
:class:`~freeagentics.domain.world.errors.WorldValidationError`, and nothing is restored unless all of it
is consistent with the world's spec (lengths, ranges, unique slots, open cells, resources conserved).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.world.errors import FieldError, Loc, WorldValidationError
from freeagentics.domain.world.spec import GridWorldSpec, spec_from_mapping

IntArray = NDArray[np.int64]

#: Identifies the plain-data snapshot layout produced by ``GridWorld.snapshot``.
SNAPSHOT_FORMAT = "freeagentics.grid_world/1"
#: numpy bit generators whose state a snapshot may carry.
SUPPORTED_BIT_GENERATORS = frozenset({"PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"})

#: Turns ``(K, 2)`` positions into the world's internal cells, raising ``WorldValidationError`` for cells
#: that are walls or off the grid (locs relative to the positions list).
CellValidator = Callable[[IntArray], IntArray]


def read_snapshot(
    spec: GridWorldSpec, data: Mapping[str, Any], validate_cells: CellValidator
) -> SnapshotState:
    """The validated content of snapshot ``data`` for a world built from ``spec``."""
    return _SnapshotReader(spec, data, validate_cells).read()


def plain(value: Any) -> Any:
    """``value`` with numpy arrays and scalars turned into lists and Python numbers (JSON-ready)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class SnapshotState:
    """A validated snapshot: arrays over the ``K`` occupied slots, and the world-wide counters.

    ``cells`` are the world's internal cell indices of the agents' positions; ``carried_from`` is a pile
    index or ``-1``.
    """

    rng: np.random.Generator | None
    tick: int
    capacity: int
    slots: IntArray
    cells: IntArray
    carried_from: IntArray
    deposits: IntArray
    resources_left: IntArray
    deposited: IntArray


class _SnapshotReader:
    """Validates snapshot data against a world's spec, collecting every problem with its ``loc``."""

    def __init__(
        self, spec: GridWorldSpec, snapshot: Mapping[str, Any], validate_cells: CellValidator
    ) -> None:
        self.spec = spec
        self.snapshot = snapshot
        self.validate_cells = validate_cells
        self.errors: list[FieldError] = []

    def read(self) -> SnapshotState:
        spec, data = self.spec, self.snapshot
        if not isinstance(data, Mapping):
            raise WorldValidationError([FieldError((), "a snapshot must be an object", "type_error")])
        if data.get("format") != SNAPSHOT_FORMAT:
            self._error(("format",), f"expected {SNAPSHOT_FORMAT!r}", "invalid_value")
        try:
            if "spec" in data and spec_from_mapping(data["spec"]) != spec:
                self._error(
                    ("spec",), "the snapshot belongs to a world with a different spec", "spec_mismatch"
                )
        except WorldValidationError as error:
            self.errors.extend(FieldError(("spec", *e.loc), e.msg, e.type) for e in error.errors)
        tick = self._int(data, "tick", (), 0, 2**62)
        capacity = self._int(data, "capacity", (), 0, spec.agent_limit)
        agents = data.get("agents")
        if not isinstance(agents, Mapping):
            self._error(("agents",), "field required (an object)", "type_error")
            agents = {}
        slots = self._int_array(agents, "slots", ("agents",), 1)
        positions = self._int_array(agents, "positions", ("agents",), 2)
        carried_from = self._int_array(agents, "carried_from", ("agents",), 1)
        deposits = self._int_array(agents, "deposits", ("agents",), 1)
        resources_left = self._int_array(data, "resources_left", (), 1)
        credits = data.get("credits")
        deposited = self._int_array(
            credits if isinstance(credits, Mapping) else {}, "deposited", ("credits",), 1
        )
        rng = self._rng(data.get("rng"))
        if self.errors:
            raise WorldValidationError(self.errors)
        # Without errors every field parsed; the checks below only narrow the types.
        if (
            slots is None
            or positions is None
            or carried_from is None
            or deposits is None
            or resources_left is None
            or deposited is None
            or tick is None
            or capacity is None
        ):
            raise AssertionError("unreachable: a field failed to parse without an error")

        num_piles, num_goals = len(spec.resources), len(spec.goals)
        lengths = {"positions": len(positions), "carried_from": len(carried_from), "deposits": len(deposits)}
        for name, length in lengths.items():
            if length != len(slots):
                self._error(
                    ("agents", name), f"has {length} entries for {len(slots)} slots", "length_mismatch"
                )
        if len(resources_left) != num_piles:
            self._error(("resources_left",), f"must have {num_piles} entries", "length_mismatch")
        if len(deposited) != num_goals:
            self._error(("credits", "deposited"), f"must have {num_goals} entries", "length_mismatch")
        if self.errors:
            raise WorldValidationError(self.errors)

        if slots.size and (slots.min() < 0 or slots.max() >= capacity or np.unique(slots).size != slots.size):
            self._error(
                ("agents", "slots"), f"slots must be unique and lie in [0, {capacity})", "invalid_value"
            )
        if slots.size > spec.agent_limit:
            self._error(("agents", "slots"), "more agents than the world allows", "too_large")
        if carried_from.size and (carried_from.min() < -1 or carried_from.max() >= num_piles):
            self._error(("agents", "carried_from"), f"must lie in [-1, {num_piles})", "invalid_value")
        if deposits.size and deposits.min() < 0:
            self._error(("agents", "deposits"), "must be >= 0", "invalid_value")
        if deposited.size and deposited.min() < 0:
            self._error(("credits", "deposited"), "must be >= 0", "invalid_value")
        if resources_left.size and (
            resources_left.min() < 0
            or (resources_left > np.array([pile.amount for pile in spec.resources], dtype=np.int64)).any()
        ):
            self._error(
                ("resources_left",), "must lie between 0 and each pile's initial amount", "invalid_value"
            )
        if not self.errors:
            total = int(resources_left.sum()) + int((carried_from >= 0).sum()) + int(deposited.sum())
            if total != spec.total_resources:
                self._error(
                    ("resources_left",),
                    f"left + carried + deposited = {total}, but the world holds {spec.total_resources}",
                    "not_conserved",
                )
        cells = np.zeros(0, dtype=np.int64)
        try:
            cells = self.validate_cells(positions)
        except WorldValidationError as error:
            self.errors.extend(FieldError(("agents", *e.loc), e.msg, e.type) for e in error.errors)
        if self.errors:
            raise WorldValidationError(self.errors)
        return SnapshotState(
            rng=rng,
            tick=tick,
            capacity=capacity,
            slots=slots,
            cells=cells,
            carried_from=carried_from,
            deposits=deposits,
            resources_left=resources_left,
            deposited=deposited,
        )

    def _error(self, loc: Loc, msg: str, kind: str) -> None:
        self.errors.append(FieldError(loc, msg, kind))

    def _int(self, data: Mapping[str, Any], key: str, prefix: Loc, low: int, high: int) -> int | None:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self._error((*prefix, key), f"must be an integer in [{low}, {high}]", "type_error")
            return None
        return value

    def _int_array(self, data: Mapping[str, Any], key: str, prefix: Loc, ndim: int) -> IntArray | None:
        value = data.get(key)
        if not isinstance(value, Sequence | np.ndarray) or isinstance(value, str | bytes):
            self._error((*prefix, key), "field required (a list of integers)", "type_error")
            return None
        try:
            array = np.asarray(value)
        except ValueError:
            array = np.zeros(0, dtype=object)
        if len(value) == 0:
            return np.zeros((0,) * ndim if ndim == 1 else (0, 2), dtype=np.int64)
        if array.ndim != ndim or not np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
            shape = "integers" if ndim == 1 else "[row, col] integer pairs"
            self._error((*prefix, key), f"must be a list of {shape}", "type_error")
            return None
        return array.astype(np.int64)

    def _rng(self, state: object) -> np.random.Generator | None:
        if state is None:
            return None
        if not isinstance(state, Mapping) or state.get("bit_generator") not in SUPPORTED_BIT_GENERATORS:
            self._error(("rng",), "must be a numpy bit-generator state", "invalid_value")
            return None
        bit_generator = getattr(np.random, str(state["bit_generator"]))()
        try:
            bit_generator.state = dict(state)
        except (TypeError, ValueError, KeyError, OverflowError) as error:
            self._error(("rng",), f"invalid generator state: {error}", "invalid_value")
            return None
        return np.random.Generator(bit_generator)
