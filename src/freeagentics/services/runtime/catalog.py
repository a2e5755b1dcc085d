"""Which agent templates can live in a grid world, and how a world's cells become their model parameters.

An agent is created from a template name, its template parameters and a few runtime parameters. The grid
templates describe the world they live in (size, walls, goals, resources); the runtime fills those from
the world's spec so a client names only what is about the agent. ``observe`` maps the world's
observations of a population's slots to the ``(N, num_modalities)`` outcome indices its model expects.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.models import CompiledModel, ModelValidationError, ValidationIssue, get_template
from freeagentics.domain.world import GridObservations, GridWorldSpec

IntArray = NDArray[np.int64]
Observe = Callable[[GridObservations, NDArray[np.int64]], IntArray]

#: Runtime parameters of every agent (the rest are the template's own).
RUNTIME_PARAMETERS = frozenset(
    {"start", "seed", "capabilities", "action_selection", "preferences", "priority"}
)
MAX_CAPABILITIES = 16


def _observe_location(observations: GridObservations, slots: NDArray[np.int64]) -> IntArray:
    return observations.location[slots][:, None]


def _observe_collector(observations: GridObservations, slots: NDArray[np.int64]) -> IntArray:
    return np.stack([observations.location[slots], observations.cell_content[slots]], axis=1)


@dataclass(frozen=True)
class RunnableTemplate:
    name: str
    observe: Observe
    default_capabilities: Mapping[str, float]
    world_parameters: Callable[[GridWorldSpec, Mapping[str, Any]], dict[str, Any]]


def _explorer_world_parameters(spec: GridWorldSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "height": spec.height,
        "width": spec.width,
        "walls": [list(cell) for cell in spec.walls],
    }
    if "goal" not in given and spec.goals:
        values["goal"] = list(spec.goals[0])
    return values


def _collector_world_parameters(spec: GridWorldSpec, _given: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "height": spec.height,
        "width": spec.width,
        "walls": [list(cell) for cell in spec.walls],
        "resources": [list(pile.cell) for pile in spec.resources],
        "goals": [list(cell) for cell in spec.goals],
    }


RUNNABLE_TEMPLATES: Mapping[str, RunnableTemplate] = {
    "grid_explorer": RunnableTemplate(
        "grid_explorer", _observe_location, {"explore": 1.0}, _explorer_world_parameters
    ),
    "resource_collector": RunnableTemplate(
        "resource_collector", _observe_collector, {"carry": 1.0}, _collector_world_parameters
    ),
}


@dataclass(frozen=True)
class AgentBlueprint:
    """A validated agent definition, ready for the runtime.

    ``model_key`` identifies the population: agents with equal keys share one generative model and one
    engine call per tick. ``preferences`` maps modality index to a per-agent ``C`` row.
    """

    template: str
    model: CompiledModel
    model_parameters: Mapping[str, Any]
    action_selection: str
    start: tuple[int, int] | None
    seed: int
    capabilities: Mapping[str, float]
    preferences: Mapping[int, tuple[float, ...]] = field(default_factory=dict)
    essential: bool = False
    """Essential populations keep running in emergency mode; the others pause."""

    @property
    def model_key(self) -> str:
        return json.dumps(
            {
                "template": self.template,
                "parameters": self.model_parameters,
                "selection": self.action_selection,
                "essential": self.essential,
            },
            sort_keys=True,
            separators=(",", ":"),
        )


def _issue(loc: tuple[str | int, ...], msg: str, kind: str = "invalid_value") -> ValidationIssue:
    return ValidationIssue(loc=loc, msg=msg, type=kind)


@dataclass(frozen=True)
class _RuntimeParameters:
    start: tuple[int, int] | None
    seed: int
    capabilities: dict[str, float]
    action_selection: str
    preferences: dict[str, Any]
    essential: bool


def _validate_runtime_parameters(
    parameters: Mapping[str, Any], spec: GridWorldSpec, issues: list[ValidationIssue]
) -> _RuntimeParameters:
    start: tuple[int, int] | None = None
    raw_start = parameters.get("start")
    if raw_start is not None:
        if (
            not isinstance(raw_start, list | tuple)
            or len(raw_start) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw_start)
        ):
            issues.append(_issue(("parameters", "start"), "expected [row, col] integers", "type_error"))
        else:
            row, col = int(raw_start[0]), int(raw_start[1])
            if not (0 <= row < spec.height and 0 <= col < spec.width):
                issues.append(_issue(("parameters", "start"), "cell outside the world"))
            elif (row, col) in set(spec.walls):
                issues.append(_issue(("parameters", "start"), "cell is a wall"))
            else:
                start = (row, col)
    seed = parameters.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        issues.append(_issue(("parameters", "seed"), "expected an integer in [0, 2**63)", "type_error"))
        seed = 0
    capabilities: dict[str, float] = {}
    raw_capabilities = parameters.get("capabilities")
    if raw_capabilities is not None:
        if not isinstance(raw_capabilities, Mapping) or len(raw_capabilities) > MAX_CAPABILITIES:
            issues.append(
                _issue(
                    ("parameters", "capabilities"), f"expected a mapping of at most {MAX_CAPABILITIES} names"
                )
            )
        else:
            for name, amount in raw_capabilities.items():
                valid_name = isinstance(name, str) and 0 < len(name) <= 32 and name.isidentifier()
                valid_amount = (
                    isinstance(amount, int | float)
                    and not isinstance(amount, bool)
                    and math.isfinite(amount)
                    and 0 <= amount <= 1e6
                )
                if not valid_name or not valid_amount:
                    issues.append(
                        _issue(
                            ("parameters", "capabilities", str(name)[:32]),
                            "capability names are identifiers; amounts finite numbers in [0, 1e6]",
                        )
                    )
                else:
                    capabilities[name] = float(amount)
    selection = parameters.get("action_selection", "stochastic")
    if selection not in ("deterministic", "stochastic"):
        issues.append(_issue(("parameters", "action_selection"), "expected 'deterministic' or 'stochastic'"))
        selection = "stochastic"
    preferences = parameters.get("preferences")
    if preferences is not None and not isinstance(preferences, Mapping):
        issues.append(_issue(("parameters", "preferences"), "expected a mapping modality -> list of numbers"))
        preferences = None
    priority = parameters.get("priority", "normal")
    if priority not in ("normal", "essential"):
        issues.append(_issue(("parameters", "priority"), "expected 'normal' or 'essential'"))
    return _RuntimeParameters(
        start, seed, capabilities, str(selection), dict(preferences or {}), priority == "essential"
    )


def _validate_preferences(
    raw: Mapping[str, Any], model: CompiledModel, issues: list[ValidationIssue]
) -> dict[int, tuple[float, ...]]:
    names = list(model.modality_names)
    result: dict[int, tuple[float, ...]] = {}
    for key, values in raw.items():
        loc = ("parameters", "preferences", str(key)[:64])
        if key not in names:
            issues.append(_issue(loc, f"unknown modality; known: {names}"))
            continue
        modality = names.index(key)
        expected = model.num_obs[modality]
        if not isinstance(values, list | tuple) or len(values) != expected:
            issues.append(_issue(loc, f"expected a list of {expected} numbers"))
            continue
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= 1e6
            for v in values
        ):
            issues.append(_issue(loc, "preferences must be finite numbers in [-1e6, 1e6]"))
            continue
        result[modality] = tuple(float(v) for v in values)
    return result


@functools.lru_cache(maxsize=256)
def _instantiate(template_name: str, parameters_json: str) -> CompiledModel:
    # Thousands of agents share a handful of models; build each compiled model once.
    return get_template(template_name).instantiate(json.loads(parameters_json))


def blueprint(template_name: str, parameters: Mapping[str, Any], spec: GridWorldSpec) -> AgentBlueprint:
    """Validate a template agent for a world; raises ``ModelValidationError`` listing every problem."""
    runnable = RUNNABLE_TEMPLATES.get(template_name)
    if runnable is None:
        known = sorted(RUNNABLE_TEMPLATES)
        raise ModelValidationError(
            [_issue(("template",), f"not runnable in a grid world; use one of {known}")]
        )
    issues: list[ValidationIssue] = []
    runtime = _validate_runtime_parameters(parameters, spec, issues)
    given = {k: v for k, v in parameters.items() if k not in RUNTIME_PARAMETERS}
    issues.extend(
        _issue(("parameters", key), "set by the world; do not pass it", "extra_forbidden")
        for key in ("height", "width", "walls", "resources", "goals")
        if key in given
    )
    if issues:
        raise ModelValidationError(issues)
    model_parameters = {**given, **runnable.world_parameters(spec, given)}
    model = _instantiate(template_name, json.dumps(model_parameters, sort_keys=True))
    preferences = _validate_preferences(runtime.preferences, model, issues)
    if issues:
        raise ModelValidationError(issues)
    return AgentBlueprint(
        template=template_name,
        model=model,
        model_parameters=model_parameters,
        action_selection=runtime.action_selection,
        start=runtime.start,
        seed=runtime.seed,
        capabilities=runtime.capabilities or dict(runnable.default_capabilities),
        preferences=preferences,
        essential=runtime.essential,
    )


def _observe_for_spec(model: CompiledModel, spec: GridWorldSpec) -> str | None:
    cells = spec.height * spec.width
    controls = [model.num_controls[f] for f in model.control_factors]
    if model.num_obs == (cells,) and controls and max(controls) <= 5:
        return "location"
    if model.num_obs == (cells, 3) and controls and max(controls) <= 7:
        return "collector"
    return None


def blueprint_from_spec(
    model_spec: Mapping[str, Any], parameters: Mapping[str, Any], spec: GridWorldSpec
) -> AgentBlueprint:
    """Validate an agent whose generative model is given as a declarative spec.

    The model must see the world the way a grid template does: one modality over the ``height * width``
    cells (explorer-like, at most 5 actions) or that plus the 3-valued cell content (collector-like, at most
    7 actions), with action indices as in :mod:`freeagentics.domain.conventions`.
    """
    from freeagentics.domain.models import compile_mapping

    issues: list[ValidationIssue] = []
    runtime = _validate_runtime_parameters(parameters, spec, issues)
    unknown = sorted(set(parameters) - RUNTIME_PARAMETERS)
    issues.extend(
        _issue(("parameters", key), "a model_spec agent takes only runtime parameters", "extra_forbidden")
        for key in unknown
    )
    if issues:
        raise ModelValidationError(issues)
    try:
        model = compile_mapping(model_spec)
    except ModelValidationError as exc:
        raise ModelValidationError(
            [ValidationIssue(("model_spec", *i.loc), i.msg, i.type, i.index) for i in exc.issues]
        ) from None
    kind = _observe_for_spec(model, spec)
    if kind is None:
        raise ModelValidationError(
            [
                _issue(
                    ("model_spec", "modalities"),
                    f"a model in this {spec.height}x{spec.width} world must observe the location "
                    f"({spec.height * spec.width} outcomes), optionally then the cell content (3 outcomes)",
                )
            ]
        )
    preferences = _validate_preferences(runtime.preferences, model, issues)
    if issues:
        raise ModelValidationError(issues)
    return AgentBlueprint(
        template=f"spec:{kind}",
        model=model,
        model_parameters={"model_spec": dict(model_spec)},
        action_selection=runtime.action_selection,
        start=runtime.start,
        seed=runtime.seed,
        capabilities=runtime.capabilities or {"explore": 1.0},
        preferences=preferences,
        essential=runtime.essential,
    )


def observe_function(template: str) -> Observe:
    """The observation mapping of a template name, including ``spec:location`` / ``spec:collector``."""
    if template in RUNNABLE_TEMPLATES:
        return RUNNABLE_TEMPLATES[template].observe
    if template == "spec:location":
        return _observe_location
    if template == "spec:collector":
        return _observe_collector
    raise KeyError(template)
