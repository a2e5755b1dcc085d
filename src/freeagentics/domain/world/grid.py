"""The batched multi-agent grid world.

A PettingZoo-Parallel-style environment whose agents are rows of arrays, never Python objects: every agent
occupies a **slot** ``0 <= slot < capacity``; per-slot arrays hold its cell, what it carries and what it has
deposited. The runtime maps its agent ids to slots (:meth:`GridWorld.add_agents` returns them) and calls
:meth:`GridWorld.step` once per tick with one action per slot.

Conventions (shared with the templates through :mod:`freeagentics.domain.conventions`):

- Actions are :class:`~freeagentics.domain.conventions.CollectorAction` values; explorers use the first five
  (the :class:`~freeagentics.domain.conventions.Move` values). Actions of free slots are ignored.
- A move into a wall or off the grid leaves the agent in place (a *bump*). Any number of agents may share a
  cell; there are no collisions.
- ``COLLECT`` picks up one unit from the pile on the agent's cell if the agent carries nothing; when more
  agents collect from a pile than it holds units, the winners are drawn uniformly with the world's
  generator. ``DEPOSIT`` on a goal cell credits the carried unit to that goal.
- Resources are conserved: ``resources_left + carried + deposited == spec.total_resources`` at all times. An
  agent removed while carrying returns its unit to the pile it came from.

Internally a cell is an index into the grid padded with a ring of walls, and a step is a few table lookups
indexed by ``cell * NUM_ACTIONS + action`` (no bounds tests, no per-agent Python); free slots sit on padded
cell 0, a corner of that ring, where every action is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from freeagentics.domain.conventions import MOVE_DELTAS, CellContent, CollectorAction, Move
from freeagentics.domain.world.errors import AgentLimitError, FieldError, WorldValidationError
from freeagentics.domain.world.objectives import Objectives, ObjectiveStatus, objective_status
from freeagentics.domain.world.snapshots import SNAPSHOT_FORMAT, plain, read_snapshot
from freeagentics.domain.world.spec import GridWorldSpec, spec_from_mapping

IntArray = NDArray[np.int64]
#: Padded cell indices; int32 halves the memory traffic of the per-step lookups.
CellArray = NDArray[np.int32]
BoolArray = NDArray[np.bool_]

#: Number of distinct actions the world understands (``CollectorAction``).
NUM_ACTIONS = len(CollectorAction)
#: How many bad entries of a large array a validation error lists before summarising.
_MAX_REPORTED = 20
_FREE_CELL = 0


@dataclass(frozen=True)
class GridObservations:
    """Every slot's observations after a reset or step; free slots hold ``-1``.

    - ``location``: ``(capacity,)`` location index ``row * width + col`` (the explorer's modality).
    - ``cell_content``: ``(capacity,)`` :class:`CellContent` of the slot's cell.
    """

    location: IntArray
    cell_content: IntArray

    def explorer(self, slots: ArrayLike | None = None) -> IntArray:
        """``(K, 1)``: the grid explorer's observations for ``slots`` ``(K,)`` (every slot when ``None``).

        Laid out as the engine's ``(N, num_modalities)`` observation matrix.
        """
        location = self.location if slots is None else self.location[np.asarray(slots)]
        return location[:, None]

    def collector(self, slots: ArrayLike | None = None) -> IntArray:
        """``(K, 2)``: the resource collector's observations for ``slots`` (every slot when ``None``).

        Column 0 is the location, column 1 the cell content, as the template orders its modalities.
        """
        if slots is None:
            return np.stack([self.location, self.cell_content], axis=1)
        index = np.asarray(slots)
        return np.stack([self.location[index], self.cell_content[index]], axis=1)


@dataclass(frozen=True)
class StepEvents:
    """What happened during one step, as arrays of slots (each ``(K,)`` int64, ascending) and details.

    - ``bumped``: slots whose move hit a wall or the grid edge (they stayed in place).
    - ``goal_reached`` / ``goal_reached_goal``: slots that moved onto a goal cell, and that goal's index in
      ``spec.goals``.
    - ``collected`` / ``collected_cell``: slots that picked up a unit, and the ``(K, 2)`` cell it lay on.
    - ``deposited`` / ``deposited_goal``: slots that dropped their unit on a goal, and that goal's index.
    """

    tick: int
    bumped: IntArray
    goal_reached: IntArray
    goal_reached_goal: IntArray
    collected: IntArray
    collected_cell: IntArray
    deposited: IntArray
    deposited_goal: IntArray

    def counts(self) -> dict[str, int]:
        """How many events of each type, for metrics and throttled streams (O(1), unlike the records)."""
        return {
            "bumped": int(self.bumped.size),
            "goal_reached": int(self.goal_reached.size),
            "resource_collected": int(self.collected.size),
            "resource_deposited": int(self.deposited.size),
        }

    def as_records(self) -> list[dict[str, Any]]:
        """The events as JSON-ready records ``{"type", "tick", "slot", ...}``, for logs and WebSockets."""
        records: list[dict[str, Any]] = []
        records.extend({"type": "bumped", "tick": self.tick, "slot": int(s)} for s in self.bumped)
        records.extend(
            {"type": "goal_reached", "tick": self.tick, "slot": int(s), "goal": int(g)}
            for s, g in zip(self.goal_reached, self.goal_reached_goal, strict=True)
        )
        records.extend(
            {"type": "resource_collected", "tick": self.tick, "slot": int(s), "cell": [int(r), int(c)]}
            for s, (r, c) in zip(self.collected, self.collected_cell, strict=True)
        )
        records.extend(
            {"type": "resource_deposited", "tick": self.tick, "slot": int(s), "goal": int(g)}
            for s, g in zip(self.deposited, self.deposited_goal, strict=True)
        )
        return records


@dataclass(frozen=True)
class StepResult:
    """What :meth:`GridWorld.step` returns: the new observations of every slot and the step's events."""

    observations: GridObservations
    events: StepEvents


class GridWorld:
    """A multi-agent grid world built from a :class:`GridWorldSpec` (see the module docstring).

    Call :meth:`reset` before stepping. All randomness (random start cells, ties between collectors) comes
    from the generator given to :meth:`reset`, so the same seed, start and actions give the same trajectory.
    Not thread-safe: one worker mutates a world; others read it through :meth:`snapshot` or
    :meth:`summary` under the caller's lock.
    """

    def __init__(self, spec: GridWorldSpec) -> None:
        self.spec = spec
        height, width = spec.height, spec.width
        padded_width = width + 2
        self._padded_width = padded_width
        num_padded = (height + 2) * padded_width
        self._num_piles = len(spec.resources)
        self._num_goals = len(spec.goals)

        rows, cols = np.divmod(np.arange(num_padded, dtype=np.int64), padded_width)
        rows -= 1
        cols -= 1
        interior = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        self._blocked: BoolArray = ~interior
        self._blocked[self._padded(spec.walls)] = True
        self._location_of: IntArray = np.where(interior, rows * width + cols, -1)
        self._row_col_of: IntArray = np.where(interior[:, None], np.stack([rows, cols], axis=1), -1)
        # Index len(goals) / len(piles) means "none" and points at a trailing sentinel entry, so lookups
        # need no masking.
        self._goal_of: IntArray = np.full(num_padded, self._num_goals, dtype=np.int64)
        self._goal_cells: IntArray = self._padded(spec.goals)
        self._goal_of[self._goal_cells] = np.arange(self._num_goals)
        self._pile_of: IntArray = np.full(num_padded, self._num_piles, dtype=np.int64)
        self._pile_cells: IntArray = self._padded([pile.cell for pile in spec.resources])
        self._pile_of[self._pile_cells] = np.arange(self._num_piles)
        self._initial_piles: IntArray = np.array([p.amount for p in spec.resources], dtype=np.int64)
        self._open_cells: IntArray = np.flatnonzero(~self._blocked).astype(np.int64)

        offsets = [dr * padded_width + dc for dr, dc in MOVE_DELTAS]
        self._action_offset: IntArray = np.zeros(NUM_ACTIONS, dtype=np.int64)
        self._action_offset[: len(Move)] = offsets
        self._is_move: BoolArray = np.zeros(NUM_ACTIONS, dtype=bool)
        self._is_move[[Move.UP, Move.DOWN, Move.LEFT, Move.RIGHT]] = True

        self._build_transition_tables(num_padded)

        self._rng: np.random.Generator | None = None
        self._tick = 0
        self._pile_amount: IntArray = np.zeros(self._num_piles + 1, dtype=np.int64)
        self._deposited: IntArray = np.zeros(self._num_goals + 1, dtype=np.int64)
        self._content: IntArray = np.empty(num_padded, dtype=np.int64)
        self._cell: CellArray = np.zeros(0, dtype=np.int32)
        self._active: BoolArray = np.zeros(0, dtype=bool)
        self._carried_from: IntArray = np.zeros(0, dtype=np.int64)
        self._deposits_by_slot: IntArray = np.zeros(0, dtype=np.int64)
        self._reset_resources()

    # ------------------------------------------------------------------ lifecycle

    def reset(
        self,
        rng: np.random.Generator | int,
        start_positions: ArrayLike | None = None,
        *,
        num_agents: int | None = None,
    ) -> GridObservations:
        """Restore resources and credits, place agents in slots ``0 .. N-1`` and return their observations.

        ``rng``: the generator the world draws from from now on (an int seeds a new PCG64 generator). Give
        either ``start_positions`` ``(N, 2)`` ``(row, col)`` on open cells, or ``num_agents`` to place ``N``
        agents on open cells drawn uniformly, or neither for an empty world.
        """
        if start_positions is not None and num_agents is not None:
            raise ValueError("give start_positions or num_agents, not both")
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        if start_positions is not None:
            cells = self._validated_cells(start_positions, "start_positions")
        else:
            count = 0 if num_agents is None else num_agents
            if count < 0:
                raise ValueError(f"num_agents must be >= 0, got {count}")
            self._check_limit(count, "num_agents")
            cells = self._open_cells[generator.integers(0, self._open_cells.size, size=count)]
        self._check_limit(cells.size, "start_positions")
        self._rng = generator
        self._tick = 0
        self._reset_resources()
        self._allocate_slots(cells.size)
        self._cell[:] = cells
        self._active[:] = True
        return self.observe()

    def add_agents(self, positions: ArrayLike | None = None, *, count: int | None = None) -> IntArray:
        """Place new agents and return their slots ``(K,)``, reusing the lowest free slots first.

        Give ``positions`` ``(K, 2)`` on open cells, or ``count`` to draw ``K`` open cells uniformly.
        Raises :class:`AgentLimitError` beyond the spec's ``max_agents``.
        """
        generator = self._require_reset()
        if (positions is None) == (count is None):
            raise ValueError("give exactly one of positions or count")
        if positions is not None:
            cells = self._validated_cells(positions, "positions")
            self._check_limit(self.num_agents + cells.size, "positions")
        else:
            assert count is not None
            if count < 0:
                raise ValueError(f"count must be >= 0, got {count}")
            # Checked before drawing so a refused request leaves the generator untouched.
            self._check_limit(self.num_agents + count, "count")
            cells = self._open_cells[generator.integers(0, self._open_cells.size, size=count)]
        free = np.flatnonzero(~self._active)
        if free.size < cells.size:
            needed = self.capacity + cells.size - free.size
            # Doubling keeps the amortised cost of one-by-one creation linear.
            self._grow_slots(max(needed, min(2 * self.capacity, self.spec.agent_limit)))
            free = np.flatnonzero(~self._active)
        slots = free[: cells.size].astype(np.int64)
        self._cell[slots] = cells
        self._active[slots] = True
        self._carried_from[slots] = self._num_piles
        self._deposits_by_slot[slots] = 0
        return slots

    def remove_agents(self, slots: ArrayLike) -> None:
        """Free ``slots`` ``(K,)``; a unit they carry goes back to the pile it was collected from."""
        slot_array = self._validated_slots(slots)
        carried = self._carried_from[slot_array]
        returned = carried[carried < self._num_piles]
        np.add.at(self._pile_amount, returned, 1)
        self._refresh_content(returned)
        self._cell[slot_array] = _FREE_CELL
        self._active[slot_array] = False
        self._carried_from[slot_array] = self._num_piles
        self._deposits_by_slot[slot_array] = 0

    def set_positions(self, slots: ArrayLike, positions: ArrayLike) -> None:
        """Move agents in ``slots`` ``(K,)`` to ``positions`` ``(K, 2)`` on open cells (e.g. a teleporting API
        call); what they carry stays with them."""
        slot_array = self._validated_slots(slots)
        cells = self._validated_cells(positions, "positions")
        if cells.size != slot_array.size:
            raise ValueError(f"{slot_array.size} slots but {cells.size} positions")
        self._cell[slot_array] = cells

    # ------------------------------------------------------------------ stepping

    def step(self, actions: ArrayLike) -> StepResult:
        """Apply one action per slot, ``actions`` ``(capacity,)`` ints in ``[0, 7)``, all at once.

        Order within a step: moves resolve first (simultaneously; an agent that collects or deposits does not
        move), then collection, then deposits. Returns the new observations and the step's events.
        """
        generator = self._require_reset()
        action = np.asarray(actions)
        if action.shape != (self.capacity,) or not np.issubdtype(action.dtype, np.integer):
            raise ValueError(
                f"actions must be an integer array of shape ({self.capacity},), "
                f"got {action.dtype} {action.shape}"
            )
        if action.size and (action.min() < 0 or action.max() >= NUM_ACTIONS):
            raise ValueError(f"actions must lie in [0, {NUM_ACTIONS}), got [{action.min()}, {action.max()}]")
        self._tick += 1

        key = self._cell * NUM_ACTIONS + action
        new_cell = self._next_cell[key]
        bumped = np.flatnonzero(self._bumps[key])
        goal_reached = np.flatnonzero(self._enters_goal[key])
        self._cell = new_cell

        collected, collected_piles = self._collect(
            np.flatnonzero(action == CollectorAction.COLLECT), generator
        )
        depositing = np.flatnonzero(action == CollectorAction.DEPOSIT)
        depositing_goal = self._goal_of[new_cell[depositing]]
        can_deposit = (self._carried_from[depositing] < self._num_piles) & (depositing_goal < self._num_goals)
        deposited = depositing[can_deposit]
        deposited_goal = depositing_goal[can_deposit]
        np.add.at(self._deposited, deposited_goal, 1)
        self._deposits_by_slot[deposited] += 1
        self._carried_from[deposited] = self._num_piles

        events = StepEvents(
            tick=self._tick,
            bumped=bumped,
            goal_reached=goal_reached,
            goal_reached_goal=self._goal_of[new_cell[goal_reached]],
            collected=collected,
            collected_cell=self._row_col_of[self._pile_cells[collected_piles]],
            deposited=deposited,
            deposited_goal=deposited_goal,
        )
        return StepResult(observations=self.observe(), events=events)

    def _collect(self, collecting: IntArray, generator: np.random.Generator) -> tuple[IntArray, IntArray]:
        """Resolve ``COLLECT`` by the slots ``collecting`` ``(K,)``.

        Returns the slots that picked up a unit and the indices of their piles, both ``(J,)``.
        """
        pile = self._pile_of[self._cell[collecting]]
        can_collect = (self._carried_from[collecting] == self._num_piles) & (self._pile_amount[pile] > 0)
        candidates = collecting[can_collect]
        if candidates.size == 0:
            return candidates, candidates
        candidate_pile = pile[can_collect]
        # Within each pile, rank the candidates in a uniformly random order; the first `amount` win.
        order = np.lexsort((generator.random(candidates.size), candidate_pile))
        sorted_pile = candidate_pile[order]
        new_group = np.empty(sorted_pile.size, dtype=bool)
        new_group[0] = True
        np.not_equal(sorted_pile[1:], sorted_pile[:-1], out=new_group[1:])
        group_start = np.flatnonzero(new_group)
        group_sizes = np.diff(np.append(group_start, sorted_pile.size))
        rank = np.arange(sorted_pile.size) - np.repeat(group_start, group_sizes)
        winners_sorted = order[rank < self._pile_amount[sorted_pile]]
        winners_sorted.sort()
        winners = candidates[winners_sorted]
        winner_piles = candidate_pile[winners_sorted]
        np.subtract.at(self._pile_amount, winner_piles, 1)
        self._carried_from[winners] = winner_piles
        self._refresh_content(winner_piles)
        return winners, winner_piles

    # ------------------------------------------------------------------ observations and state

    def observe(self) -> GridObservations:
        """Every slot's current observations (free slots ``-1``); see :mod:`.observations`."""
        return GridObservations(
            location=self._location_of[self._cell], cell_content=self._content[self._cell]
        )

    @property
    def tick(self) -> int:
        """Steps taken since the last reset."""
        return self._tick

    @property
    def capacity(self) -> int:
        """Number of slots; ``step`` takes one action per slot."""
        return int(self._active.size)

    @property
    def num_agents(self) -> int:
        return int(np.count_nonzero(self._active))

    @property
    def active(self) -> BoolArray:
        """``(capacity,)`` read-only: whether each slot holds an agent."""
        return _read_only(self._active)

    @property
    def nbytes_per_slot(self) -> int:
        """Bytes of world state per slot (cell, occupancy, load, deposit count); the rest is per world."""
        per_slot = (self._cell, self._active, self._carried_from, self._deposits_by_slot)
        return sum(array.itemsize for array in per_slot)

    def active_slots(self) -> IntArray:
        """``(N,)`` the occupied slots, ascending."""
        return np.flatnonzero(self._active).astype(np.int64)

    def positions(self) -> IntArray:
        """``(capacity, 2)`` ``(row, col)`` of every slot; free slots ``(-1, -1)``."""
        result: IntArray = self._row_col_of[self._cell]
        return result

    def carrying(self) -> BoolArray:
        """``(capacity,)`` whether each slot carries a resource unit."""
        result: BoolArray = self._carried_from < self._num_piles
        return result

    def deposits_by_slot(self) -> IntArray:
        """``(capacity,)`` units each slot has deposited since it was placed."""
        return self._deposits_by_slot.copy()

    def resources_left(self) -> IntArray:
        """``(R,)`` units left on each pile, aligned with ``spec.resources``."""
        return self._pile_amount[: self._num_piles].copy()

    def resource_grid(self) -> IntArray:
        """``(H, W)`` units left on every cell."""
        grid = np.zeros(self.spec.num_cells, dtype=np.int64)
        grid[self._location_of[self._pile_cells]] = self._pile_amount[: self._num_piles]
        return grid.reshape(self.spec.height, self.spec.width)

    def content_grid(self) -> IntArray:
        """``(H, W)`` :class:`CellContent` of every cell (walls read ``EMPTY``)."""
        interior = self._location_of >= 0
        return self._content[interior].reshape(self.spec.height, self.spec.width)

    def deposited(self) -> IntArray:
        """``(G,)`` units credited to each goal, aligned with ``spec.goals``."""
        return self._deposited[: self._num_goals].copy()

    @property
    def total_deposited(self) -> int:
        return int(self._deposited[: self._num_goals].sum())

    def render_text(self) -> str:
        """The grid as text, one line per row: ``#`` wall, ``G`` goal, ``R`` a pile with units left, ``.``
        empty; a cell with agents shows their number instead (``1``-``9``, ``+`` for ten or more)."""
        symbols = np.array([".", "R", "G"])[self.content_grid()]
        walls = np.array(self.spec.walls, dtype=np.int64).reshape(-1, 2)
        symbols[walls[:, 0], walls[:, 1]] = "#"
        locations = self._location_of[self._cell[self._active]]
        counts = np.bincount(locations, minlength=self.spec.num_cells).reshape(symbols.shape)
        occupied = counts > 0
        symbols[occupied] = np.where(counts[occupied] < 10, counts[occupied].astype(str), "+")
        return "\n".join("".join(row) for row in symbols)

    def summary(self) -> dict[str, Any]:
        """A few JSON-ready totals, cheap enough to stream every tick (unlike :meth:`snapshot`)."""
        carried = int(np.count_nonzero(self._carried_from < self._num_piles))
        return {
            "tick": self._tick,
            "agents": self.num_agents,
            "capacity": self.capacity,
            "resources_left": int(self._pile_amount[: self._num_piles].sum()),
            "resources_carried": carried,
            "resources_deposited": self.total_deposited,
            "resources_total": self.spec.total_resources,
        }

    def objective_status(
        self, objectives: Objectives, capabilities: ArrayLike, assignment: ArrayLike | None = None
    ) -> ObjectiveStatus:
        """Which ``objectives`` are complete given each slot's ``capabilities`` ``(capacity, Q)``.

        With ``assignment`` ``(capacity,)`` (objective index per slot, ``-1`` for none) only an objective's
        own members count toward it; without, every agent in its region does. Free slots never count.
        """
        return objective_status(
            objectives,
            self.positions(),
            np.asarray(capabilities, dtype=np.float64),
            grid_shape=(self.spec.height, self.spec.width),
            assignment=None if assignment is None else np.asarray(assignment),
        )

    # ------------------------------------------------------------------ snapshots

    def snapshot(self, *, include_spec: bool = True, agents_as_arrays: bool = False) -> dict[str, Any]:
        """The world's whole state as JSON-ready plain data (ints, lists, dicts).

        Keys: ``format``, ``spec`` (:meth:`GridWorldSpec.to_mapping`), ``tick``, ``capacity``, ``agents``
        (parallel lists over occupied slots: ``slots``, ``positions`` ``[row, col]``, ``carrying``,
        ``carried_from`` (pile index or ``-1``), ``deposits``), ``resources_left`` (aligned with
        ``spec.resources``), ``credits`` (``deposited`` per goal and ``total``) and ``rng`` (the generator's
        bit-generator state, or ``None`` before the first reset). :meth:`restore` continues exactly from it.

        ``include_spec=False`` leaves the spec out, for frequent checkpoints of a world whose spec is stored
        elsewhere (a large layout costs more to serialise than the agents); such a snapshot can be restored
        only into a world built from that spec.

        ``agents_as_arrays=True`` gives the ``agents`` lists as NumPy arrays (fresh copies) instead: a
        checkpoint stores them as binary arrays, and turning 10^5 numbers into Python objects on the tick
        thread would hold the interpreter for tens of milliseconds. :meth:`restore` takes either form.
        """
        slots = self.active_slots()
        carried = self._carried_from[slots]
        snapshot: dict[str, Any] = {"format": SNAPSHOT_FORMAT}
        if include_spec:
            snapshot["spec"] = self.spec.to_mapping()
        return snapshot | {
            "tick": self._tick,
            "capacity": self.capacity,
            "agents": {
                name: array if agents_as_arrays else array.tolist()
                for name, array in (
                    ("slots", slots),
                    ("positions", self._row_col_of[self._cell[slots]]),
                    ("carrying", carried < self._num_piles),
                    ("carried_from", np.where(carried < self._num_piles, carried, -1)),
                    ("deposits", self._deposits_by_slot[slots]),
                )
            },
            "resources_left": self.resources_left().tolist(),
            "credits": {"deposited": self.deposited().tolist(), "total": self.total_deposited},
            "rng": None if self._rng is None else plain(self._rng.bit_generator.state),
        }

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> GridWorld:
        """A world rebuilt from :meth:`snapshot` data (its spec included)."""
        if not isinstance(snapshot, Mapping) or "spec" not in snapshot:
            raise WorldValidationError([FieldError(("spec",), "field required", "missing")])
        try:
            spec = spec_from_mapping(snapshot["spec"])
        except WorldValidationError as error:
            raise WorldValidationError(
                FieldError(("spec", *e.loc), e.msg, e.type) for e in error.errors
            ) from None
        world = cls(spec)
        world.restore(snapshot)
        return world

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Replace this world's state by :meth:`snapshot` data taken from a world with the same spec.

        A snapshot that carries its spec is checked against this world's; one taken with
        ``include_spec=False`` is trusted to belong here (its positions, counts and totals are still checked).

        Validates everything first and changes nothing when it raises :class:`WorldValidationError`.
        """
        state = read_snapshot(
            self.spec, snapshot, lambda positions: self._validated_cells(positions, "positions")
        )
        self._rng = state.rng
        self._tick = state.tick
        self._pile_amount[: self._num_piles] = state.resources_left
        self._deposited[: self._num_goals] = state.deposited
        self._content = self._initial_content()
        self._refresh_content(np.arange(self._num_piles))
        self._allocate_slots(state.capacity)
        self._cell[state.slots] = state.cells
        self._active[state.slots] = True
        self._carried_from[state.slots] = np.where(
            state.carried_from >= 0, state.carried_from, self._num_piles
        )
        self._deposits_by_slot[state.slots] = state.deposits

    # ------------------------------------------------------------------ helpers

    def _build_transition_tables(self, num_padded: int) -> None:
        """Per ``(cell, action)`` outcome tables, indexed by ``cell * NUM_ACTIONS + action``.

        A step then costs three lookups whatever the action mix. Cells of the padding ring and walls map every
        action back to themselves without a bump: agents never stand there, except free slots parked on
        cell 0, which thereby need no masking.
        """
        # Built one action column at a time in int32 so a million-cell world needs no large temporaries.
        cell = np.arange(num_padded, dtype=np.int32)
        standable = ~self._blocked
        next_cell = np.empty((num_padded, NUM_ACTIONS), dtype=np.int32)
        bumps = np.zeros((num_padded, NUM_ACTIONS), dtype=bool)
        enters_goal = np.zeros((num_padded, NUM_ACTIONS), dtype=bool)
        for action in range(NUM_ACTIONS):
            target = np.clip(cell + np.int32(self._action_offset[action]), 0, num_padded - 1)
            moves = standable & ~self._blocked[target]
            next_cell[:, action] = np.where(moves, target, cell)
            if self._is_move[action]:
                bumps[:, action] = standable & ~moves
                enters_goal[:, action] = moves & (self._goal_of[target] < self._num_goals)
        self._next_cell: CellArray = next_cell.ravel()
        self._bumps: BoolArray = bumps.ravel()
        self._enters_goal: BoolArray = enters_goal.ravel()

    def _padded(self, cells: Sequence[tuple[int, int]]) -> IntArray:
        """Padded indices ``(K,)`` of ``(row, col)`` cells."""
        array = np.array(cells, dtype=np.int64).reshape(-1, 2)
        result: IntArray = (array[:, 0] + 1) * self._padded_width + array[:, 1] + 1
        return result

    def _require_reset(self) -> np.random.Generator:
        if self._rng is None:
            raise RuntimeError("call reset() before using the world")
        return self._rng

    def _check_limit(self, count: int, field: str) -> None:
        if count > self.spec.agent_limit:
            raise AgentLimitError(
                f"{field}: {count} agents would exceed the world's limit of {self.spec.agent_limit}"
            )

    def _initial_content(self) -> IntArray:
        # Walls read EMPTY (no agent ever stands on one, and content_grid() stays a valid CellContent grid);
        # the padding ring reads -1, which is what free slots, parked there, observe.
        content = np.where(self._location_of >= 0, int(CellContent.EMPTY), -1).astype(np.int64)
        content[self._goal_cells] = int(CellContent.GOAL)
        return content

    def _reset_resources(self) -> None:
        self._pile_amount[: self._num_piles] = self._initial_piles
        self._pile_amount[self._num_piles] = 0
        self._deposited[:] = 0
        self._content = self._initial_content()
        self._refresh_content(np.arange(self._num_piles))

    def _refresh_content(self, piles: IntArray) -> None:
        self._content[self._pile_cells[piles]] = np.where(
            self._pile_amount[piles] > 0, int(CellContent.RESOURCE), int(CellContent.EMPTY)
        )

    def _allocate_slots(self, capacity: int) -> None:
        """Fresh per-slot arrays of ``capacity`` free slots."""
        self._cell = np.full(capacity, _FREE_CELL, dtype=np.int32)
        self._active = np.zeros(capacity, dtype=bool)
        self._carried_from = np.full(capacity, self._num_piles, dtype=np.int64)
        self._deposits_by_slot = np.zeros(capacity, dtype=np.int64)

    def _grow_slots(self, capacity: int) -> None:
        """Extend the per-slot arrays to ``capacity``, keeping every existing slot."""
        extra = capacity - self.capacity
        self._cell = np.concatenate([self._cell, np.full(extra, _FREE_CELL, dtype=np.int32)])
        self._active = np.concatenate([self._active, np.zeros(extra, dtype=bool)])
        self._carried_from = np.concatenate(
            [self._carried_from, np.full(extra, self._num_piles, dtype=np.int64)]
        )
        self._deposits_by_slot = np.concatenate([self._deposits_by_slot, np.zeros(extra, dtype=np.int64)])

    def _validated_cells(self, positions: ArrayLike, field: str) -> IntArray:
        """Padded cell indices ``(K,)`` of ``positions`` ``(K, 2)``; raises naming every bad row."""
        try:
            array = np.asarray(positions)
        except ValueError:  # ragged nested lists
            array = np.zeros((1, 0), dtype=object)
        if (array.size == 0 and array.ndim == 1) or array.shape == (0, 2):
            return np.zeros(0, dtype=np.int64)
        if array.ndim != 2 or array.shape[1] != 2 or not np.issubdtype(array.dtype, np.integer):
            raise WorldValidationError(
                [
                    FieldError(
                        (field,), "must be an integer array of [row, col] pairs, shape (N, 2)", "type_error"
                    )
                ]
            )
        rows = array[:, 0].astype(np.int64)
        cols = array[:, 1].astype(np.int64)
        inside = (rows >= 0) & (rows < self.spec.height) & (cols >= 0) & (cols < self.spec.width)
        cells = np.where(inside, (rows + 1) * self._padded_width + cols + 1, _FREE_CELL)
        bad = np.flatnonzero(self._blocked[cells])
        if bad.size:
            errors = [
                FieldError(
                    (field, int(i)),
                    f"cell ({int(rows[i])}, {int(cols[i])}) is "
                    + ("a wall" if inside[i] else f"outside the {self.spec.height}x{self.spec.width} grid"),
                    "conflict" if inside[i] else "out_of_range",
                )
                for i in bad[:_MAX_REPORTED]
            ]
            if bad.size > _MAX_REPORTED:
                errors.append(
                    FieldError((field,), f"{bad.size - _MAX_REPORTED} more bad cells", "too_many_errors")
                )
            raise WorldValidationError(errors)
        return cells

    def _validated_slots(self, slots: ArrayLike) -> IntArray:
        array = np.asarray(slots)
        if array.size == 0:
            return np.zeros(0, dtype=np.int64)
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise ValueError("slots must be a 1-d integer array")
        slot_array = array.astype(np.int64)
        if slot_array.min() < 0 or slot_array.max() >= self.capacity:
            raise ValueError(f"slots must lie in [0, {self.capacity})")
        if not self._active[slot_array].all():
            raise ValueError(f"free slots given: {np.flatnonzero(~self._active[slot_array])[:10].tolist()}")
        if np.unique(slot_array).size != slot_array.size:
            raise ValueError("slots must be unique")
        return slot_array


def _read_only(array: NDArray[Any]) -> NDArray[Any]:
    view = array.view()
    view.flags.writeable = False
    return view
