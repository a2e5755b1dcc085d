"""The ``security_audit.log`` writer: one JSON line per event with UTC time, request id, client IP, user,
route template and reason.

Values are made safe before they are logged: control characters (CR, LF, NUL, ...) become ``?`` and
strings are capped, so attacker-chosen input can neither forge a line nor flood the file (the JSON
formatter escapes as well). Callers never pass passwords or raw tokens; secret-looking field names are
refused outright.
"""

from __future__ import annotations

import contextvars
import logging
import re
from typing import Any

from freeagentics.infra.logging import AUDIT_LOGGER, log_fields

client_ip_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_ip", default=None)
route_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("route", default=None)
user_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_user", default=None)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FORBIDDEN_FIELDS = frozenset({"password", "token", "access_token", "refresh_token", "authorization"})
MAX_VALUE_CHARS = 200

audit_logger = logging.getLogger(AUDIT_LOGGER)


def sanitize(value: Any) -> Any:
    if isinstance(value, str):
        cleaned = _CONTROL.sub("?", value)
        return cleaned if len(cleaned) <= MAX_VALUE_CHARS else cleaned[:MAX_VALUE_CHARS] + "..."
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [sanitize(item) for item in value[:20]]
    if isinstance(value, dict):
        return {sanitize(str(key)): sanitize(item) for key, item in list(value.items())[:20]}
    return sanitize(str(value))


class AuditLogger:
    """Implements :class:`freeagentics.services.auth.ports.AuditLog`."""

    def record(
        self, event: str, *, reason: str, user: str | None = None, warning: bool = False, **fields: Any
    ) -> None:
        leaked = _FORBIDDEN_FIELDS.intersection(fields)
        if leaked:
            raise ValueError(f"audit records never carry secrets: {sorted(leaked)}")
        record = {
            "client_ip": fields.pop("client_ip", None) or client_ip_var.get(),
            "user": sanitize(user if user is not None else user_var.get()),
            "route": fields.pop("route", None) or route_var.get(),
            "reason": sanitize(reason),
            **{key: sanitize(value) for key, value in fields.items()},
        }
        audit_logger.log(logging.WARNING if warning else logging.INFO, event, extra=log_fields(**record))
