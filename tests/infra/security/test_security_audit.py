"""Audit records: control characters neutralised, long values capped, secrets refused."""

from __future__ import annotations

import pytest

from freeagentics.infra.security.audit import MAX_VALUE_CHARS, AuditLogger, sanitize


def test_control_characters_cannot_start_a_new_line() -> None:
    assert sanitize('eve\r\n{"event": "x"}\x00\x1b\u2028') == 'eve??{"event": "x"}???'


def test_long_values_are_capped() -> None:
    assert len(sanitize("a" * 10_000)) == MAX_VALUE_CHARS + 3


def test_nested_values_are_sanitised_and_bounded() -> None:
    cleaned = sanitize({"k\n": ["a\rb"] * 50})
    assert cleaned == {"k?": ["a?b"] * 20}


@pytest.mark.parametrize("field", ["password", "token", "refresh_token", "authorization"])
def test_secret_fields_are_refused(field) -> None:
    with pytest.raises(ValueError, match="never carry secrets"):
        AuditLogger().record("login_success", reason="x", **{field: "s3cret"})
