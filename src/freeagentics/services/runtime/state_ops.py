"""Row operations on a :class:`PopulationState`: every per-agent array is batch-first, so selecting,
writing back, appending and dropping agents is the same NumPy operation on each of them.

States are values: every function returns a new state and leaves its inputs untouched, which is what lets
API threads read a published state while the tick thread computes the next one.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from freeagentics.domain.engine import PopulationState

IndexArray = NDArray[np.intp]


def _map(state: PopulationState, fn: Any) -> PopulationState:
    changes: dict[str, Any] = {}
    for field in fields(state):
        value = getattr(state, field.name)
        if value is None:
            continue
        if isinstance(value, tuple):
            changes[field.name] = tuple(None if item is None else fn(item) for item in value)
        else:
            changes[field.name] = fn(value)
    return replace(state, **changes)


def take(state: PopulationState, rows: IndexArray) -> PopulationState:
    """The agents at ``rows`` ``(K,)``, in that order (copies)."""
    return _map(state, lambda array: np.take(array, rows, axis=0))


def put(state: PopulationState, rows: IndexArray, part: PopulationState) -> PopulationState:
    """``state`` with the agents at ``rows`` replaced by ``part``'s (same order); other rows unchanged."""
    changes: dict[str, Any] = {}
    for field in fields(state):
        value = getattr(state, field.name)
        if value is None:
            continue
        new = getattr(part, field.name)
        if isinstance(value, tuple):
            merged: list[NDArray[Any] | None] = []
            for whole, piece in zip(value, new, strict=True):
                if whole is None:
                    merged.append(None)
                    continue
                copy = whole.copy()
                copy[rows] = piece
                merged.append(copy)
            changes[field.name] = tuple(merged)
        else:
            copy = value.copy()
            copy[rows] = new
            changes[field.name] = copy
    return replace(state, **changes)


def concat(first: PopulationState, second: PopulationState) -> PopulationState:
    """``first``'s agents followed by ``second``'s (both of one model and config)."""
    changes: dict[str, Any] = {}
    for field in fields(first):
        a = getattr(first, field.name)
        b = getattr(second, field.name)
        if a is None and b is None:
            continue
        if (a is None) != (b is None):
            raise ValueError(f"cannot concatenate states that differ in {field.name}")
        if isinstance(a, tuple):
            changes[field.name] = tuple(
                None if x is None else np.concatenate([x, y], axis=0) for x, y in zip(a, b, strict=True)
            )
        else:
            changes[field.name] = np.concatenate([a, b], axis=0)
    return replace(first, **changes)


def drop(state: PopulationState, rows: IndexArray) -> PopulationState:
    """``state`` without the agents at ``rows``; the rest keep their order."""
    keep = np.ones(state.num_agents, dtype=bool)
    keep[rows] = False
    return take(state, np.flatnonzero(keep))


def row_arrays(state: PopulationState) -> dict[str, NDArray[Any]]:
    """Every per-agent array by a stable name (``qs.0``, ``q_pi``, ``pB.0``, ...), for checkpoints."""
    out: dict[str, NDArray[Any]] = {}
    for field in fields(state):
        value = getattr(state, field.name)
        if value is None:
            continue
        if isinstance(value, tuple):
            for index, item in enumerate(value):
                if item is not None:
                    out[f"{field.name}.{index}"] = item
        else:
            out[field.name] = value
    return out


def with_rows(state: PopulationState, rows: IndexArray, arrays: dict[str, NDArray[Any]]) -> PopulationState:
    """``state`` with ``rows`` overwritten from named arrays (as :func:`row_arrays` names them).

    Arrays whose names or shapes do not match the state are ignored, so a checkpoint taken under an older
    model restores what still fits and leaves the rest at the priors.
    """
    changes: dict[str, Any] = {}
    for field in fields(state):
        value = getattr(state, field.name)
        if value is None:
            continue
        if isinstance(value, tuple):
            items = list(value)
            for index, item in enumerate(items):
                source = arrays.get(f"{field.name}.{index}")
                if item is not None and source is not None and source.shape[1:] == item.shape[1:]:
                    copy = item.copy()
                    copy[rows] = source
                    items[index] = copy
            changes[field.name] = tuple(items)
        else:
            source = arrays.get(field.name)
            if source is not None and source.shape[1:] == value.shape[1:]:
                copy = value.copy()
                copy[rows] = source
                changes[field.name] = copy
    return replace(state, **changes)
