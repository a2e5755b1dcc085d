"""Pure ASGI middleware: request id, one JSON access line per request, and the last-resort 500.

- ``X-Request-ID`` from the client is kept when well formed (1–64 of ``[A-Za-z0-9._-]``), otherwise a new
  one is generated; it is returned on every response and set in the logging context.
- Each request logs one ``freeagentics.access`` line: method, route template, status, duration, client.
- An exception that escapes the application becomes a generic JSON 500 carrying the request id; the stack
  trace goes to ``error.log`` only, never to the client.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freeagentics.infra.logging import ACCESS_LOGGER, log_fields, request_id_var

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

access_logger = logging.getLogger(ACCESS_LOGGER)
error_logger = logging.getLogger("freeagentics.errors")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            try:
                candidate = value.decode("ascii")
            except UnicodeDecodeError:
                return None
            return candidate if _VALID_REQUEST_ID.fullmatch(candidate) else None
    return None


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/v1/agents/{agent_id}``), or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_code = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            error_logger.exception(
                "unhandled_exception",
                extra=log_fields(
                    method=scope.get("method"), path=scope.get("path"), route=route_template(scope)
                ),
            )
            if scope["type"] == "http" and not response_started:
                await _send_generic_500(send_with_request_id, request_id)
            elif scope["type"] != "http":
                raise
        finally:
            if scope["type"] == "http":
                elapsed = time.perf_counter() - started
                _log_access(scope, status_code, elapsed)
                window = getattr(getattr(scope.get("app"), "state", None), "response_times", None)
                if window is not None:
                    window.record(elapsed)
            request_id_var.reset(token)


async def _send_generic_500(send: Send, request_id: str) -> None:
    body = json.dumps(
        {
            "error": {"code": "internal_error", "message": "Internal server error"},
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _log_access(scope: Scope, status_code: int, duration_s: float) -> None:
    client: Any = scope.get("client")
    access_logger.info(
        "http_request",
        extra=log_fields(
            method=scope.get("method"),
            path=scope.get("path"),
            route=route_template(scope),
            status=status_code,
            duration_ms=round(duration_s * 1000, 3),
            client_ip=client[0] if client else None,
        ),
    )
