"""Built-in generative-model templates and their registry.

Each template is a function with documented keyword parameters that returns a validated
:class:`~freeagentics.domain.models.compiled.CompiledModel`. :data:`TEMPLATES` maps a template name to a
:class:`Template` record (description, parameter schema, builder) for the API's ``GET /templates``;
:meth:`Template.instantiate` validates a JSON-style parameter mapping, refuses models over
:class:`~freeagentics.domain.models.validation.ModelCaps` before building them, and builds.

Grid templates follow :mod:`freeagentics.domain.conventions` exactly as the grid world does: location index
``row * width + col``, row 0 at the top, actions in ``Move`` / ``CollectorAction`` order, and moves into a
wall or off the grid leave the agent in place. Cells are given as ``(row, col)`` pairs. Wall cells remain
states (so state index = location index) that the agent can never enter.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.conventions import MOVE_DELTAS, CellContent, CollectorAction, Move, location_index
from freeagentics.domain.models.compiled import CompiledModel, check_sizes, count_policies
from freeagentics.domain.models.errors import IssueCollector, Loc, collecting
from freeagentics.domain.models.validation import DEFAULT_CAPS, ModelCaps, as_int, is_number, tensor_nbytes

FloatArray = NDArray[np.float64]
Cell = tuple[int, int]


# ----------------------------------------------------------------------------------------------------
# Parameter checks shared by the templates


def _fail(loc: Loc, msg: str, type_: str = "invalid_value") -> None:
    issues = IssueCollector()
    issues.add(loc, msg, type_)
    issues.raise_if_any()


def _param_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    number = as_int(value)
    if number is None or number < minimum or (maximum is not None and number > maximum):
        bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        _fail(("parameters", name), f"expected an integer {bound}, got {value!r}"[:200])
    assert number is not None
    return number


def _param_float(
    name: str, value: object, minimum: float, maximum: float, *, open_max: bool = False
) -> float:
    if not is_number(value) or not np.isfinite(float(value)):  # type: ignore[arg-type]
        _fail(("parameters", name), f"expected a finite number, got {value!r}"[:200])
    number = float(value)  # type: ignore[arg-type]
    too_big = number >= maximum if open_max else number > maximum
    if number < minimum or too_big:
        _fail(
            ("parameters", name),
            f"expected a number in [{minimum}, {maximum}{')' if open_max else ']'}, got {number}",
        )
    return number


def _param_cell(
    name: str, value: object, height: int, width: int, walls: frozenset[Cell] = frozenset()
) -> Cell:
    loc: Loc = ("parameters", name)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        _fail(loc, f"expected a cell [row, col], got {value!r}"[:200])
    assert isinstance(value, (list, tuple))
    row, col = as_int(value[0]), as_int(value[1])
    if row is None or col is None or not (0 <= row < height and 0 <= col < width):
        _fail(loc, f"cell {list(value)!r} is not inside the {height}x{width} grid"[:200], "out_of_range")
    assert row is not None
    assert col is not None
    if (row, col) in walls:
        _fail(loc, f"cell {[row, col]} is a wall")
    return row, col


def _param_cells(
    name: str,
    value: object,
    height: int,
    width: int,
    walls: frozenset[Cell] = frozenset(),
    *,
    min_count: int = 0,
) -> tuple[Cell, ...]:
    if not isinstance(value, (list, tuple)):
        _fail(("parameters", name), f"expected a list of cells [row, col], got {value!r}"[:200])
    assert isinstance(value, (list, tuple))
    if len(value) > height * width:
        _fail(("parameters", name), f"more cells ({len(value)}) than the grid has", "too_large")
    cells = tuple(_param_cell(name, v, height, width, walls) for v in value)
    if len(set(cells)) != len(cells):
        _fail(("parameters", name), "a cell is listed twice", "duplicate_name")
    if len(cells) < min_count:
        _fail(("parameters", name), f"expected at least {min_count} cell(s)")
    return cells


# ----------------------------------------------------------------------------------------------------
# Grid building blocks


def grid_transitions(height: int, width: int, walls: frozenset[Cell], num_actions: int) -> FloatArray:
    """Deterministic location transitions ``B[s_next, s, u]``, shape ``(H*W, H*W, num_actions)``.

    Actions ``0..4`` are the ``Move`` actions; any further action (``COLLECT``, ``DEPOSIT``) stays in place.
    """
    num_cells = height * width
    B = np.zeros((num_cells, num_cells, num_actions))
    for row, col in itertools.product(range(height), range(width)):
        s = location_index(row, col, width)
        for u in range(num_actions):
            d_row, d_col = MOVE_DELTAS[u] if u < len(Move) else (0, 0)
            target = (row + d_row, col + d_col)
            blocked = (row, col) in walls or not (0 <= target[0] < height and 0 <= target[1] < width)
            blocked = blocked or target in walls
            B[s if blocked else location_index(*target, width), s, u] = 1.0
    return B


def _open_neighbours(cell: Cell, height: int, width: int, walls: frozenset[Cell]) -> list[Cell]:
    row, col = cell
    out = []
    for d_row, d_col in MOVE_DELTAS[: int(Move.STAY)]:
        other = (row + d_row, col + d_col)
        if 0 <= other[0] < height and 0 <= other[1] < width and other not in walls:
            out.append(other)
    return out


def noisy_location_likelihood(height: int, width: int, walls: frozenset[Cell], noise: float) -> FloatArray:
    """Location likelihood ``A[o, s]``, shape ``(H*W, H*W)``.

    The true cell is observed with probability ``1 - noise``; ``noise`` is shared evenly among the open
    4-neighbours of the cell (all of it stays on the true cell when there is none). Wall cells observe
    themselves.
    """
    num_cells = height * width
    A = np.zeros((num_cells, num_cells))
    for row, col in itertools.product(range(height), range(width)):
        s = location_index(row, col, width)
        neighbours = [] if (row, col) in walls else _open_neighbours((row, col), height, width, walls)
        if noise == 0.0 or not neighbours:
            A[s, s] = 1.0
            continue
        A[s, s] = 1.0 - noise
        for other in neighbours:
            A[location_index(*other, width), s] = noise / len(neighbours)
    return A


def grid_distances(
    height: int, width: int, walls: frozenset[Cell], targets: Sequence[Cell]
) -> NDArray[np.int64]:
    """Shortest-path length (in moves, around walls) from each cell to the nearest target, shape ``(H*W,)``.

    Cells that cannot reach a target (and walls) get the largest finite distance plus one.
    """
    distance = np.full(height * width, -1, dtype=np.int64)
    queue: deque[Cell] = deque()
    for cell in targets:
        distance[location_index(*cell, width)] = 0
        queue.append(cell)
    while queue:
        cell = queue.popleft()
        here = distance[location_index(*cell, width)]
        for other in _open_neighbours(cell, height, width, walls):
            index = location_index(*other, width)
            if distance[index] < 0:
                distance[index] = here + 1
                queue.append(other)
    unreachable = distance < 0
    distance[unreachable] = int(distance.max()) + 1
    return distance


def _start_prior(height: int, width: int, walls: frozenset[Cell], start: Cell | None) -> FloatArray:
    D = np.zeros(height * width)
    if start is not None:
        D[location_index(*start, width)] = 1.0
        return D
    for row, col in itertools.product(range(height), range(width)):
        if (row, col) not in walls:
            D[location_index(row, col, width)] = 1.0
    result: FloatArray = D / D.sum()
    return result


def _cell_names(height: int, width: int) -> tuple[str, ...]:
    return tuple(f"r{row}c{col}" for row, col in itertools.product(range(height), range(width)))


def _grid_basics(height: object, width: object, walls: object) -> tuple[int, int, frozenset[Cell]]:
    h = _param_int("height", height, 1)
    w = _param_int("width", width, 1)
    wall_cells = frozenset(_param_cells("walls", walls, h, w))
    if len(wall_cells) == h * w:
        _fail(("parameters", "walls"), "every cell is a wall")
    return h, w, wall_cells


# ----------------------------------------------------------------------------------------------------
# Templates


def grid_explorer(
    height: int,
    width: int,
    goal: Sequence[int],
    walls: Sequence[Sequence[int]] = (),
    observation_noise: float = 0.0,
    start: Sequence[int] | None = None,
    goal_preference: float = 4.0,
    distance_preference: float = 1.0,
    policy_len: int = 1,
    learn_B: bool = False,
    pB_concentration: float = 1.0,
) -> CompiledModel:
    """An agent that walks a ``height`` x ``width`` grid to a goal cell.

    - One factor ``location`` with ``height * width`` states (index ``row * width + col``), controlled by the
      five ``Move`` actions; ``B`` is deterministic: walls and edges block.
    - One modality ``location``: the cell, observed correctly with probability ``1 - observation_noise``, the
      rest spread over the open neighbouring cells (:func:`noisy_location_likelihood`).
    - ``C`` (log-preferences, higher is better): ``goal_preference`` at the goal cell minus
      ``distance_preference`` times the shortest-path distance to the goal. The distance term gives a short
      planning horizon a gradient to follow; set it to 0 for the goal-only preference of pymdp's grid demos.
    - ``D``: one-hot at ``start`` or uniform over open cells.
    - ``learn_B``: start from flat Dirichlet counts ``pB = pB_concentration`` everywhere (so ``B`` starts
      uniform) and learn the transitions.
    """
    h, w, wall_cells = _grid_basics(height, width, walls)
    goal_cell = _param_cell("goal", goal, h, w, wall_cells)
    start_cell = None if start is None else _param_cell("start", start, h, w, wall_cells)
    noise = _param_float("observation_noise", observation_noise, 0.0, 1.0, open_max=True)
    goal_pref = _param_float("goal_preference", goal_preference, -1e6, 1e6)
    distance_pref = _param_float("distance_preference", distance_preference, -1e6, 1e6)
    horizon = _param_int("policy_len", policy_len, 1)
    concentration = _param_float("pB_concentration", pB_concentration, 1e-12, 1e12)

    true_B = grid_transitions(h, w, wall_cells, len(Move))
    distance = grid_distances(h, w, wall_cells, [goal_cell])
    C = -distance_pref * distance.astype(np.float64)
    C[location_index(*goal_cell, w)] += goal_pref
    names = _cell_names(h, w)
    pB = None
    B = true_B
    if _param_bool("learn_B", learn_B):
        counts = np.full(true_B.shape, concentration)
        pB = (counts,)
        B = counts / counts.sum(axis=0, keepdims=True)
    return CompiledModel(
        A=(noisy_location_likelihood(h, w, wall_cells, noise),),
        B=(B,),
        C=(C,),
        D=(_start_prior(h, w, wall_cells, start_cell),),
        A_factor_list=((0,),),
        control_factors=(0,),
        policy_len=horizon,
        pB=pB,
        factor_names=("location",),
        state_names=(names,),
        modality_names=("location",),
        observation_names=(names,),
        action_names=(tuple(m.name.lower() for m in Move),),
        metadata={
            "template": "grid_explorer",
            "height": h,
            "width": w,
            "goal": list(goal_cell),
            "walls": sorted([list(c) for c in wall_cells]),
            "start": None if start_cell is None else list(start_cell),
        },
    )


def _param_bool(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        _fail(("parameters", name), f"expected true or false, got {value!r}"[:200], "type_error")
    return bool(value)


#: Carrying factor states of the resource collector.
CARRYING_STATES = ("empty", "carrying")


def collector_policies(policy_len: int) -> NDArray[np.int64]:
    """The collector's policies: one ``CollectorAction`` per step, applied to both factors.

    Shape ``(7**policy_len, policy_len, 2)``, in ``itertools.product`` order like pymdp's enumeration.
    """
    actions = range(len(CollectorAction))
    sequences = np.array(list(itertools.product(actions, repeat=policy_len)), dtype=np.int64)
    return np.repeat(sequences[:, :, None], 2, axis=2)


def resource_collector(
    height: int,
    width: int,
    resources: Sequence[Sequence[int]],
    goals: Sequence[Sequence[int]],
    walls: Sequence[Sequence[int]] = (),
    start: Sequence[int] | None = None,
    observation_noise: float = 0.0,
    collect_success: float = 0.9,
    deposit_success: float = 0.9,
    resource_preference: float = 1.0,
    goal_preference: float = 2.0,
    policy_len: int = 1,
) -> CompiledModel:
    """An agent that fetches resources and brings them to goal cells on a grid.

    - Factor 0 ``location`` (``height * width`` states) and factor 1 ``carrying`` (``empty``, ``carrying``).
      Both are control factors with the same seven ``CollectorAction`` actions, and the explicit ``policies``
      give both factors the same action at every step (``collector_policies``), so a policy is one action
      sequence and the world receives one action per agent. Because every policy ties the factors, their
      action marginals are identical and deterministic selection picks the same action for both; with
      stochastic selection, sample a whole policy rather than each factor's marginal (the engine's
      ``sampling_mode="full"``; ``metadata["sampling_mode"]`` says so).
    - ``location`` moves as in :func:`grid_explorer`; ``COLLECT`` and ``DEPOSIT`` stay in place.
    - ``carrying``: ``COLLECT`` turns empty into carrying with probability ``collect_success``; ``DEPOSIT``
      turns carrying into empty with probability ``deposit_success``; moves keep it. A compiled model's
      ``B[f]`` depends only on its own factor, so the model cannot say that collecting works only on a
      resource cell; ``collect_success`` < 1 expresses that uncertainty instead.
    - Modality 0 ``location`` (noisy as in :func:`grid_explorer`) and modality 1 ``cell_content``
      (``CellContent``: ``GOAL`` on goal cells, ``RESOURCE`` on resource cells, else ``EMPTY``), both
      depending on ``location`` only — the world does not show what the agent carries, so ``carrying`` is
      inferred from the agent's own actions.
    - ``C``: ``resource_preference`` for observing ``RESOURCE``, ``goal_preference`` for ``GOAL``.
    - ``D``: location one-hot at ``start`` (uniform over open cells if omitted); carrying starts ``empty``.
    """
    h, w, wall_cells = _grid_basics(height, width, walls)
    resource_cells = _param_cells("resources", resources, h, w, wall_cells)
    goal_cells = _param_cells("goals", goals, h, w, wall_cells, min_count=1)
    overlap = set(resource_cells) & set(goal_cells)
    if overlap:
        _fail(("parameters", "goals"), f"cell {list(min(overlap))} is both a resource and a goal")
    start_cell = None if start is None else _param_cell("start", start, h, w, wall_cells)
    noise = _param_float("observation_noise", observation_noise, 0.0, 1.0, open_max=True)
    p_collect = _param_float("collect_success", collect_success, 0.0, 1.0)
    p_deposit = _param_float("deposit_success", deposit_success, 0.0, 1.0)
    resource_pref = _param_float("resource_preference", resource_preference, -1e6, 1e6)
    goal_pref = _param_float("goal_preference", goal_preference, -1e6, 1e6)
    horizon = _param_int("policy_len", policy_len, 1)

    num_actions = len(CollectorAction)
    B_carry = np.zeros((2, 2, num_actions))
    B_carry[:, :, :] = np.eye(2)[:, :, None]
    collect, deposit = int(CollectorAction.COLLECT), int(CollectorAction.DEPOSIT)
    B_carry[:, 0, collect] = (1.0 - p_collect, p_collect)
    B_carry[:, 1, deposit] = (p_deposit, 1.0 - p_deposit)

    content = np.full(h * w, int(CellContent.EMPTY))
    for cell in resource_cells:
        content[location_index(*cell, w)] = int(CellContent.RESOURCE)
    for cell in goal_cells:
        content[location_index(*cell, w)] = int(CellContent.GOAL)
    A_content = np.zeros((len(CellContent), h * w))
    A_content[content, np.arange(h * w)] = 1.0

    C_content = np.zeros(len(CellContent))
    C_content[int(CellContent.RESOURCE)] = resource_pref
    C_content[int(CellContent.GOAL)] = goal_pref
    names = _cell_names(h, w)
    action_names = tuple(a.name.lower() for a in CollectorAction)
    return CompiledModel(
        A=(noisy_location_likelihood(h, w, wall_cells, noise), A_content),
        B=(grid_transitions(h, w, wall_cells, num_actions), B_carry),
        C=(np.zeros(h * w), C_content),
        D=(_start_prior(h, w, wall_cells, start_cell), np.array([1.0, 0.0])),
        A_factor_list=((0,), (0,)),
        control_factors=(0, 1),
        policy_len=horizon,
        policies=collector_policies(horizon),
        factor_names=("location", "carrying"),
        state_names=(names, CARRYING_STATES),
        modality_names=("location", "cell_content"),
        observation_names=(names, tuple(c.name.lower() for c in CellContent)),
        action_names=(action_names, action_names),
        metadata={
            "template": "resource_collector",
            # Marginal stochastic selection samples each factor's action separately and could split the
            # tied action; sampling whole policies keeps location and carrying on the same action.
            "sampling_mode": "full",
            "height": h,
            "width": w,
            "resources": [list(c) for c in resource_cells],
            "goals": [list(c) for c in goal_cells],
            "walls": sorted([list(c) for c in wall_cells]),
            "start": None if start_cell is None else list(start_cell),
        },
    )


#: T-maze location states, in pymdp's ``TMazeEnv`` order.
TMAZE_LOCATIONS = ("centre", "left_arm", "right_arm", "cue")
#: T-maze contexts: which arm holds the reward.
TMAZE_CONTEXTS = ("reward_left", "reward_right")
#: T-maze reward outcomes, in pymdp's order.
TMAZE_REWARD_OUTCOMES = ("no_reward", "reward", "loss")


def tmaze(
    reward_probability: float = 0.98,
    cue_validity: float = 1.0,
    reward_preference: float = 3.0,
    loss_preference: float = -3.0,
    null_cue_outcome: bool = False,
    context: int | None = None,
    policy_len: int = 1,
) -> CompiledModel:
    """pymdp's classic T-maze (``pymdp.legacy.envs.TMazeEnv`` and its ``tmaze_demo``), as a model.

    - Factor 0 ``location`` (``centre``, ``left_arm``, ``right_arm``, ``cue``), controlled; action ``u``
      moves to location ``u`` from anywhere (``B[s_next, s, u] = 1`` iff ``s_next == u``), as in pymdp.
    - Factor 1 ``context`` (``reward_left``, ``reward_right``), uncontrolled and constant (identity ``B``).
    - Modalities, each depending on both factors as in pymdp (``A[m]`` has shape ``(No, 4, 2)``):
      ``location`` (the location, exactly); ``reward`` (``no_reward``, ``reward``, ``loss``): the arm that
      matches the context gives reward with ``reward_probability`` and loss otherwise, the other arm the
      reverse, centre and cue give ``no_reward``; ``cue``: at the cue location it names the rewarded arm with
      probability ``cue_validity``. Elsewhere the cue is uniform over (``cue_left``, ``cue_right``), as in
      ``TMazeEnv``, or — with ``null_cue_outcome`` — a third ``null`` outcome, as in ``TMazeEnvNullOutcome``.
    - ``C``: ``reward_preference`` for reward, ``loss_preference`` for loss (the demo's 3 and -3).
    - ``D``: start at ``centre``; context uniform, or one-hot at ``context`` (0 or 1) for an agent that knows.

    With the defaults the arrays equal ``TMazeEnv(reward_probs=[0.98, 0.02])``'s ``A`` and ``B``.
    """
    p_reward = _param_float("reward_probability", reward_probability, 0.0, 1.0)
    validity = _param_float("cue_validity", cue_validity, 0.0, 1.0)
    reward_pref = _param_float("reward_preference", reward_preference, -1e6, 1e6)
    loss_pref = _param_float("loss_preference", loss_preference, -1e6, 1e6)
    null_cue = _param_bool("null_cue_outcome", null_cue_outcome)
    known_context = None if context is None else _param_int("context", context, 0, 1)
    horizon = _param_int("policy_len", policy_len, 1)

    num_locations, num_contexts = len(TMAZE_LOCATIONS), len(TMAZE_CONTEXTS)
    centre, cue = 0, 3
    cue_names = ("null", "cue_left", "cue_right") if null_cue else ("cue_left", "cue_right")
    first_cue = 1 if null_cue else 0
    A_location = np.zeros((num_locations, num_locations, num_contexts))
    A_reward = np.zeros((len(TMAZE_REWARD_OUTCOMES), num_locations, num_contexts))
    A_cue = np.zeros((len(cue_names), num_locations, num_contexts))
    reward, loss = 1, 2
    for loc, ctx in itertools.product(range(num_locations), range(num_contexts)):
        A_location[loc, loc, ctx] = 1.0
        if loc in (centre, cue):
            A_reward[0, loc, ctx] = 1.0
        else:
            rewarded = loc == ctx + 1  # left_arm (1) pays in context 0, right_arm (2) in context 1
            A_reward[reward if rewarded else loss, loc, ctx] = p_reward
            A_reward[loss if rewarded else reward, loc, ctx] += 1.0 - p_reward
        if loc == cue:
            A_cue[first_cue + ctx, loc, ctx] = validity
            A_cue[first_cue + (1 - ctx), loc, ctx] += 1.0 - validity
        elif null_cue:
            A_cue[0, loc, ctx] = 1.0
        else:
            A_cue[:, loc, ctx] = 1.0 / len(cue_names)

    B_location = np.zeros((num_locations, num_locations, num_locations))
    for u in range(num_locations):
        B_location[u, :, u] = 1.0
    B_context = np.eye(num_contexts)[:, :, None]

    C_reward = np.zeros(len(TMAZE_REWARD_OUTCOMES))
    C_reward[reward], C_reward[loss] = reward_pref, loss_pref
    D_context = np.full(num_contexts, 1.0 / num_contexts)
    if known_context is not None:
        D_context = np.eye(num_contexts)[known_context]
    both = (0, 1)
    return CompiledModel(
        A=(A_location, A_reward, A_cue),
        B=(B_location, B_context),
        C=(np.zeros(num_locations), C_reward, np.zeros(len(cue_names))),
        D=(np.eye(num_locations)[centre], D_context),
        A_factor_list=(both, both, both),
        control_factors=(0,),
        policy_len=horizon,
        factor_names=("location", "context"),
        state_names=(TMAZE_LOCATIONS, TMAZE_CONTEXTS),
        modality_names=("location", "reward", "cue"),
        observation_names=(TMAZE_LOCATIONS, TMAZE_REWARD_OUTCOMES, cue_names),
        action_names=(tuple(f"go_{name}" for name in TMAZE_LOCATIONS), ()),
        metadata={"template": "tmaze"},
    )


# ----------------------------------------------------------------------------------------------------
# Registry

_REQUIRED = object()


@dataclass(frozen=True)
class TemplateParameter:
    """One template parameter, described for clients.

    ``kind`` is ``integer``, ``number``, ``boolean``, ``cell`` (``[row, col]``), ``cell_or_null``, ``cells``
    (a list of cells) or ``integer_or_null``; ``default`` is :data:`REQUIRED` when it must be given.
    """

    name: str
    kind: str
    description: str
    default: object = _REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    #: The bounds themselves are excluded (JSON Schema ``exclusiveMinimum`` / ``exclusiveMaximum``).
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def json_schema(self) -> dict[str, object]:
        """A JSON-Schema fragment describing the parameter."""
        cell: dict[str, object] = {
            "type": "array",
            "items": {"type": "integer"},
            "minItems": 2,
            "maxItems": 2,
        }
        schema: dict[str, object]
        if self.kind == "cell":
            schema = dict(cell)
        elif self.kind == "cell_or_null":
            schema = {"anyOf": [cell, {"type": "null"}]}
        elif self.kind == "cells":
            schema = {"type": "array", "items": cell}
        elif self.kind == "integer_or_null":
            schema = {"type": ["integer", "null"]}
        else:
            schema = {"type": self.kind}
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            schema["exclusiveMaximum" if self.exclusive_maximum else "maximum"] = self.maximum
        schema["description"] = self.description
        if not self.required:
            default = self.default
            schema["default"] = list(default) if isinstance(default, tuple) else default
        return schema


REQUIRED = _REQUIRED


@dataclass(frozen=True)
class Template:
    """A named model template: its builder, its parameters and a size estimate used to enforce caps."""

    name: str
    description: str
    parameters: tuple[TemplateParameter, ...]
    build: Callable[..., CompiledModel]
    #: Returns (states per factor, observations per modality, controls per factor, policies, tensor bytes)
    #: from validated-type parameters, so oversized requests are refused before any array is allocated.
    estimate: Callable[[Mapping[str, object]], tuple[list[int], list[int], list[int], int, int]] = field(
        repr=False
    )

    def json_schema(self) -> dict[str, object]:
        """The parameters as a JSON Schema object (``additionalProperties: false``)."""
        return {
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self.parameters},
            "required": [p.name for p in self.parameters if p.required],
            "additionalProperties": False,
        }

    def describe(self) -> dict[str, object]:
        """JSON-ready description for ``GET /templates``."""
        return {"name": self.name, "description": self.description, "parameters": self.json_schema()}

    def instantiate(self, parameters: Mapping[str, object], caps: ModelCaps = DEFAULT_CAPS) -> CompiledModel:
        """Validate ``parameters`` (a parsed JSON object), check the size against ``caps``, then build.

        Raises :class:`~freeagentics.domain.models.errors.ModelValidationError` with ``loc``
        ``("parameters", name)`` for a bad parameter and ``too_large`` issues for a model over the caps.
        """
        issues = IssueCollector()
        with collecting(issues):
            if not isinstance(parameters, Mapping):
                issues.add(("parameters",), "expected a mapping of parameters", "type_error")
                issues.raise_if_any()
            known = {p.name for p in self.parameters}
            for key in parameters:
                if key not in known:
                    issues.add(
                        ("parameters", str(key)[:80]),
                        f"unknown parameter; allowed: {sorted(known)}",
                        "extra_forbidden",
                    )
            for p in self.parameters:
                if p.required and p.name not in parameters:
                    issues.add(("parameters", p.name), "parameter required", "missing")
        issues.raise_if_any()
        values = {p.name: parameters.get(p.name, p.default) for p in self.parameters}
        for p in self.parameters:
            _check_kind(p, values[p.name])
        states, observations, controls, policies, nbytes = self.estimate(values)
        with collecting(issues):
            check_sizes(
                issues,
                caps,
                num_states=states,
                num_obs=observations,
                num_controls=controls,
                policy_len=_param_int("policy_len", values.get("policy_len", 1), 1),
                num_policies=policies,
                tensor_bytes=nbytes,
                factor_locs=[("parameters",)] * len(states),
                modality_locs=[("parameters",)] * len(observations),
                factors_loc=("parameters",),
                modalities_loc=("parameters",),
                policies_loc=("parameters", "policy_len"),
                policy_len_loc=("parameters", "policy_len"),
                bytes_loc=("parameters",),
            )
        issues.raise_if_any()
        model = self.build(**values)
        model.check_caps(caps)
        return model


def _check_kind(parameter: TemplateParameter, value: object) -> None:
    name = parameter.name
    if parameter.kind == "integer" or (parameter.kind == "integer_or_null" and value is not None):
        _param_int(name, value, int(parameter.minimum) if parameter.minimum is not None else -(2**62))
    elif parameter.kind == "number":
        _param_float(name, value, -1e12, 1e12)
    elif parameter.kind == "boolean":
        _param_bool(name, value)
    elif parameter.kind in ("cell", "cell_or_null") and value is not None:
        if not isinstance(value, (list, tuple)) or len(value) != 2 or any(as_int(v) is None for v in value):
            _fail(("parameters", name), f"expected a cell [row, col], got {value!r}"[:200], "type_error")
    elif parameter.kind == "cells" and not isinstance(value, (list, tuple)):
        _fail(("parameters", name), f"expected a list of cells, got {value!r}"[:200], "type_error")


def _grid_cells(values: Mapping[str, object]) -> int:
    height, width = as_int(values["height"]) or 1, as_int(values["width"]) or 1
    return height * width


def _estimate_explorer(values: Mapping[str, object]) -> tuple[list[int], list[int], list[int], int, int]:
    cells = _grid_cells(values)
    horizon = min(as_int(values["policy_len"]) or 1, 64)
    learn = 2 if values.get("learn_B") else 1
    nbytes = tensor_nbytes((cells, cells, len(Move))) * learn + tensor_nbytes((cells, cells))
    return [cells], [cells], [len(Move)], count_policies([len(Move)], [0], horizon), nbytes


def _estimate_collector(values: Mapping[str, object]) -> tuple[list[int], list[int], list[int], int, int]:
    cells = _grid_cells(values)
    horizon = min(as_int(values["policy_len"]) or 1, 64)
    actions = len(CollectorAction)
    policies = actions**horizon
    nbytes = tensor_nbytes((cells, cells, actions)) + tensor_nbytes((cells, cells)) + 16 * policies * horizon
    return [cells, 2], [cells, len(CellContent)], [actions, actions], policies, nbytes


def _estimate_tmaze(values: Mapping[str, object]) -> tuple[list[int], list[int], list[int], int, int]:
    horizon = min(as_int(values["policy_len"]) or 1, 64)
    return [4, 2], [4, 3, 3], [4, 1], 4**horizon, 2048


_GRID_SIZE = (
    TemplateParameter("height", "integer", "Rows of the grid.", minimum=1),
    TemplateParameter("width", "integer", "Columns of the grid.", minimum=1),
)
_POLICY_LEN = TemplateParameter("policy_len", "integer", "Planning horizon (steps per policy).", 1, minimum=1)

TEMPLATES: Mapping[str, Template] = {
    t.name: t
    for t in (
        Template(
            name="grid_explorer",
            description="Walks a grid (walls and edges block) to a goal cell; noisy location observations.",
            parameters=(
                *_GRID_SIZE,
                TemplateParameter("goal", "cell", "Goal cell [row, col]."),
                TemplateParameter("walls", "cells", "Wall cells [[row, col], ...].", ()),
                TemplateParameter(
                    "observation_noise",
                    "number",
                    "Probability of observing a neighbouring cell instead of the true one.",
                    0.0,
                    0.0,
                    1.0,
                    exclusive_maximum=True,
                ),
                TemplateParameter("start", "cell_or_null", "Start cell, or null for a uniform prior.", None),
                TemplateParameter("goal_preference", "number", "Log-preference for the goal cell.", 4.0),
                TemplateParameter(
                    "distance_preference",
                    "number",
                    "Log-preference lost per move of shortest-path distance from the goal.",
                    1.0,
                ),
                _POLICY_LEN,
                TemplateParameter(
                    "learn_B", "boolean", "Learn transitions from flat Dirichlet counts.", False
                ),
                TemplateParameter(
                    "pB_concentration",
                    "number",
                    "Flat Dirichlet count when learning B.",
                    1.0,
                    minimum=0.0,
                    exclusive_minimum=True,
                ),
            ),
            build=grid_explorer,
            estimate=_estimate_explorer,
        ),
        Template(
            name="resource_collector",
            description="Collects resources on a grid and deposits them on goal cells (location + carrying).",
            parameters=(
                *_GRID_SIZE,
                TemplateParameter("resources", "cells", "Cells holding resources."),
                TemplateParameter("goals", "cells", "Goal cells where resources are deposited."),
                TemplateParameter("walls", "cells", "Wall cells.", ()),
                TemplateParameter("start", "cell_or_null", "Start cell, or null for a uniform prior.", None),
                TemplateParameter(
                    "observation_noise",
                    "number",
                    "Location observation noise.",
                    0.0,
                    0.0,
                    1.0,
                    exclusive_maximum=True,
                ),
                TemplateParameter(
                    "collect_success", "number", "P(carrying | COLLECT, empty).", 0.9, 0.0, 1.0
                ),
                TemplateParameter(
                    "deposit_success", "number", "P(empty | DEPOSIT, carrying).", 0.9, 0.0, 1.0
                ),
                TemplateParameter(
                    "resource_preference", "number", "Log-preference for seeing a resource.", 1.0
                ),
                TemplateParameter("goal_preference", "number", "Log-preference for seeing a goal cell.", 2.0),
                _POLICY_LEN,
            ),
            build=resource_collector,
            estimate=_estimate_collector,
        ),
        Template(
            name="tmaze",
            description="pymdp's classic T-maze: visit the cue to learn which arm holds the reward.",
            parameters=(
                TemplateParameter(
                    "reward_probability", "number", "P(reward) in the rewarded arm.", 0.98, 0.0, 1.0
                ),
                TemplateParameter(
                    "cue_validity", "number", "P(the cue names the rewarded arm).", 1.0, 0.0, 1.0
                ),
                TemplateParameter("reward_preference", "number", "Log-preference for reward.", 3.0),
                TemplateParameter("loss_preference", "number", "Log-preference for loss.", -3.0),
                TemplateParameter(
                    "null_cue_outcome",
                    "boolean",
                    "Give the cue modality a null outcome off the cue location.",
                    False,
                ),
                TemplateParameter(
                    "context",
                    "integer_or_null",
                    "Known context (0: reward left, 1: right) or null.",
                    None,
                    0,
                    1,
                ),
                _POLICY_LEN,
            ),
            build=tmaze,
            estimate=_estimate_tmaze,
        ),
    )
}


def get_template(name: str) -> Template:
    """The template called ``name``; raises ``KeyError`` naming the known templates otherwise."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise KeyError(f"unknown template {name!r}; known: {sorted(TEMPLATES)}") from None


def describe_templates() -> list[dict[str, object]]:
    """Every template's JSON-ready description, sorted by name."""
    return [TEMPLATES[name].describe() for name in sorted(TEMPLATES)]
