"""Caps on request bodies (pure ASGI): size (413) and, for JSON, nesting depth (400); audit of bad input.

Every refused input (413, 400, and the 422 of request validation) leaves one ``input_rejected`` record in
the audit log with the route, so probing with malformed payloads is visible.

The body is read up to the cap before the application sees it, so an oversized body is refused whether or
not it declares ``Content-Length``, and the application never parses a document nested deeper than
:data:`MAX_JSON_DEPTH` (which would otherwise cost recursion and memory before validation).
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freeagentics.api.middleware.json_error import send_json_error

MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects (strings skipped); malformed JSON is the parser's job."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


_REJECTION_REASONS = {
    400: "malformed or too deeply nested input",
    413: "body too large",
    422: "validation failed",
}


def _auditing_rejections(scope: Scope, send: Send) -> Send:
    async def send_and_audit(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] in _REJECTION_REASONS:
            container = getattr(scope["app"].state, "container", None)
            if container is not None:
                container.security.audit.record(
                    "input_rejected",
                    reason=_REJECTION_REASONS[message["status"]],
                    warning=True,
                    status=message["status"],
                    method=scope.get("method"),
                )
        await send(message)

    return send_and_audit


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_json_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _auditing_rejections(scope, send)
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _is_json(scope) and json_depth(body) > self.max_json_depth:
            await send_json_error(
                scope, send, 400, "json_too_deep", f"JSON nesting deeper than {self.max_json_depth} levels"
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await send_json_error(
            scope,
            send,
            413,
            "payload_too_large",
            f"Request body larger than {self.max_body_bytes} bytes",
            [(b"connection", b"close")],
        )
