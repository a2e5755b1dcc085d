"""Structured validation errors for model specs, pymdp-style arrays and compiled models.

Validation never stops at the first problem: it collects every problem it can find (up to a limit) into
:class:`ValidationIssue` records and raises one :class:`ModelValidationError` carrying all of them, so the API
can answer with a single 422 that names each offending tensor and index.

``loc`` is the path from the root of the document to the offending value, as a tuple of keys and list
indices (``("modalities", 0, "A")``); ``index`` is the position inside that tensor where it goes wrong
(``(2, 0, 1)`` for an element; a column of ``A`` is reported by the index of its first entry, with
``None`` on axis 0 rendered as ``:``). :func:`format_loc` renders ``loc`` as ``modalities[0].A``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

LocPart = str | int
Loc = tuple[LocPart, ...]
Index = tuple[int | None, ...]

#: Validation stops collecting after this many issues; a hostile document cannot make the error list huge.
MAX_ISSUES = 50


def format_loc(loc: Loc) -> str:
    """Render a location path as a reader writes it: ``("modalities", 0, "A")`` -> ``modalities[0].A``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "<root>"


def format_index(index: Index) -> str:
    """Render an index inside a tensor: ``(None, 2, 1)`` -> ``[:, 2, 1]``."""
    return "[" + ", ".join(":" if i is None else str(i) for i in index) + "]"


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in a model.

    ``type`` is a stable machine-readable code (``missing``, ``extra_forbidden``, ``type_error``,
    ``not_numeric``, ``ragged``, ``shape_mismatch``, ``not_finite``, ``negative``, ``not_normalised``,
    ``invalid_name``, ``duplicate_name``, ``invalid_value``, ``out_of_range``, ``too_large``).
    """

    loc: Loc
    msg: str
    type: str
    index: Index | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form: ``{"loc": [...], "msg": ..., "type": ...}`` plus ``"index"`` when known."""
        out: dict[str, object] = {"loc": list(self.loc), "msg": self.msg, "type": self.type}
        if self.index is not None:
            out["index"] = list(self.index)
        return out

    def __str__(self) -> str:
        return self.msg


class ModelValidationError(ValueError):
    """A model (spec, arrays or compiled) is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ValidationIssue] | tuple[ValidationIssue, ...]) -> None:
        if not issues:
            raise ValueError("ModelValidationError needs at least one issue")
        self.issues: tuple[ValidationIssue, ...] = tuple(issues)
        shown = "; ".join(issue.msg for issue in self.issues[:5])
        more = f" (and {len(self.issues) - 5} more)" if len(self.issues) > 5 else ""
        super().__init__(f"invalid model: {shown}{more}")

    def as_dicts(self) -> list[dict[str, object]]:
        """Every issue in JSON-ready form, for a 422 response body."""
        return [issue.as_dict() for issue in self.issues]


class _IssueLimitReachedError(Exception):
    """Raised internally when the collector is full; caught by :meth:`IssueCollector.raise_if_any` callers."""


@dataclass
class IssueCollector:
    """Accumulates issues during validation; ``raise_if_any`` turns them into one exception."""

    issues: list[ValidationIssue] = field(default_factory=list)
    limit: int = MAX_ISSUES

    def add(self, loc: Loc, msg: str, type_: str, index: Index | None = None) -> None:
        """Record one issue; the message is prefixed with the rendered location and index."""
        where = format_loc(loc) + (format_index(index) if index is not None else "")
        self.issues.append(ValidationIssue(loc=loc, msg=f"{where}: {msg}", type=type_, index=index))
        if len(self.issues) >= self.limit:
            raise _IssueLimitReachedError

    def __bool__(self) -> bool:
        return bool(self.issues)

    def __iter__(self) -> Iterator[ValidationIssue]:
        return iter(self.issues)

    def raise_if_any(self) -> None:
        """Raise :class:`ModelValidationError` when at least one issue was recorded."""
        if self.issues:
            raise ModelValidationError(self.issues)


def collecting(issues: IssueCollector) -> _CollectingContext:
    """Context manager that turns "collector full" into an immediate :class:`ModelValidationError`."""
    return _CollectingContext(issues)


class _CollectingContext:
    def __init__(self, issues: IssueCollector) -> None:
        self._issues = issues

    def __enter__(self) -> IssueCollector:
        return self._issues

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if isinstance(exc, _IssueLimitReachedError):
            raise ModelValidationError(self._issues.issues) from None
