"""The client's address: the TCP peer, or ``X-Forwarded-For`` only when the peer is a trusted proxy.

Pure ASGI: stores the address in ``scope["state"]["client_ip"]`` and in the audit context for the request.
With trusted proxies the header is read right to left, skipping the proxies' own addresses, so a client
cannot prepend a forged hop; anything unparsable falls back to the peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from freeagentics.infra.security.audit import client_ip_var, route_var, user_var

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _in(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def resolve_client_ip(scope: Scope, trusted_proxies: Sequence[Network]) -> str:
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted_proxies or not _in(peer, trusted_proxies):
        return peer
    forwarded: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
    for hop in reversed(forwarded):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            return peer
        if not _in(address, trusted_proxies):
            return address
    return peer


def is_trusted_network(address: str, networks: Sequence[Network]) -> bool:
    return _in(address, networks)


def client_ip_of(scope: Scope) -> str:
    state = scope.get("state") or {}
    value = state.get("client_ip")
    return value if isinstance(value, str) else "unknown"


class ClientIpMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[Network]) -> None:
        self.app = app
        self.trusted_proxies = list(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        address = resolve_client_ip(scope, self.trusted_proxies)
        scope.setdefault("state", {})["client_ip"] = address
        # Each request starts with a clean audit context, also when requests share one task (tests, ASGI
        # servers that reuse a context); the route and user are filled in once known.
        tokens = (client_ip_var.set(address), route_var.set(None), user_var.set(None))
        try:
            await self.app(scope, receive, send)
        finally:
            user_var.reset(tokens[2])
            route_var.reset(tokens[1])
            client_ip_var.reset(tokens[0])
