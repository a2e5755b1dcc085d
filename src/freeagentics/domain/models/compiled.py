"""The interchange format between model specs/templates and the inference engine.

A :class:`CompiledModel` holds a discrete POMDP generative model as plain NumPy arrays in pymdp's list
conventions, plus the names that make it readable. Specs and templates produce it; the engine builds its
optimised, shared representation from it (``freeagentics.domain.engine``).

Shapes (pymdp notation; ``Ns[f]`` states of factor ``f``, ``No[m]`` outcomes of modality ``m``,
``Nu[f]`` controls of factor ``f``):

- ``A[m]``: ``(No[m], *[Ns[f] for f in A_factor_list[m]])``, columns sum to 1 over axis 0.
- ``B[f]``: ``(Ns[f], Ns[f], Nu[f])`` indexed ``B[f][s_next, s, u]``, columns sum to 1 over axis 0.
  Uncontrolled factors have ``Nu[f] == 1``.
- ``C[m]``: ``(No[m],)`` log-preferences over outcomes (higher is preferred; not normalised).
- ``D[f]``: ``(Ns[f],)`` initial state prior, sums to 1.
- ``E``: ``(num_policies,)`` policy prior, or ``None`` for uniform.
- ``policies``: ``(num_policies, policy_len, num_factors)`` action indices, or ``None`` for pymdp's
  enumeration (:func:`enumerate_policies`).
- ``pA``/``pB``/``pD``: Dirichlet concentration parameters with the shapes of ``A``/``B``/``D``, or ``None``
  when that part does not learn. As in pymdp 1.0, a single entry may be ``None`` (that modality or factor
  does not learn while the others do).

Construction validates everything (shapes, normalisation within ``SUM_TOLERANCE``, finiteness, signs, index
ranges, names) and raises :class:`~freeagentics.domain.models.errors.ModelValidationError` naming each
offending tensor, e.g. ``A[1]`` and the column index. Tensors are copied into read-only float64 arrays: the
model is shared by every agent of a population and must never change under them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.models.errors import IssueCollector, Loc, collecting
from freeagentics.domain.models.validation import (
    DEFAULT_CAPS,
    ModelCaps,
    check_dirichlet_tensor,
    check_name,
    check_probability_tensor,
    check_unique,
    infer_shape,
    is_number,
    parse_tensor,
    tensor_nbytes,
    type_name,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def enumerate_policies(
    num_controls: Sequence[int], control_factors: Sequence[int], policy_len: int
) -> IntArray:
    """All policies in pymdp's order: shape ``(num_policies, policy_len, num_factors)``.

    Controlled factors range over their actions at every step; the others always take action 0. The order is
    ``itertools.product`` over (step 0 factor 0, step 0 factor 1, ..., step 1 factor 0, ...), as in pymdp.
    """
    per_factor = [num_controls[f] if f in control_factors else 1 for f in range(len(num_controls))]
    ranges = [range(n) for n in per_factor] * policy_len
    table = np.array(list(itertools.product(*ranges)), dtype=np.int64)
    return table.reshape(-1, policy_len, len(num_controls))


def count_policies(num_controls: Sequence[int], control_factors: Sequence[int], policy_len: int) -> int:
    """Number of enumerated policies, computed without building them."""
    per_step: int = math.prod(num_controls[f] for f in control_factors)
    return int(per_step**policy_len)


def transition_table(B_f: FloatArray) -> IntArray | None:
    """Next-state index table ``(Ns, Nu)`` when ``B_f`` is deterministic (one-hot columns), else ``None``.

    ``table[s, u]`` is the state reached from ``s`` under action ``u``; the engine can use it to replace a
    matrix product by a gather.
    """
    is_one_hot = np.all((B_f == 0.0) | (B_f == 1.0)) and np.all(B_f.sum(axis=0) == 1.0)
    if not is_one_hot:
        return None
    return np.asarray(B_f.argmax(axis=0), dtype=np.int64)


def _readonly(array: FloatArray) -> FloatArray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class CompiledModel:
    """A validated generative model in pymdp's list-of-arrays form (see module docstring for shapes)."""

    A: tuple[FloatArray, ...]
    B: tuple[FloatArray, ...]
    C: tuple[FloatArray, ...]
    D: tuple[FloatArray, ...]
    A_factor_list: tuple[tuple[int, ...], ...]
    control_factors: tuple[int, ...]
    policy_len: int = 1
    E: FloatArray | None = None
    policies: NDArray[np.int64] | None = None
    pA: tuple[FloatArray | None, ...] | None = None
    pB: tuple[FloatArray | None, ...] | None = None
    pD: tuple[FloatArray | None, ...] | None = None
    factor_names: tuple[str, ...] = ()
    state_names: tuple[tuple[str, ...], ...] = ()
    modality_names: tuple[str, ...] = ()
    observation_names: tuple[tuple[str, ...], ...] = ()
    action_names: tuple[tuple[str, ...], ...] = ()
    metadata: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        issues = IssueCollector()
        with collecting(issues):
            checked = _check_model(self, issues)
        issues.raise_if_any()
        assert checked is not None
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def num_states(self) -> tuple[int, ...]:
        return tuple(int(b.shape[0]) for b in self.B)

    @property
    def num_obs(self) -> tuple[int, ...]:
        return tuple(int(a.shape[0]) for a in self.A)

    @property
    def num_controls(self) -> tuple[int, ...]:
        return tuple(int(b.shape[2]) for b in self.B)

    @property
    def num_factors(self) -> int:
        return len(self.B)

    @property
    def num_modalities(self) -> int:
        return len(self.A)

    @property
    def num_policies(self) -> int:
        if self.policies is not None:
            return int(self.policies.shape[0])
        return count_policies(self.num_controls, self.control_factors, self.policy_len)

    def policy_table(self) -> IntArray:
        """The explicit policies, or pymdp's enumeration: ``(num_policies, policy_len, num_factors)``."""
        if self.policies is not None:
            return self.policies
        return enumerate_policies(self.num_controls, self.control_factors, self.policy_len)

    @property
    def tensor_nbytes(self) -> int:
        """Bytes of every model tensor together (what ``ModelCaps.max_tensor_bytes`` bounds)."""
        arrays: list[np.ndarray] = [*self.A, *self.B, *self.C, *self.D]
        for part in (self.pA, self.pB, self.pD):
            if part is not None:
                arrays.extend(p for p in part if p is not None)
        if self.E is not None:
            arrays.append(self.E)
        if self.policies is not None:
            arrays.append(self.policies)
        return sum(int(a.nbytes) for a in arrays)

    def check_caps(self, caps: ModelCaps = DEFAULT_CAPS) -> None:
        """Raise :class:`ModelValidationError` when the model exceeds ``caps``."""
        issues = IssueCollector()
        with collecting(issues):
            check_sizes(
                issues,
                caps,
                num_states=self.num_states,
                num_obs=self.num_obs,
                num_controls=self.num_controls,
                policy_len=self.policy_len,
                num_policies=self.num_policies,
                tensor_bytes=self.tensor_nbytes,
                factor_locs=[("B", f) for f in range(self.num_factors)],
                modality_locs=[("A", m) for m in range(self.num_modalities)],
            )
        issues.raise_if_any()


def check_sizes(
    issues: IssueCollector,
    caps: ModelCaps,
    *,
    num_states: Sequence[int],
    num_obs: Sequence[int],
    num_controls: Sequence[int],
    policy_len: int,
    num_policies: int,
    tensor_bytes: int,
    factor_locs: Sequence[Loc],
    modality_locs: Sequence[Loc],
    factors_loc: Loc = ("B",),
    modalities_loc: Loc = ("A",),
    policies_loc: Loc = ("policies",),
    policy_len_loc: Loc = ("policy_len",),
    bytes_loc: Loc = (),
) -> bool:
    """Record an issue for every size over ``caps``; returns whether all sizes are within them."""
    before = len(issues.issues)
    if len(num_states) > caps.max_factors:
        issues.add(factors_loc, f"{len(num_states)} factors, over the cap of {caps.max_factors}", "too_large")
    if len(num_obs) > caps.max_modalities:
        issues.add(
            modalities_loc, f"{len(num_obs)} modalities, over the cap of {caps.max_modalities}", "too_large"
        )
    for loc, ns, nu in zip(factor_locs, num_states, num_controls, strict=True):
        if ns > caps.max_states_per_factor:
            issues.add(loc, f"{ns} states, over the cap of {caps.max_states_per_factor}", "too_large")
        if nu > caps.max_controls_per_factor:
            issues.add(loc, f"{nu} actions, over the cap of {caps.max_controls_per_factor}", "too_large")
    for loc, no in zip(modality_locs, num_obs, strict=True):
        if no > caps.max_observations_per_modality:
            issues.add(
                loc, f"{no} observations, over the cap of {caps.max_observations_per_modality}", "too_large"
            )
    if policy_len > caps.max_policy_len:
        issues.add(
            policy_len_loc, f"policy_len {policy_len} is over the cap of {caps.max_policy_len}", "too_large"
        )
    if num_policies > caps.max_policies:
        issues.add(policies_loc, f"{num_policies} policies, over the cap of {caps.max_policies}", "too_large")
    if tensor_bytes > caps.max_tensor_bytes:
        issues.add(
            bytes_loc,
            f"model tensors need {tensor_bytes} bytes, over the cap of {caps.max_tensor_bytes}",
            "too_large",
        )
    return len(issues.issues) == before


def _index_list(
    value: object, loc: Loc, issues: IssueCollector, bound: int, *, strictly_increasing: bool
) -> tuple[int, ...] | None:
    if not isinstance(value, (list, tuple)) and not (isinstance(value, np.ndarray) and value.ndim == 1):
        issues.add(loc, f"expected a list of factor indices, got {type_name(value)}", "type_error")
        return None
    out: list[int] = []
    for i, entry in enumerate(value):
        if not is_number(entry) or int(entry) != entry:
            issues.add((*loc, i), f"expected an integer index, got {entry!r}", "type_error")
            return None
        index = int(entry)
        if not 0 <= index < bound:
            issues.add((*loc, i), f"index {index} is out of range 0..{bound - 1}", "out_of_range")
            return None
        if strictly_increasing and out and index <= out[-1]:
            issues.add(
                (*loc, i), "indices must be strictly increasing (factor order, no repeats)", "invalid_value"
            )
            return None
        out.append(index)
    return tuple(out)


def _tensor_list(
    value: object, loc: Loc, issues: IssueCollector, *, allow_none_entries: bool
) -> list[object] | None:
    if isinstance(value, np.ndarray) and value.dtype == object:
        value = list(value)  # pymdp's legacy object arrays
    if not isinstance(value, (list, tuple)):
        issues.add(loc, f"expected a list of arrays, got {type_name(value)}", "type_error")
        return None
    if not value:
        issues.add(loc, "expected at least one array", "invalid_value")
        return None
    if not allow_none_entries and any(v is None for v in value):
        issues.add((*loc, next(i for i, v in enumerate(value) if v is None)), "array is missing", "missing")
        return None
    return list(value)


def _check_names(
    model: CompiledModel,
    issues: IssueCollector,
    num_states: Sequence[int],
    num_obs: Sequence[int],
    num_controls: Sequence[int],
) -> dict[str, object]:
    max_len = DEFAULT_CAPS.max_name_length

    def names(value: object, loc: Loc, count: int, what: str) -> tuple[str, ...] | None:
        if not isinstance(value, (list, tuple)):
            issues.add(loc, f"expected a list of names, got {type_name(value)}", "type_error")
            return None
        if what == "action" and count == 1 and len(value) == 0:
            return ()  # an uncontrolled factor's single implicit action needs no name
        if len(value) != count:
            issues.add(loc, f"expected {count} {what} names, got {len(value)}", "shape_mismatch")
            return None
        checked = [check_name(v, (*loc, i), issues, max_len) for i, v in enumerate(value)]
        if any(c is None for c in checked) or not check_unique(checked, loc, issues, f"{what} name"):
            return None
        return tuple(c for c in checked if c is not None)

    def nested(
        value: object, loc: Loc, counts: Sequence[int], what: str
    ) -> tuple[tuple[str, ...], ...] | None:
        if not isinstance(value, (list, tuple)):
            issues.add(loc, f"expected a list of name lists, got {type_name(value)}", "type_error")
            return None
        if len(value) == 0:
            return ()
        if len(value) != len(counts):
            issues.add(
                loc, f"expected {len(counts)} lists of {what} names, got {len(value)}", "shape_mismatch"
            )
            return None
        out = [names(v, (*loc, i), n, what) for i, (v, n) in enumerate(zip(value, counts, strict=True))]
        return None if any(o is None for o in out) else tuple(o for o in out if o is not None)

    result: dict[str, object] = {}
    for attr, count, what in (
        ("factor_names", len(num_states), "factor"),
        ("modality_names", len(num_obs), "modality"),
    ):
        value = getattr(model, attr)
        if isinstance(value, (list, tuple)) and len(value) == 0:
            result[attr] = ()
        else:
            result[attr] = names(value, (attr,), count, what)
    for attr, counts, what in (
        ("state_names", num_states, "state"),
        ("observation_names", num_obs, "observation"),
        ("action_names", num_controls, "action"),
    ):
        result[attr] = nested(getattr(model, attr), (attr,), counts, what)
    return result


def _check_model(model: CompiledModel, issues: IssueCollector) -> dict[str, object] | None:
    """Validate and normalise every field; returns the coerced values, or ``None`` if structure is broken."""
    raw_B = _tensor_list(model.B, ("B",), issues, allow_none_entries=False)
    raw_A = _tensor_list(model.A, ("A",), issues, allow_none_entries=False)
    if raw_B is None or raw_A is None:
        return None

    B: list[FloatArray | None] = []
    for f, b in enumerate(raw_B):
        loc: Loc = ("B", f)
        array = parse_tensor(b, loc, issues, ndim=3)
        if array is not None and array.shape[0] != array.shape[1]:
            issues.add(loc, f"B[f] must have shape (Ns, Ns, Nu); got {array.shape}", "shape_mismatch")
            array = None
        if array is not None and 0 in array.shape:
            issues.add(loc, f"every axis needs at least one entry; got shape {array.shape}", "shape_mismatch")
            array = None
        if array is not None and not check_probability_tensor(array, loc, issues):
            array = None
        B.append(array)
    if any(b is None for b in B):
        return None
    B_ok = [b for b in B if b is not None]
    num_states = [int(b.shape[0]) for b in B_ok]
    num_controls = [int(b.shape[2]) for b in B_ok]
    num_factors = len(B_ok)

    # D depends only on B's sizes: check it before A so its problems are reported even when A is broken.
    D: list[FloatArray | None] = []
    raw_D = _tensor_list(model.D, ("D",), issues, allow_none_entries=False)
    if raw_D is not None and len(raw_D) != num_factors:
        issues.add(
            ("D",), f"expected {num_factors} arrays (one per factor), got {len(raw_D)}", "shape_mismatch"
        )
        raw_D = None
    if raw_D is not None:
        for f, d in enumerate(raw_D):
            array = parse_tensor(d, ("D", f), issues, shape=(num_states[f],), shape_note="Ns[f]")
            if array is not None and not check_probability_tensor(array, ("D", f), issues):
                array = None
            D.append(array)

    factor_list_raw = model.A_factor_list
    A_factor_list: list[tuple[int, ...]] = []
    if not isinstance(factor_list_raw, (list, tuple)) or len(factor_list_raw) != len(raw_A):
        issues.add(
            ("A_factor_list",),
            f"expected one list of factor indices per modality ({len(raw_A)})",
            "shape_mismatch",
        )
        return None
    for m, deps in enumerate(factor_list_raw):
        checked_deps = _index_list(deps, ("A_factor_list", m), issues, num_factors, strictly_increasing=True)
        if checked_deps is not None and not checked_deps:
            issues.add(("A_factor_list", m), "a modality must depend on at least one factor", "invalid_value")
            checked_deps = None
        if checked_deps is None:
            return None
        A_factor_list.append(checked_deps)

    A: list[FloatArray | None] = []
    for m, a in enumerate(raw_A):
        loc = ("A", m)
        deps = A_factor_list[m]
        array = parse_tensor(a, loc, issues, ndim=1 + len(deps))
        expected_tail = tuple(num_states[f] for f in deps)
        if array is not None and tuple(array.shape[1:]) != expected_tail:
            issues.add(
                loc,
                f"expected shape (No, {', '.join(map(str, expected_tail))}) for factors {list(deps)}, "
                f"got {array.shape}",
                "shape_mismatch",
            )
            array = None
        if array is not None and array.shape[0] == 0:
            issues.add(loc, "a modality needs at least one observation", "shape_mismatch")
            array = None
        if array is not None and not check_probability_tensor(array, loc, issues):
            array = None
        A.append(array)
    if any(a is None for a in A):
        return None
    A_ok = [a for a in A if a is not None]
    num_obs = [int(a.shape[0]) for a in A_ok]

    C: list[FloatArray | None] = []
    raw_C = _tensor_list(model.C, ("C",), issues, allow_none_entries=False)
    if raw_C is not None and len(raw_C) != len(A_ok):
        issues.add(
            ("C",), f"expected {len(A_ok)} arrays (one per modality), got {len(raw_C)}", "shape_mismatch"
        )
        raw_C = None
    if raw_C is not None:
        C = [
            parse_tensor(c, ("C", m), issues, shape=(num_obs[m],), shape_note="No[m]")
            for m, c in enumerate(raw_C)
        ]

    control_factors = _index_list(
        model.control_factors, ("control_factors",), issues, num_factors, strictly_increasing=True
    )

    if control_factors is not None:
        for f, nu in enumerate(num_controls):
            if nu > 1 and f not in control_factors:
                # pymdp enumerates every factor's actions whatever control_fac_idx says, so such a factor
                # would be silently controlled there; refuse the ambiguity instead.
                issues.add(
                    ("control_factors",),
                    f"factor {f} has {nu} actions but is not a control factor; "
                    "list it as one or give it a single action",
                    "invalid_value",
                )
    policy_len = model.policy_len
    if not is_number(policy_len) or int(policy_len) != policy_len or int(policy_len) < 1:
        issues.add(("policy_len",), f"expected a positive integer, got {policy_len!r}", "invalid_value")
        return None
    policy_len = int(policy_len)

    policies: IntArray | None = None
    if model.policies is not None and control_factors is not None:
        policies = _check_policies(model.policies, issues, policy_len, num_controls)
        if policies is None:
            return None
    E: FloatArray | None = None
    if model.E is not None:
        # Counted only when needed: an absurd policy_len must not stall construction on a huge power.
        num_policies = (
            int(policies.shape[0])
            if policies is not None
            else count_policies(num_controls, control_factors or (), policy_len)
        )
        E = parse_tensor(model.E, ("E",), issues, shape=(num_policies,), shape_note="one entry per policy")
        if E is not None and not check_probability_tensor(E, ("E",), issues):
            E = None

    learned: dict[str, tuple[FloatArray | None, ...] | None] = {}
    for name, shapes in (
        ("pA", [a.shape for a in A_ok]),
        ("pB", [b.shape for b in B_ok]),
        ("pD", [(n,) for n in num_states]),
    ):
        learned[name] = _check_counts(getattr(model, name), name, shapes, issues)

    names = _check_names(model, issues, num_states, num_obs, num_controls)

    if not isinstance(model.metadata, dict):
        issues.add(("metadata",), f"expected a mapping, got {type_name(model.metadata)}", "type_error")

    if issues:
        return None
    return {
        "A": tuple(_readonly(a) for a in A_ok),
        "B": tuple(_readonly(b) for b in B_ok),
        "C": tuple(_readonly(c) for c in C if c is not None),
        "D": tuple(_readonly(d) for d in D if d is not None),
        "A_factor_list": tuple(A_factor_list),
        "control_factors": control_factors,
        "policy_len": policy_len,
        "E": None if E is None else _readonly(E),
        "policies": policies,
        **learned,
        **names,
    }


def _check_policies(
    value: object, issues: IssueCollector, policy_len: int, num_controls: Sequence[int]
) -> IntArray | None:
    loc: Loc = ("policies",)
    parsed = parse_tensor(value, loc, issues, ndim=3)
    if parsed is None:
        return None
    if parsed.shape[1:] != (policy_len, len(num_controls)) or parsed.shape[0] == 0:
        issues.add(
            loc,
            f"expected shape (num_policies >= 1, policy_len={policy_len}, num_factors={len(num_controls)}), "
            f"got {parsed.shape}",
            "shape_mismatch",
        )
        return None
    not_integer = parsed != np.round(parsed)
    if not_integer.any():
        index = tuple(int(i) for i in np.argwhere(not_integer)[0])
        issues.add(loc, "policy entries must be integer action indices", "type_error", index)
        return None
    table = parsed.astype(np.int64)
    out_of_range = (table < 0) | (table >= np.asarray(num_controls, dtype=np.int64))
    if out_of_range.any():
        index = tuple(int(i) for i in np.argwhere(out_of_range)[0])
        issues.add(
            loc,
            f"action {int(table[index])} is out of range for factor {index[2]} "
            f"(it has {num_controls[index[2]]} actions)",
            "out_of_range",
            index,
        )
        return None
    table.setflags(write=False)
    return table


def _check_counts(
    value: object, name: str, shapes: Sequence[tuple[int, ...]], issues: IssueCollector
) -> tuple[FloatArray | None, ...] | None:
    if value is None:
        return None
    raw = _tensor_list(value, (name,), issues, allow_none_entries=True)
    if raw is None:
        return None
    if len(raw) != len(shapes):
        issues.add((name,), f"expected {len(shapes)} entries, got {len(raw)}", "shape_mismatch")
        return None
    out: list[FloatArray | None] = []
    for i, (entry, shape) in enumerate(zip(raw, shapes, strict=True)):
        if entry is None:
            out.append(None)
            continue
        loc: Loc = (name, i)
        array = parse_tensor(
            entry, loc, issues, shape=tuple(shape), shape_note=f"the shape of {name[1:]}[{i}]"
        )
        if array is not None and check_dirichlet_tensor(array, loc, issues):
            out.append(_readonly(array))
        else:
            out.append(None)
    return tuple(out)


def compile_arrays(
    A: Sequence[object],
    B: Sequence[object],
    C: Sequence[object] | None = None,
    D: Sequence[object] | None = None,
    E: object | None = None,
    *,
    A_factor_list: Sequence[Sequence[int]] | None = None,
    control_fac_idx: Sequence[int] | None = None,
    policy_len: int = 1,
    policies: object | None = None,
    pA: Sequence[object | None] | None = None,
    pB: Sequence[object | None] | None = None,
    pD: Sequence[object | None] | None = None,
    caps: ModelCaps = DEFAULT_CAPS,
    factor_names: Sequence[str] = (),
    state_names: Sequence[Sequence[str]] = (),
    modality_names: Sequence[str] = (),
    observation_names: Sequence[Sequence[str]] = (),
    action_names: Sequence[Sequence[str]] = (),
) -> CompiledModel:
    """Compile a model given the way pymdp takes it: lists of arrays (or nested lists) per modality/factor.

    Defaults follow pymdp: ``A_factor_list`` = every factor for every modality; ``control_fac_idx`` = the
    factors with more than one action; ``C`` = zeros (pymdp 1.0 uses ``1/No``, which differs by a constant
    per modality and so leaves ``q_pi`` unchanged); ``D`` = uniform; ``E`` = uniform. Sizes are checked
    against ``caps`` before any tensor is copied, then every tensor is validated like a spec's, with errors
    named ``A[m]``, ``B[f]``, ... Raises :class:`ModelValidationError`.
    """
    issues = IssueCollector()
    with collecting(issues):
        _precheck_sizes(A, B, issues, caps, policy_len, control_fac_idx, policies)
    issues.raise_if_any()
    b_shapes = [infer_shape(b, 3) for b in B]  # _precheck_sizes guarantees three axes
    num_states = [shape[0] for shape in b_shapes]
    controls = [shape[2] for shape in b_shapes]
    num_factors = len(B)
    num_obs = [infer_shape(a, None)[0] for a in A]
    factor_list = (
        tuple(tuple(int(f) for f in deps) for deps in A_factor_list)
        if A_factor_list is not None
        else tuple(tuple(range(num_factors)) for _ in A)
    )
    model = CompiledModel(
        A=tuple(A),  # type: ignore[arg-type]
        B=tuple(B),  # type: ignore[arg-type]
        C=tuple(C) if C is not None else tuple(np.zeros(n) for n in num_obs),  # type: ignore[arg-type]
        D=tuple(D) if D is not None else tuple(np.full(n, 1.0 / n) for n in num_states),  # type: ignore[arg-type]
        A_factor_list=factor_list,
        control_factors=(
            tuple(int(f) for f in control_fac_idx)
            if control_fac_idx is not None
            else tuple(f for f, n in enumerate(controls) if n > 1)
        ),
        policy_len=policy_len,
        E=E,  # type: ignore[arg-type]
        policies=policies,  # type: ignore[arg-type]
        pA=None if pA is None else tuple(pA),  # type: ignore[arg-type]
        pB=None if pB is None else tuple(pB),  # type: ignore[arg-type]
        pD=None if pD is None else tuple(pD),  # type: ignore[arg-type]
        factor_names=tuple(factor_names),
        state_names=tuple(tuple(s) for s in state_names),
        modality_names=tuple(modality_names),
        observation_names=tuple(tuple(o) for o in observation_names),
        action_names=tuple(tuple(a) for a in action_names),
    )
    model.check_caps(caps)
    return model


def _precheck_sizes(
    A: object,
    B: object,
    issues: IssueCollector,
    caps: ModelCaps,
    policy_len: int,
    control_fac_idx: object,
    policies: object,
) -> None:
    """Bound sizes from the outer shapes alone, so an oversized model is refused before it is copied."""
    raw_B = _tensor_list(B, ("B",), issues, allow_none_entries=False)
    raw_A = _tensor_list(A, ("A",), issues, allow_none_entries=False)
    if raw_B is None or raw_A is None:
        return
    if len(raw_B) > caps.max_factors or len(raw_A) > caps.max_modalities:
        if len(raw_B) > caps.max_factors:
            issues.add(("B",), f"{len(raw_B)} factors, over the cap of {caps.max_factors}", "too_large")
        if len(raw_A) > caps.max_modalities:
            issues.add(("A",), f"{len(raw_A)} modalities, over the cap of {caps.max_modalities}", "too_large")
        return
    b_shapes = [infer_shape(b, 3) for b in raw_B]
    for f, shape in enumerate(b_shapes):
        if len(shape) != 3:
            issues.add(
                ("B", f), f"expected a 3-dimensional tensor (Ns, Ns, Nu), got shape {shape}", "shape_mismatch"
            )
    a_shapes = [infer_shape(a, None) for a in raw_A]
    for m, shape in enumerate(a_shapes):
        if len(shape) < 2:
            issues.add(
                ("A", m),
                f"expected a tensor (No, *Ns) with at least 2 dimensions, got shape {shape}",
                "shape_mismatch",
            )
    if issues:
        return
    num_states = [s[0] for s in b_shapes]
    num_controls = [s[2] for s in b_shapes]
    if not is_number(policy_len) or int(policy_len) < 1:
        issues.add(("policy_len",), f"expected a positive integer, got {policy_len!r}", "invalid_value")
        return
    if policies is not None:
        policies_shape = infer_shape(policies, 3)
        num_policies = policies_shape[0] if policies_shape else 0
    else:
        controlled = (
            [int(f) for f in control_fac_idx if is_number(f) and 0 <= int(f) < len(num_controls)]
            if isinstance(control_fac_idx, (list, tuple))
            else [f for f, n in enumerate(num_controls) if n > 1]
        )
        num_policies = count_policies(num_controls, controlled, min(int(policy_len), caps.max_policy_len + 1))
    bytes_needed = sum(tensor_nbytes(s) for s in a_shapes) + sum(tensor_nbytes(s) for s in b_shapes)
    check_sizes(
        issues,
        caps,
        num_states=num_states,
        num_obs=[s[0] for s in a_shapes],
        num_controls=num_controls,
        policy_len=int(policy_len),
        num_policies=num_policies,
        tensor_bytes=bytes_needed,
        factor_locs=[("B", f) for f in range(len(b_shapes))],
        modality_locs=[("A", m) for m in range(len(a_shapes))],
    )
