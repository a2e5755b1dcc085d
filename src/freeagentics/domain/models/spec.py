"""Declarative model specs: named factors, states, actions, modalities and observations.

A spec is a JSON or YAML document. Text parsing happens at the edges (API, CLI); this module takes the
already-parsed mapping, validates it strictly and returns frozen dataclasses (:func:`spec_from_mapping`),
then compiles those into the engine's :class:`~freeagentics.domain.models.compiled.CompiledModel`
(:func:`compile_spec`). :func:`spec_to_mapping` is the inverse of :func:`spec_from_mapping`, and
:func:`spec_from_compiled` writes any compiled model (a template, say) back out as a spec.

Document format (version 1; every key not listed here is rejected)::

    version: 1                      # optional; only 1 exists
    name: two-armed-bandit          # optional display name
    description: "..."              # optional free text
    policy_len: 1                   # optional planning horizon, default 1
    factors:                        # hidden-state factors, in order (index f)
      - name: location
        states: [left, right]       # Ns[f] state names
        actions: [stay, switch]     # optional: present => controllable with Nu[f] = len(actions);
                                    #           absent  => uncontrolled, one implicit action
        B: [[[...]]]                # (Ns, Ns, Nu) nested lists, B[s_next][s][u]; or instead:
        transitions: [[0, 1], [1, 0]]  # transitions[u][s] = next state (index or state name), deterministic
        D: [0.5, 0.5]               # optional initial prior, uniform by default
        pB: {flat: 1.0}             # optional Dirichlet counts: nested lists of B's shape,
        pD: {scale: 10.0}           #   {flat: c} (c everywhere) or {scale: s} (s * B)
    modalities:                     # observation modalities, in order (index m)
      - name: position
        observations: [left, right] # No[m] observation names
        depends_on: [location]      # optional: factors A[m] depends on, in factor order; default all
        A: [[...]]                  # (No, *Ns[depends_on]) nested lists
        C: [0.0, 1.0]               # optional log-preferences, zeros by default
        pA: {scale: 1.0}            # optional Dirichlet counts as for pB
    E: [...]                        # optional policy prior, one entry per policy
    policies: [[[0, 0]], ...]       # optional explicit policies (num_policies, policy_len, num_factors)

Defaults: an uncontrolled factor without ``B`` keeps its state (identity). When ``A``/``B``/``D`` is omitted
but explicit counts ``pA``/``pB``/``pD`` (or ``{flat: c}`` for ``B`` and ``D``) are given, the tensor is the
normalised counts, as pymdp derives it while learning.

Validation rejects unknown or missing keys, wrong types, ragged lists, wrong shapes, NaN/Inf, non-numbers
(booleans and strings included), negative probabilities or counts, columns that do not sum to 1 within
``SUM_TOLERANCE``, bad names (empty, control characters such as NUL, duplicates) and models over
:class:`~freeagentics.domain.models.validation.ModelCaps` — checked from the declared sizes before any tensor
is parsed. All problems are reported together in one
:class:`~freeagentics.domain.models.errors.ModelValidationError`, each with its ``loc`` (e.g.
``("modalities", 0, "A")``) and the index inside the tensor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.models.compiled import CompiledModel, count_policies, transition_table
from freeagentics.domain.models.errors import IssueCollector, Loc, collecting
from freeagentics.domain.models.validation import (
    DEFAULT_CAPS,
    ModelCaps,
    as_int,
    check_dirichlet_tensor,
    check_name,
    check_probability_tensor,
    check_unique,
    is_number,
    parse_tensor,
    tensor_nbytes,
    type_name,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SPEC_VERSION = 1
MAX_DESCRIPTION_LENGTH = 4096

_TOP_KEYS = frozenset(
    {"version", "name", "description", "policy_len", "factors", "modalities", "E", "policies"}
)
_FACTOR_KEYS = frozenset({"name", "states", "actions", "B", "transitions", "D", "pB", "pD"})
_MODALITY_KEYS = frozenset({"name", "observations", "depends_on", "A", "C", "pA"})
_DIRICHLET_KEYS = frozenset({"flat", "scale"})


@dataclass(frozen=True, eq=False)
class DirichletSpec:
    """Dirichlet concentration parameters; exactly one of the three is set.

    ``counts`` are explicit, ``flat`` is one value everywhere, ``scale`` multiplies the tensor the counts
    belong to (pymdp's ``dirichlet_like``).
    """

    counts: FloatArray | None = None
    flat: float | None = None
    scale: float | None = None

    def resolve(self, tensor: FloatArray) -> FloatArray:
        """Counts with the shape of ``tensor`` (the normalised parameter they belong to)."""
        if self.counts is not None:
            return self.counts
        if self.flat is not None:
            return np.full(tensor.shape, self.flat)
        assert self.scale is not None
        return self.scale * tensor


@dataclass(frozen=True, eq=False)
class FactorSpec:
    """A hidden-state factor. ``transitions`` (``(Nu, Ns)`` next-state indices) and ``B`` are alternatives."""

    name: str
    states: tuple[str, ...]
    actions: tuple[str, ...] = ()
    B: FloatArray | None = None
    transitions: IntArray | None = None
    D: FloatArray | None = None
    pB: DirichletSpec | None = None
    pD: DirichletSpec | None = None

    @property
    def controllable(self) -> bool:
        return bool(self.actions)

    @property
    def num_controls(self) -> int:
        return len(self.actions) if self.actions else 1


@dataclass(frozen=True, eq=False)
class ModalitySpec:
    """An observation modality; ``A`` has shape ``(No, *[Ns[f] for f in depends_on])``."""

    name: str
    observations: tuple[str, ...]
    depends_on: tuple[str, ...]
    A: FloatArray | None = None
    C: FloatArray | None = None
    pA: DirichletSpec | None = None


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A validated model document (see the module docstring for the format)."""

    factors: tuple[FactorSpec, ...]
    modalities: tuple[ModalitySpec, ...]
    policy_len: int = 1
    E: FloatArray | None = None
    policies: IntArray | None = None
    name: str | None = None
    description: str = ""


# ----------------------------------------------------------------------------------------------------
# Parsing


def _mapping(
    value: object, loc: Loc, issues: IssueCollector, allowed: frozenset[str], required: Sequence[str]
) -> Mapping[str, object] | None:
    if not isinstance(value, Mapping):
        issues.add(loc, f"expected a mapping, got {type_name(value)}", "type_error")
        return None
    ok = True  # unknown keys are reported but do not stop validation of the known ones
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            shown = repr(key)[:80]
            issues.add(
                (*loc, str(key)[:80]), f"unknown field {shown}; allowed: {sorted(allowed)}", "extra_forbidden"
            )
    for key in required:
        if key not in value:
            issues.add((*loc, key), "field required", "missing")
            ok = False
    return value if ok else None


def _name_list(
    value: object, loc: Loc, issues: IssueCollector, caps: ModelCaps, what: str, max_count: int
) -> tuple[str, ...] | None:
    if not isinstance(value, (list, tuple)):
        issues.add(loc, f"expected a list of {what} names, got {type_name(value)}", "type_error")
        return None
    if not value:
        issues.add(loc, f"expected at least one {what} name", "invalid_value")
        return None
    if len(value) > max_count:
        issues.add(loc, f"{len(value)} {what}s, over the cap of {max_count}", "too_large")
        return None
    names = [check_name(v, (*loc, i), issues, caps.max_name_length) for i, v in enumerate(value)]
    if any(n is None for n in names) or not check_unique(names, loc, issues, f"{what} name"):
        return None
    return tuple(n for n in names if n is not None)


def _positive_int(value: object, loc: Loc, issues: IssueCollector) -> int | None:
    number = as_int(value)
    if number is None or number < 1:
        issues.add(loc, f"expected a positive integer, got {value!r}"[:200], "invalid_value")
        return None
    return number


def _description(value: object, loc: Loc, issues: IssueCollector) -> str | None:
    if not isinstance(value, str):
        issues.add(loc, f"expected a string, got {type_name(value)}", "type_error")
        return None
    if len(value) > MAX_DESCRIPTION_LENGTH:
        issues.add(loc, f"description is over {MAX_DESCRIPTION_LENGTH} characters", "invalid_value")
        return None
    for position, char in enumerate(value):
        if char not in "\n\t" and (ord(char) < 32 or 0x7F <= ord(char) < 0xA0):
            issues.add(
                loc,
                f"contains the control character U+{ord(char):04X} at position {position}",
                "invalid_value",
            )
            return None
    return value


def _dirichlet(
    value: object, loc: Loc, issues: IssueCollector, shape: tuple[int, ...], note: str
) -> DirichletSpec | None:
    if isinstance(value, Mapping):
        body = _mapping(value, loc, issues, _DIRICHLET_KEYS, ())
        if body is None:
            return None
        if len(body) != 1:
            issues.add(loc, "give exactly one of 'flat' or 'scale'", "invalid_value")
            return None
        ((key, number),) = body.items()
        if not is_number(number) or not math.isfinite(float(number)) or float(number) <= 0:  # type: ignore[arg-type]
            issues.add(
                (*loc, key), f"expected a positive finite number, got {number!r}"[:200], "invalid_value"
            )
            return None
        return DirichletSpec(flat=float(number)) if key == "flat" else DirichletSpec(scale=float(number))  # type: ignore[arg-type]
    counts = parse_tensor(value, loc, issues, shape=shape, shape_note=note)
    if counts is None or not check_dirichlet_tensor(counts, loc, issues):
        return None
    return DirichletSpec(counts=counts)


def _index_or_name(value: object, names: Sequence[str], lookup: Mapping[str, int]) -> int | None:
    if isinstance(value, str):
        return lookup.get(value)
    number = as_int(value)
    return number if number is not None and 0 <= number < len(names) else None


def _transitions(
    value: object, loc: Loc, issues: IssueCollector, states: tuple[str, ...], num_controls: int
) -> IntArray | None:
    lookup = {name: i for i, name in enumerate(states)}
    if not isinstance(value, (list, tuple)) or len(value) != num_controls:
        got = f"{len(value)} rows" if isinstance(value, (list, tuple)) else type_name(value)
        issues.add(loc, f"expected one row per action ({num_controls}), got {got}", "shape_mismatch")
        return None
    table = np.zeros((num_controls, len(states)), dtype=np.int64)
    for u, row in enumerate(value):
        if not isinstance(row, (list, tuple)) or len(row) != len(states):
            got = f"{len(row)} entries" if isinstance(row, (list, tuple)) else type_name(row)
            issues.add(
                loc, f"expected one next state per state ({len(states)}), got {got}", "shape_mismatch", (u,)
            )
            return None
        for s, entry in enumerate(row):
            index = _index_or_name(entry, states, lookup)
            if index is None:
                issues.add(
                    loc,
                    f"expected a state index 0..{len(states) - 1} or a state name, got {entry!r}"[:200],
                    "out_of_range",
                    (u, s),
                )
                return None
            table[u, s] = index
    table.setflags(write=False)
    return table


@dataclass
class _FactorHead:
    name: str | None
    states: tuple[str, ...] | None
    actions: tuple[str, ...] | None
    body: Mapping[str, object]


@dataclass
class _ModalityHead:
    name: str | None
    observations: tuple[str, ...] | None
    depends_on: tuple[int, ...] | None
    body: Mapping[str, object]


def spec_from_mapping(mapping: object, caps: ModelCaps = DEFAULT_CAPS) -> ModelSpec:
    """Validate a parsed JSON/YAML document and return the :class:`ModelSpec` it describes.

    Raises :class:`~freeagentics.domain.models.errors.ModelValidationError` listing every problem found.
    Sizes are checked against ``caps`` from the declared names before any tensor is read.
    """
    issues = IssueCollector()
    with collecting(issues):
        spec = _parse_spec(mapping, issues, caps)
    issues.raise_if_any()
    assert spec is not None
    return spec


def _parse_spec(mapping: object, issues: IssueCollector, caps: ModelCaps) -> ModelSpec | None:
    root = _mapping(mapping, (), issues, _TOP_KEYS, ("factors", "modalities"))
    if root is None:
        return None
    if "version" in root and (not is_number(root["version"]) or root["version"] != SPEC_VERSION):
        issues.add(
            ("version",),
            f"unsupported version {root['version']!r}; expected {SPEC_VERSION}"[:200],
            "invalid_value",
        )
    name = None
    if "name" in root:
        name = check_name(root["name"], ("name",), issues, caps.max_name_length)
    description = _description(root.get("description", ""), ("description",), issues) or ""
    policy_len = _positive_int(root.get("policy_len", 1), ("policy_len",), issues)

    # Phase 1: names and structure, so every size is known before any tensor is parsed.
    factors_raw = root["factors"]
    modalities_raw = root["modalities"]
    if not isinstance(factors_raw, (list, tuple)) or not factors_raw:
        issues.add(
            ("factors",), f"expected a non-empty list of factors, got {type_name(factors_raw)}", "type_error"
        )
        return None
    if not isinstance(modalities_raw, (list, tuple)) or not modalities_raw:
        issues.add(
            ("modalities",),
            f"expected a non-empty list of modalities, got {type_name(modalities_raw)}",
            "type_error",
        )
        return None
    if len(factors_raw) > caps.max_factors:
        issues.add(
            ("factors",), f"{len(factors_raw)} factors, over the cap of {caps.max_factors}", "too_large"
        )
    if len(modalities_raw) > caps.max_modalities:
        issues.add(
            ("modalities",),
            f"{len(modalities_raw)} modalities, over the cap of {caps.max_modalities}",
            "too_large",
        )
    if issues:
        return None

    factor_heads: list[_FactorHead] = []
    for f, raw in enumerate(factors_raw):
        loc: Loc = ("factors", f)
        body = _mapping(raw, loc, issues, _FACTOR_KEYS, ("name", "states"))
        if body is None:
            continue
        fname = check_name(body["name"], (*loc, "name"), issues, caps.max_name_length)
        states = _name_list(
            body["states"], (*loc, "states"), issues, caps, "state", caps.max_states_per_factor
        )
        actions: tuple[str, ...] | None = ()
        if "actions" in body:
            actions = _name_list(
                body["actions"], (*loc, "actions"), issues, caps, "action", caps.max_controls_per_factor
            )
        if "B" in body and "transitions" in body:
            issues.add(loc, "give either 'B' or 'transitions', not both", "invalid_value")
        elif (
            actions
            and "B" not in body
            and "transitions" not in body
            and not (isinstance(body.get("pB"), (list, tuple)) or _is_flat(body.get("pB")))
        ):
            issues.add(
                (*loc, "B"), "a controllable factor needs 'B', 'transitions' or counts 'pB'", "missing"
            )
        factor_heads.append(_FactorHead(fname, states, actions, body))
    check_unique([h.name for h in factor_heads], ("factors",), issues, "factor name")
    factor_index = {h.name: f for f, h in enumerate(factor_heads) if h.name is not None}

    modality_heads: list[_ModalityHead] = []
    for m, raw in enumerate(modalities_raw):
        loc = ("modalities", m)
        body = _mapping(raw, loc, issues, _MODALITY_KEYS, ("name", "observations"))
        if body is None:
            continue
        mname = check_name(body["name"], (*loc, "name"), issues, caps.max_name_length)
        observations = _name_list(
            body["observations"],
            (*loc, "observations"),
            issues,
            caps,
            "observation",
            caps.max_observations_per_modality,
        )
        depends_on: tuple[int, ...] | None = tuple(range(len(factor_heads)))
        if "depends_on" in body:
            depends_on = _depends_on(body["depends_on"], (*loc, "depends_on"), issues, factor_index)
        if "A" not in body and not isinstance(body.get("pA"), (list, tuple)):
            issues.add((*loc, "A"), "field required (or explicit counts 'pA')", "missing")
        modality_heads.append(_ModalityHead(mname, observations, depends_on, body))
    check_unique([h.name for h in modality_heads], ("modalities",), issues, "modality name")
    structure_known = (
        len(factor_heads) == len(factors_raw)
        and len(modality_heads) == len(modalities_raw)
        and all(h.states is not None and h.actions is not None for h in factor_heads)
        and all(h.observations is not None and h.depends_on is not None for h in modality_heads)
    )
    if not structure_known or policy_len is None:
        return None

    num_states = [len(h.states) for h in factor_heads if h.states is not None]
    num_controls = [len(h.actions) if h.actions else 1 for h in factor_heads]
    control_factors = [f for f, h in enumerate(factor_heads) if h.actions]
    num_obs = [len(h.observations) for h in modality_heads if h.observations is not None]
    a_shapes = [
        (len(h.observations or ()), *(num_states[f] for f in h.depends_on or ())) for h in modality_heads
    ]
    b_shapes = [(ns, ns, nu) for ns, nu in zip(num_states, num_controls, strict=True)]

    # Phase 2: caps from the declared sizes.
    if policy_len > caps.max_policy_len:
        issues.add(
            ("policy_len",), f"policy_len {policy_len} is over the cap of {caps.max_policy_len}", "too_large"
        )
        return None
    if "policies" in root:
        raw_policies = root["policies"]
        num_policies = len(raw_policies) if isinstance(raw_policies, (list, tuple)) else 0
    else:
        num_policies = count_policies(num_controls, control_factors, policy_len)
    if num_policies > caps.max_policies:
        issues.add(
            ("policies",), f"{num_policies} policies, over the cap of {caps.max_policies}", "too_large"
        )
    learned_shapes: list[tuple[int, ...]] = [
        shape for head, shape in zip(factor_heads, b_shapes, strict=True) if "pB" in head.body
    ]
    learned_shapes += [
        shape for head, shape in zip(modality_heads, a_shapes, strict=True) if "pA" in head.body
    ]
    learned_shapes += [(len(head.states or ()),) for head in factor_heads if "pD" in head.body]
    learned_bytes = sum(tensor_nbytes(shape) for shape in learned_shapes)
    total_bytes = (
        sum(tensor_nbytes(s) for s in a_shapes)
        + sum(tensor_nbytes(s) for s in b_shapes)
        + 8 * (sum(num_obs) + sum(num_states) + num_policies)
        + learned_bytes
        + (8 * num_policies * policy_len * len(num_states) if "policies" in root else 0)
    )
    if total_bytes > caps.max_tensor_bytes:
        issues.add(
            (),
            f"model tensors need {total_bytes} bytes, over the cap of {caps.max_tensor_bytes}",
            "too_large",
        )
    if any(issue.type == "too_large" for issue in issues):
        return None

    # Phase 3: tensors, each against its declared shape.
    factors = [_parse_factor(f, head, b_shapes[f], issues) for f, head in enumerate(factor_heads)]
    modalities = [
        _parse_modality(
            m, head, a_shapes[m], [factor_heads[f].name or "" for f in head.depends_on or ()], issues
        )
        for m, head in enumerate(modality_heads)
    ]
    policies = None
    if "policies" in root:
        policies = _parse_policies(root["policies"], issues, policy_len, num_controls, control_factors)
        if policies is not None:
            num_policies = int(policies.shape[0])
    E = None
    if "E" in root:
        E = parse_tensor(root["E"], ("E",), issues, shape=(num_policies,), shape_note="one entry per policy")
        if E is not None and not check_probability_tensor(E, ("E",), issues):
            E = None
    if issues:
        return None
    return ModelSpec(
        factors=tuple(f for f in factors if f is not None),
        modalities=tuple(m for m in modalities if m is not None),
        policy_len=policy_len,
        E=E,
        policies=policies,
        name=name,
        description=description,
    )


def _is_flat(value: object) -> bool:
    return isinstance(value, Mapping) and "flat" in value


def _depends_on(
    value: object, loc: Loc, issues: IssueCollector, factor_index: Mapping[str, int]
) -> tuple[int, ...] | None:
    if not isinstance(value, (list, tuple)) or not value:
        issues.add(loc, f"expected a non-empty list of factor names, got {type_name(value)}", "type_error")
        return None
    out: list[int] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, str) or entry not in factor_index:
            issues.add((*loc, i), f"unknown factor {entry!r}"[:200], "invalid_value")
            return None
        index = factor_index[entry]
        if out and index <= out[-1]:
            issues.add(
                (*loc, i), "list the factors once each, in the order they are declared", "invalid_value"
            )
            return None
        out.append(index)
    return tuple(out)


def _parse_factor(
    f: int, head: _FactorHead, b_shape: tuple[int, int, int], issues: IssueCollector
) -> FactorSpec | None:
    loc: Loc = ("factors", f)
    body = head.body
    if head.states is None:
        return None
    num_states = len(head.states)
    B = transitions = D = None
    pB = pD = None
    if "B" in body:
        B = parse_tensor(
            body["B"], (*loc, "B"), issues, shape=b_shape, shape_note="(states, states, actions)"
        )
        if B is not None and not check_probability_tensor(B, (*loc, "B"), issues):
            B = None
    if "transitions" in body:
        transitions = _transitions(
            body["transitions"], (*loc, "transitions"), issues, head.states, b_shape[2]
        )
    if "D" in body:
        D = parse_tensor(
            body["D"], (*loc, "D"), issues, shape=(num_states,), shape_note="one entry per state"
        )
        if D is not None and not check_probability_tensor(D, (*loc, "D"), issues):
            D = None
    if "pB" in body:
        if (
            isinstance(body["pB"], Mapping)
            and "scale" in body["pB"]
            and "B" not in body
            and "transitions" not in body
        ):
            issues.add((*loc, "pB"), "{scale: s} needs 'B' or 'transitions' to scale", "invalid_value")
        else:
            pB = _dirichlet(body["pB"], (*loc, "pB"), issues, b_shape, "the shape of B")
    if "pD" in body:
        if isinstance(body["pD"], Mapping) and "scale" in body["pD"] and "D" not in body:
            issues.add((*loc, "pD"), "{scale: s} needs 'D' to scale", "invalid_value")
        else:
            pD = _dirichlet(body["pD"], (*loc, "pD"), issues, (num_states,), "the shape of D")
    if head.name is None or head.actions is None:
        return None
    return FactorSpec(
        name=head.name,
        states=head.states,
        actions=head.actions,
        B=B,
        transitions=transitions,
        D=D,
        pB=pB,
        pD=pD,
    )


def _parse_modality(
    m: int, head: _ModalityHead, a_shape: tuple[int, ...], dep_names: list[str], issues: IssueCollector
) -> ModalitySpec | None:
    loc: Loc = ("modalities", m)
    body = head.body
    if head.observations is None:
        return None
    note = f"(observations, {', '.join(dep_names)})"
    A = C = None
    pA = None
    if "A" in body:
        A = parse_tensor(body["A"], (*loc, "A"), issues, shape=a_shape, shape_note=note)
        if A is not None and not check_probability_tensor(A, (*loc, "A"), issues):
            A = None
    if "C" in body:
        C = parse_tensor(
            body["C"], (*loc, "C"), issues, shape=(a_shape[0],), shape_note="one per observation"
        )
    if "pA" in body:
        if isinstance(body["pA"], Mapping) and "A" not in body:
            issues.add((*loc, "pA"), "{flat: c} or {scale: s} needs 'A' as well", "invalid_value")
        else:
            pA = _dirichlet(body["pA"], (*loc, "pA"), issues, a_shape, "the shape of A")
    if head.name is None:
        return None
    return ModalitySpec(
        name=head.name, observations=head.observations, depends_on=tuple(dep_names), A=A, C=C, pA=pA
    )


def _parse_policies(
    value: object,
    issues: IssueCollector,
    policy_len: int,
    num_controls: Sequence[int],
    control_factors: Sequence[int],
) -> IntArray | None:
    loc: Loc = ("policies",)
    num_policies = len(value) if isinstance(value, (list, tuple)) else 0
    if num_policies == 0:
        issues.add(loc, "expected a non-empty list of policies", "invalid_value")
        return None
    parsed = parse_tensor(
        value,
        loc,
        issues,
        shape=(num_policies, policy_len, len(num_controls)),
        shape_note="(policies, policy_len, factors)",
    )
    if parsed is None:
        return None
    bad = (parsed != np.round(parsed)) | (parsed < 0) | (parsed >= np.asarray(num_controls))
    uncontrolled = [f for f in range(len(num_controls)) if f not in control_factors]
    bad[..., uncontrolled] |= parsed[..., uncontrolled] != 0
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        issues.add(
            loc,
            f"entry {parsed[index]!r} is not an action index of factor {index[2]} "
            f"(0..{num_controls[index[2]] - 1}; uncontrolled factors take 0)",
            "out_of_range",
            index,
        )
        return None
    table = parsed.astype(np.int64)
    table.setflags(write=False)
    return table


# ----------------------------------------------------------------------------------------------------
# Compiling


def _normalised(counts: FloatArray) -> FloatArray:
    result: FloatArray = counts / counts.sum(axis=0, keepdims=True)
    return result


def _dense_transitions(table: IntArray) -> FloatArray:
    num_controls, num_states = table.shape
    B = np.zeros((num_states, num_states, num_controls))
    states = np.arange(num_states)
    for u in range(num_controls):
        B[table[u], states, u] = 1.0
    return B


def compile_spec(spec: ModelSpec, caps: ModelCaps = DEFAULT_CAPS) -> CompiledModel:
    """Compile a validated spec into the engine's :class:`CompiledModel` and check it against ``caps``.

    Deterministic ``transitions`` become one-hot ``B`` columns (the engine recovers the index table with
    :func:`~freeagentics.domain.models.compiled.transition_table`).
    """
    factor_index = {f.name: i for i, f in enumerate(spec.factors)}
    B: list[FloatArray] = []
    D: list[FloatArray] = []
    pB: list[FloatArray | None] = []
    pD: list[FloatArray | None] = []
    for factor in spec.factors:
        ns, nu = len(factor.states), factor.num_controls
        if factor.B is not None:
            B_f = factor.B
        elif factor.transitions is not None:
            B_f = _dense_transitions(factor.transitions)
        elif factor.pB is not None and factor.pB.counts is not None:
            B_f = _normalised(factor.pB.counts)
        elif factor.pB is not None and factor.pB.flat is not None:
            B_f = np.full((ns, ns, nu), 1.0 / ns)
        else:
            B_f = np.repeat(np.eye(ns)[:, :, None], nu, axis=2)
        if factor.D is not None:
            D_f = factor.D
        elif factor.pD is not None and factor.pD.counts is not None:
            D_f = _normalised(factor.pD.counts)
        else:
            D_f = np.full(ns, 1.0 / ns)
        B.append(B_f)
        D.append(D_f)
        pB.append(None if factor.pB is None else factor.pB.resolve(B_f))
        pD.append(None if factor.pD is None else factor.pD.resolve(D_f))
    A: list[FloatArray] = []
    C: list[FloatArray] = []
    pA: list[FloatArray | None] = []
    for modality in spec.modalities:
        if modality.A is not None:
            A_m = modality.A
        else:
            assert modality.pA is not None
            assert modality.pA.counts is not None
            A_m = _normalised(modality.pA.counts)
        A.append(A_m)
        C.append(modality.C if modality.C is not None else np.zeros(len(modality.observations)))
        pA.append(None if modality.pA is None else modality.pA.resolve(A_m))
    metadata: dict[str, object] = {"description": spec.description}
    if spec.name is not None:
        metadata["name"] = spec.name
    model = CompiledModel(
        A=tuple(A),
        B=tuple(B),
        C=tuple(C),
        D=tuple(D),
        A_factor_list=tuple(tuple(factor_index[n] for n in m.depends_on) for m in spec.modalities),
        control_factors=tuple(f for f, factor in enumerate(spec.factors) if factor.controllable),
        policy_len=spec.policy_len,
        E=spec.E,
        policies=spec.policies,
        pA=tuple(pA) if any(p is not None for p in pA) else None,
        pB=tuple(pB) if any(p is not None for p in pB) else None,
        pD=tuple(pD) if any(p is not None for p in pD) else None,
        factor_names=tuple(f.name for f in spec.factors),
        state_names=tuple(f.states for f in spec.factors),
        modality_names=tuple(m.name for m in spec.modalities),
        observation_names=tuple(m.observations for m in spec.modalities),
        action_names=tuple(f.actions for f in spec.factors),
        metadata=metadata,
    )
    model.check_caps(caps)
    return model


def compile_mapping(mapping: object, caps: ModelCaps = DEFAULT_CAPS) -> CompiledModel:
    """:func:`spec_from_mapping` then :func:`compile_spec`: a parsed document straight to a model."""
    return compile_spec(spec_from_mapping(mapping, caps), caps)


# ----------------------------------------------------------------------------------------------------
# Writing


def _nested(array: np.ndarray) -> object:
    return array.tolist()


def _dirichlet_to_mapping(spec: DirichletSpec) -> object:
    if spec.counts is not None:
        return _nested(spec.counts)
    if spec.flat is not None:
        return {"flat": spec.flat}
    return {"scale": spec.scale}


def spec_to_mapping(spec: ModelSpec) -> dict[str, object]:
    """The document for ``spec``: plain lists, numbers and strings, ready for ``json.dumps`` or YAML.

    ``spec_from_mapping(spec_to_mapping(spec))`` describes the same model.
    """
    factors: list[dict[str, object]] = []
    for factor in spec.factors:
        entry: dict[str, object] = {"name": factor.name, "states": list(factor.states)}
        if factor.actions:
            entry["actions"] = list(factor.actions)
        if factor.transitions is not None:
            entry["transitions"] = _nested(factor.transitions)
        if factor.B is not None:
            entry["B"] = _nested(factor.B)
        if factor.D is not None:
            entry["D"] = _nested(factor.D)
        if factor.pB is not None:
            entry["pB"] = _dirichlet_to_mapping(factor.pB)
        if factor.pD is not None:
            entry["pD"] = _dirichlet_to_mapping(factor.pD)
        factors.append(entry)
    modalities: list[dict[str, object]] = []
    for modality in spec.modalities:
        mentry: dict[str, object] = {
            "name": modality.name,
            "observations": list(modality.observations),
            "depends_on": list(modality.depends_on),
        }
        if modality.A is not None:
            mentry["A"] = _nested(modality.A)
        if modality.C is not None:
            mentry["C"] = _nested(modality.C)
        if modality.pA is not None:
            mentry["pA"] = _dirichlet_to_mapping(modality.pA)
        modalities.append(mentry)
    out: dict[str, object] = {"version": SPEC_VERSION}
    if spec.name is not None:
        out["name"] = spec.name
    if spec.description:
        out["description"] = spec.description
    out["policy_len"] = spec.policy_len
    out["factors"] = factors
    out["modalities"] = modalities
    if spec.E is not None:
        out["E"] = _nested(spec.E)
    if spec.policies is not None:
        out["policies"] = _nested(spec.policies)
    return out


def spec_from_compiled(model: CompiledModel, name: str | None = None, description: str = "") -> ModelSpec:
    """Describe a compiled model (a template, or pymdp arrays) as a spec.

    Missing names are generated (``factor_0``, ``s0``, ``o0``, ``u0``); deterministic ``B`` factors are
    written as ``transitions``.
    """
    factor_names = model.factor_names or tuple(f"factor_{f}" for f in range(model.num_factors))
    modality_names = model.modality_names or tuple(f"modality_{m}" for m in range(model.num_modalities))
    state_names = model.state_names or tuple(tuple(f"s{i}" for i in range(n)) for n in model.num_states)
    observation_names = model.observation_names or tuple(
        tuple(f"o{i}" for i in range(n)) for n in model.num_obs
    )
    factors = []
    for f, B_f in enumerate(model.B):
        controllable = f in model.control_factors
        actions: tuple[str, ...] = ()
        if controllable:
            given = model.action_names[f] if model.action_names else ()
            actions = given or tuple(f"u{i}" for i in range(model.num_controls[f]))
        table = transition_table(B_f)
        factors.append(
            FactorSpec(
                name=factor_names[f],
                states=state_names[f],
                actions=actions,
                B=None if table is not None else B_f,
                transitions=None if table is None else np.ascontiguousarray(table.T),
                D=model.D[f],
                pB=None if model.pB is None or model.pB[f] is None else DirichletSpec(counts=model.pB[f]),
                pD=None if model.pD is None or model.pD[f] is None else DirichletSpec(counts=model.pD[f]),
            )
        )
    modalities = tuple(
        ModalitySpec(
            name=modality_names[m],
            observations=observation_names[m],
            depends_on=tuple(factor_names[f] for f in model.A_factor_list[m]),
            A=model.A[m],
            C=model.C[m],
            pA=None if model.pA is None or model.pA[m] is None else DirichletSpec(counts=model.pA[m]),
        )
        for m in range(model.num_modalities)
    )
    meta_name = model.metadata.get("name")
    return ModelSpec(
        factors=tuple(factors),
        modalities=modalities,
        policy_len=model.policy_len,
        E=model.E,
        policies=model.policies,
        name=name if name is not None else (meta_name if isinstance(meta_name, str) else None),
        description=description,
    )
