"""JSON nesting depth, with brackets inside strings (and escaped quotes) ignored."""

from __future__ import annotations

import pytest

from freeagentics.api.middleware.body_limits import json_depth


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[[[", "b": "\\"[[[["}', 1),
        (b"[" * 40 + b"]" * 40, 40),
        (b"42", 0),
    ],
)
def test_json_depth(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth
