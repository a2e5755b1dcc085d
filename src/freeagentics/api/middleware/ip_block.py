"""Refuse requests and WebSocket handshakes from blocked client addresses (pure ASGI; 403 ``ip_blocked``)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from freeagentics.api.middleware.client_ip import client_ip_of
from freeagentics.api.middleware.json_error import send_json_error


class IpBlockMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        container = getattr(scope["app"].state, "container", None)
        if container is not None and await container.security.ip_blocks.is_blocked(client_ip_of(scope)):
            container.security.metrics.security_event("blocked_request")
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "blocked"})
                return
            await send_json_error(scope, send, 403, "ip_blocked", "Requests from this address are blocked")
            return
        await self.app(scope, receive, send)
