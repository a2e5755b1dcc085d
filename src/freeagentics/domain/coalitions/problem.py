"""The input of coalition formation: objectives, the agents available to serve them, and the problem.

Conventions (shared by every formation algorithm in this package):

- A world cell is ``(row, col)`` with row 0 at the top (:mod:`freeagentics.domain.conventions`).
- ``N`` agents, ``M`` objectives, ``K`` capabilities. Capabilities are named by the problem's
  ``capability_names`` vocabulary; every capability vector (an agent's row of ``capabilities``, an
  objective's ``required``) is indexed by that vocabulary.
- Agents are given batch-first: ``positions`` ``(N, 2)`` integer cells and ``capabilities`` ``(N, K)``
  non-negative amounts (e.g. ``carry: 2``). An agent is referred to by its row index ``0 .. N-1``.
- An objective's target is a rectangular :class:`Region` of cells (a single cell is a 1 x 1 region); its
  ``deadline`` is the world tick by which members must have arrived. Agents move one cell per tick, so an
  agent whose travel distance exceeds ``deadline - current_tick`` cannot serve the objective.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Largest number of capabilities in a vocabulary; keeps per-coalition capability totals small.
MAX_CAPABILITIES = 64


class InvalidFormationProblemError(ValueError):
    """An objective, the agents or the formation problem violates a documented constraint."""


@dataclass(frozen=True)
class Region:
    """The inclusive rectangle of cells ``top..bottom`` x ``left..right`` an objective targets."""

    top: int
    left: int
    bottom: int
    right: int

    def __post_init__(self) -> None:
        for name in ("top", "left", "bottom", "right"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InvalidFormationProblemError(f"Region.{name} must be an integer, got {value!r}")
            if value < 0:
                raise InvalidFormationProblemError(f"Region.{name} must be >= 0, got {value}")
        if self.bottom < self.top or self.right < self.left:
            raise InvalidFormationProblemError(
                f"Region needs top <= bottom and left <= right, got {(self.top, self.left)} .. "
                f"{(self.bottom, self.right)}"
            )

    @classmethod
    def cell(cls, row: int, col: int) -> Region:
        """The 1 x 1 region holding only ``(row, col)``."""
        return cls(top=row, left=col, bottom=row, right=col)

    def as_box(self) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)``."""
        return (int(self.top), int(self.left), int(self.bottom), int(self.right))


@dataclass(frozen=True)
class Objective:
    """Something worth ``value * priority`` once agents with the ``required`` capabilities reach ``target``.

    - ``required``: amounts per capability of the problem's vocabulary (length ``K``); non-negative, finite,
      at least one positive (an objective nobody needs to work on is not an objective).
    - ``value``: what completing the objective is worth, finite and >= 0.
    - ``priority``: a finite weight > 0 multiplying ``value`` (1.0 = neutral), so an operator can favour an
      objective without misreporting its value.
    - ``deadline``: the world tick by which members must arrive, or ``None`` for no deadline.
    """

    id: str
    target: Region
    required: tuple[float, ...]
    value: float
    priority: float = 1.0
    deadline: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id or "\x00" in self.id:
            raise InvalidFormationProblemError(f"Objective.id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.target, Region):
            raise InvalidFormationProblemError(f"Objective {self.id!r}: target must be a Region")
        required = tuple(float(amount) for amount in self.required)
        object.__setattr__(self, "required", required)
        if not required:
            raise InvalidFormationProblemError(f"Objective {self.id!r}: required must not be empty")
        if any(not math.isfinite(amount) or amount < 0 for amount in required):
            raise InvalidFormationProblemError(
                f"Objective {self.id!r}: required amounts must be finite and >= 0, got {required}"
            )
        if not any(amount > 0 for amount in required):
            raise InvalidFormationProblemError(
                f"Objective {self.id!r}: at least one required amount must be > 0"
            )
        if not math.isfinite(self.value) or self.value < 0:
            raise InvalidFormationProblemError(f"Objective {self.id!r}: value must be finite and >= 0")
        if not math.isfinite(self.priority) or self.priority <= 0:
            raise InvalidFormationProblemError(f"Objective {self.id!r}: priority must be finite and > 0")
        if self.deadline is not None and (
            isinstance(self.deadline, bool) or not isinstance(self.deadline, int | np.integer)
        ):
            raise InvalidFormationProblemError(
                f"Objective {self.id!r}: deadline must be an integer tick or None"
            )

    @property
    def reward(self) -> float:
        """``value * priority``: what the value functions credit for satisfying the objective."""
        return float(self.value) * float(self.priority)


def capability_vector(vocabulary: Sequence[str], amounts: Mapping[str, float]) -> tuple[float, ...]:
    """The vector over ``vocabulary`` of named ``amounts`` (missing names are 0), e.g. for ``required``.

    Raises :class:`InvalidFormationProblemError` for a name outside the vocabulary.
    """
    unknown = sorted(set(amounts) - set(vocabulary))
    if unknown:
        raise InvalidFormationProblemError(
            f"unknown capabilities {unknown}; vocabulary is {list(vocabulary)}"
        )
    return tuple(float(amounts.get(name, 0.0)) for name in vocabulary)


def _frozen_copy(array: NDArray[np.generic]) -> NDArray[np.generic]:
    copy = np.array(array, copy=True)
    copy.setflags(write=False)
    return copy


@dataclass(frozen=True, eq=False)
class AgentBatch:
    """The agents available for formation, batch-first (agent ``i`` is row ``i``).

    - ``positions``: ``(N, 2)`` int64 cells ``(row, col)``, non-negative.
    - ``capabilities``: ``(N, K)`` float64 amounts, finite and >= 0.

    Both arrays are copied and made read-only, so a batch never changes after validation.
    """

    positions: IntArray
    capabilities: FloatArray

    def __post_init__(self) -> None:
        positions = np.asarray(self.positions)
        capabilities = np.asarray(self.capabilities)
        if positions.ndim != 2 or positions.shape[1] != 2:
            raise InvalidFormationProblemError(f"positions must have shape (N, 2), got {positions.shape}")
        if positions.size and not np.issubdtype(positions.dtype, np.integer):
            raise InvalidFormationProblemError(
                f"positions must be integer cells, got dtype {positions.dtype}"
            )
        if np.any(positions < 0):
            raise InvalidFormationProblemError("positions must be non-negative cells")
        if capabilities.ndim != 2 or capabilities.shape[0] != positions.shape[0]:
            raise InvalidFormationProblemError(
                f"capabilities must have shape (N, K) with N = {positions.shape[0]}, got {capabilities.shape}"
            )
        if not (
            np.issubdtype(capabilities.dtype, np.integer) or np.issubdtype(capabilities.dtype, np.floating)
        ):
            raise InvalidFormationProblemError(
                f"capabilities must be numeric, got dtype {capabilities.dtype}"
            )
        capabilities = capabilities.astype(np.float64)
        if not np.all(np.isfinite(capabilities)) or np.any(capabilities < 0):
            raise InvalidFormationProblemError("capabilities must be finite and >= 0")
        object.__setattr__(self, "positions", _frozen_copy(positions.astype(np.int64)))
        object.__setattr__(self, "capabilities", _frozen_copy(capabilities))

    @property
    def num_agents(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_capabilities(self) -> int:
        return int(self.capabilities.shape[1])


@dataclass(frozen=True, eq=False)
class FormationProblem:
    """Which agents could serve which objectives: the input of every formation algorithm.

    ``current_tick`` is the world tick at which formation happens; deadlines are measured from it. The
    objective arrays below are derived once here so algorithms and value functions share them:

    - ``required``: ``(M, K)`` float64 required amounts per objective.
    - ``rewards``: ``(M,)`` float64 ``value * priority``.
    - ``target_boxes``: ``(M, 4)`` int64 ``(top, left, bottom, right)`` of each target region.
    - ``ticks_left``: ``(M,)`` float64 ticks until each deadline (``inf`` when there is none).
    """

    capability_names: tuple[str, ...]
    objectives: tuple[Objective, ...]
    agents: AgentBatch
    current_tick: int = 0
    required: FloatArray = field(init=False, repr=False)
    rewards: FloatArray = field(init=False, repr=False)
    target_boxes: IntArray = field(init=False, repr=False)
    ticks_left: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = tuple(self.capability_names)
        object.__setattr__(self, "capability_names", names)
        object.__setattr__(self, "objectives", tuple(self.objectives))
        if not names or len(names) > MAX_CAPABILITIES:
            raise InvalidFormationProblemError(f"capability_names must hold 1..{MAX_CAPABILITIES} names")
        if len(set(names)) != len(names) or any(not isinstance(n, str) or not n for n in names):
            raise InvalidFormationProblemError(
                f"capability_names must be distinct non-empty strings, got {names}"
            )
        if not isinstance(self.agents, AgentBatch):
            raise InvalidFormationProblemError("agents must be an AgentBatch")
        if self.agents.num_capabilities != len(names):
            raise InvalidFormationProblemError(
                f"agents have {self.agents.num_capabilities} capabilities, vocabulary has {len(names)}"
            )
        if isinstance(self.current_tick, bool) or not isinstance(self.current_tick, int | np.integer):
            raise InvalidFormationProblemError("current_tick must be an integer")
        for objective in self.objectives:
            if not isinstance(objective, Objective):
                raise InvalidFormationProblemError(
                    f"objectives must be Objective instances, got {objective!r}"
                )
        ids = [objective.id for objective in self.objectives]
        if len(set(ids)) != len(ids):
            raise InvalidFormationProblemError("objective ids must be unique")
        for objective in self.objectives:
            if len(objective.required) != len(names):
                raise InvalidFormationProblemError(
                    f"objective {objective.id!r} requires {len(objective.required)} capabilities, "
                    f"vocabulary has {len(names)}"
                )
        num_objectives = len(self.objectives)
        required = np.array([o.required for o in self.objectives], dtype=np.float64).reshape(
            num_objectives, len(names)
        )
        rewards = np.array([o.reward for o in self.objectives], dtype=np.float64)
        boxes = np.array([o.target.as_box() for o in self.objectives], dtype=np.int64).reshape(
            num_objectives, 4
        )
        ticks_left = np.array(
            [
                math.inf if o.deadline is None else float(o.deadline - self.current_tick)
                for o in self.objectives
            ],
            dtype=np.float64,
        )
        for name, array in (
            ("required", required),
            ("rewards", rewards),
            ("target_boxes", boxes),
            ("ticks_left", ticks_left),
        ):
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @property
    def num_agents(self) -> int:
        return self.agents.num_agents

    @property
    def num_objectives(self) -> int:
        return len(self.objectives)

    @property
    def num_capabilities(self) -> int:
        return len(self.capability_names)

    @property
    def objective_ids(self) -> tuple[str, ...]:
        return tuple(objective.id for objective in self.objectives)
