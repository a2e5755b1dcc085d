"""Structured validation errors for world specs, start positions, objectives and snapshots.

Every problem found is one :class:`FieldError` with a ``loc`` (the path to the offending value, e.g.
``("walls", 3, 1)``), a human-readable ``msg`` and a machine-readable ``type``; the API layer turns
:meth:`WorldValidationError.as_dicts` into a 422 body without knowing anything about worlds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Loc = tuple[str | int, ...]

#: At most this many errors are kept (plus one ``too_many_errors`` entry), so a hostile document with a
#: million bad cells yields a bounded error body.
MAX_ERRORS = 50


@dataclass(frozen=True)
class FieldError:
    """One validation problem: where it is (``loc``), what is wrong (``msg``) and its kind (``type``)."""

    loc: Loc
    msg: str
    type: str

    def as_dict(self) -> dict[str, object]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class WorldValidationError(ValueError):
    """Raised with every problem found at once, so a client can fix its input in one round trip."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        collected = list(errors)
        if not collected:
            raise ValueError("WorldValidationError needs at least one FieldError")
        if len(collected) > MAX_ERRORS:
            dropped = len(collected) - MAX_ERRORS
            collected = [
                *collected[:MAX_ERRORS],
                FieldError((), f"{dropped} more errors not shown", "too_many_errors"),
            ]
        self.errors: tuple[FieldError, ...] = tuple(collected)
        summary = "; ".join(f"{_format_loc(e.loc)}: {e.msg}" for e in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} validation error(s): {summary}{more}")

    def as_dicts(self) -> list[dict[str, object]]:
        """The errors as plain ``{"loc": [...], "msg": str, "type": str}`` mappings."""
        return [error.as_dict() for error in self.errors]


class AgentLimitError(ValueError):
    """Adding agents would exceed the world's ``max_agents``."""


def _format_loc(loc: Loc) -> str:
    return ".".join(str(part) for part in loc) if loc else "<root>"
