"""Checks shared by specs, pymdp-style arrays and compiled models.

Every check records problems in an :class:`~freeagentics.domain.models.errors.IssueCollector` under the
tensor's location and returns whether the value passed, so callers can keep validating other tensors and
report everything at once. Tensors are parsed from nested lists without trusting them: the walk checks
types and lengths against the expected shape before any array is allocated.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.models.errors import Index, IssueCollector, Loc

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: A column (or vector) counts as normalised when its sum is within this distance of 1.
SUM_TOLERANCE = 1e-6

#: Nested lists deeper than this are rejected before they are walked (no real tensor has this many axes).
MAX_NDIM = 16

_BYTES_PER_ENTRY = 8


@dataclass(frozen=True)
class ModelCaps:
    """Size limits a model must respect before any of its tensors is built.

    ``max_tensor_bytes`` bounds the float64 bytes of every model tensor together (A, B, C, D, E, the
    Dirichlet counts and an explicit policy table), counting deterministic transition tables at the size of
    the dense ``B`` they expand to.
    """

    max_states_per_factor: int = 4096
    max_observations_per_modality: int = 4096
    max_controls_per_factor: int = 64
    max_factors: int = 8
    max_modalities: int = 8
    max_policy_len: int = 8
    max_policies: int = 4096
    max_tensor_bytes: int = 64 * 1024 * 1024
    max_name_length: int = 128

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelCaps.{name} must be a positive integer, got {value!r}")


DEFAULT_CAPS = ModelCaps()


def type_name(value: object) -> str:
    """A short, user-facing name of a value's JSON-ish type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def is_number(value: object) -> bool:
    """True for ints and floats (including NumPy scalars), False for booleans and everything else."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(
        value, (int, float, np.integer, np.floating)
    )


def as_int(value: object) -> int | None:
    """The integer a number stands for (``3`` or ``3.0``); ``None`` otherwise (``True`` included)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def tensor_nbytes(shape: Sequence[int]) -> int:
    """Bytes of a float64 tensor of ``shape``."""
    return math.prod(shape) * _BYTES_PER_ENTRY


def infer_shape(value: object, ndim: int | None) -> tuple[int, ...]:
    """Shape suggested by the first element along each axis of a nested list (the walk checks the rest)."""
    if isinstance(value, np.ndarray):
        return tuple(int(n) for n in value.shape)
    shape: list[int] = []
    node = value
    while isinstance(node, (list, tuple)) and len(shape) < (ndim if ndim is not None else MAX_NDIM + 1):
        shape.append(len(node))
        if not node:
            break
        node = node[0]
    return tuple(shape)


def parse_tensor(
    value: object,
    loc: Loc,
    issues: IssueCollector,
    *,
    shape: tuple[int, ...] | None = None,
    ndim: int | None = None,
    shape_note: str = "",
    max_bytes: int | None = None,
) -> FloatArray | None:
    """Parse a nested list (or an array) into a new float64 array, checking it on the way.

    With ``shape`` the value must have exactly that shape (a mismatch is ``shape_mismatch``, reported at the
    first index where a length differs; ``shape_note`` explains where the expected shape comes from). Without
    it the shape is taken from the first element along each axis and any later disagreement is ``ragged``;
    ``ndim`` then fixes the number of axes. Entries must be numbers (not booleans, not strings) and finite.
    Returns ``None`` after recording an issue.
    """
    inferred = shape is None
    if shape is None:
        shape = infer_shape(value, ndim)
        if ndim is not None and len(shape) != ndim:
            issues.add(
                loc,
                f"expected a {ndim}-dimensional tensor, got {len(shape)} dimension(s) {shape}",
                "shape_mismatch",
            )
            return None
        if len(shape) > MAX_NDIM:
            issues.add(loc, f"tensor has more than {MAX_NDIM} dimensions", "shape_mismatch")
            return None
    if max_bytes is not None and tensor_nbytes(shape) > max_bytes:
        issues.add(
            loc,
            f"tensor of shape {shape} needs {tensor_nbytes(shape)} bytes, over the cap of {max_bytes}",
            "too_large",
        )
        return None
    note = f" ({shape_note})" if shape_note else ""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf":
            issues.add(loc, f"expected a numeric array, got dtype {value.dtype}", "not_numeric")
            return None
        if tuple(value.shape) != shape:
            issues.add(loc, f"expected shape {shape}{note}, got {tuple(value.shape)}", "shape_mismatch")
            return None
        array = np.array(value, dtype=np.float64, copy=True)
    else:
        flat: list[float] = []
        if not _walk(value, shape, (), flat, loc, issues, inferred, note):
            return None
        try:
            array = np.array(flat, dtype=np.float64).reshape(shape)
        except OverflowError:
            issues.add(loc, "an entry is too large to represent as a float", "not_finite")
            return None
    if not check_finite(array, loc, issues):
        return None
    return array


def _walk(
    node: object,
    shape: tuple[int, ...],
    prefix: tuple[int, ...],
    flat: list[float],
    loc: Loc,
    issues: IssueCollector,
    inferred: bool,
    note: str,
) -> bool:
    axis = len(prefix)
    if axis == len(shape):
        if not is_number(node):
            issues.add(loc, f"expected a number, got {type_name(node)}", "not_numeric", prefix)
            return False
        try:
            flat.append(float(node))  # type: ignore[arg-type]
        except OverflowError:
            issues.add(loc, "number is too large to represent as a float", "not_finite", prefix)
            return False
        return True
    if not isinstance(node, (list, tuple)):
        kind = "ragged" if inferred and axis > 0 else "shape_mismatch"
        issues.add(
            loc,
            f"expected a list of {shape[axis]} entries on axis {axis}{note}, got {type_name(node)}",
            kind,
            prefix,
        )
        return False
    if len(node) != shape[axis]:
        kind = "ragged" if inferred else "shape_mismatch"
        issues.add(
            loc,
            f"expected {shape[axis]} entries on axis {axis}{note}, got {len(node)}",
            kind,
            prefix,
        )
        return False
    # Fast path for the innermost axis: plain ints and floats go straight in.
    if axis == len(shape) - 1 and all(type(entry) is float or type(entry) is int for entry in node):
        flat.extend(node)
        return True
    return all(
        _walk(child, shape, (*prefix, i), flat, loc, issues, inferred, note) for i, child in enumerate(node)
    )


def _first_index(mask: NDArray[np.bool_]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_finite(array: FloatArray, loc: Loc, issues: IssueCollector) -> bool:
    """Reject NaN and ±Inf; reports the first offending index and how many there are."""
    bad = ~np.isfinite(array)
    if bad.any():
        count = int(bad.sum())
        issues.add(
            loc,
            f"{count} entr{'y is' if count == 1 else 'ies are'} NaN or infinite",
            "not_finite",
            _first_index(bad),
        )
        return False
    return True


def check_nonnegative(array: FloatArray, loc: Loc, issues: IssueCollector) -> bool:
    """Reject negative entries (probabilities and Dirichlet counts)."""
    bad = array < 0
    if bad.any():
        first = _first_index(bad)
        count = int(bad.sum())
        issues.add(
            loc,
            f"{count} negative entr{'y' if count == 1 else 'ies'} (first is {float(array[first])!r})",
            "negative",
            first,
        )
        return False
    return True


def check_columns_normalised(
    array: FloatArray, loc: Loc, issues: IssueCollector, tolerance: float = SUM_TOLERANCE
) -> bool:
    """Each column over axis 0 must sum to 1 within ``tolerance`` (a 1-D array is one column)."""
    sums = array.sum(axis=0)
    bad = np.abs(sums - 1.0) > tolerance
    if np.any(bad):
        if array.ndim == 1:
            issues.add(
                loc, f"sums to {float(sums)!r}, expected 1 (tolerance {tolerance:g})", "not_normalised"
            )
        else:
            first = _first_index(np.asarray(bad))
            count = int(np.sum(bad))
            issues.add(
                loc,
                f"column sums to {float(sums[first])!r}, expected 1 (tolerance {tolerance:g}); "
                f"{count} column{'' if count == 1 else 's'} off",
                "not_normalised",
                (None, *first),
            )
        return False
    return True


def check_columns_positive(array: FloatArray, loc: Loc, issues: IssueCollector) -> bool:
    """Dirichlet counts: every column over axis 0 needs a positive total so it can be normalised."""
    sums = array.sum(axis=0)
    bad = np.asarray(sums <= 0)
    if bad.any():
        index: Index | None = (None, *_first_index(bad)) if array.ndim > 1 else None
        issues.add(
            loc,
            "column of Dirichlet counts sums to 0; every column needs a positive count",
            "invalid_value",
            index,
        )
        return False
    return True


def check_probability_tensor(array: FloatArray, loc: Loc, issues: IssueCollector) -> bool:
    """Non-negative with columns over axis 0 summing to 1 (A, B, D, E)."""
    return check_nonnegative(array, loc, issues) and check_columns_normalised(array, loc, issues)


def check_dirichlet_tensor(array: FloatArray, loc: Loc, issues: IssueCollector) -> bool:
    """Non-negative counts with a positive total per column (pA, pB, pD)."""
    return check_nonnegative(array, loc, issues) and check_columns_positive(array, loc, issues)


def check_name(value: object, loc: Loc, issues: IssueCollector, max_length: int) -> str | None:
    """A name: a non-empty string without control, format or unassigned characters and no outer spaces."""
    if not isinstance(value, str):
        issues.add(loc, f"expected a string, got {type_name(value)}", "type_error")
        return None
    if not value or value.strip() != value:
        issues.add(loc, "name must be non-empty without leading or trailing whitespace", "invalid_name")
        return None
    if len(value) > max_length:
        issues.add(
            loc, f"name is {len(value)} characters long, over the limit of {max_length}", "invalid_name"
        )
        return None
    for position, char in enumerate(value):
        # Category C covers control characters (NUL included), format characters, surrogates and
        # unassigned code points: none belongs in a name shown in logs and dashboards.
        if unicodedata.category(char).startswith("C"):
            issues.add(
                loc,
                f"name contains the disallowed character U+{ord(char):04X} at position {position}",
                "invalid_name",
            )
            return None
    return value


def check_unique(names: Sequence[str | None], loc: Loc, issues: IssueCollector, what: str) -> bool:
    """Names in one list must be distinct; reports the index of the first repeat."""
    seen: dict[str, int] = {}
    ok = True
    for i, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            issues.add(
                (*loc, i), f"duplicate {what} {name!r} (first at index {seen[name]})", "duplicate_name"
            )
            ok = False
        else:
            seen[name] = i
    return ok
