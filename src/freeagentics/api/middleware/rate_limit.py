"""Rate limiting per route class (pure ASGI), policy from ``rate_limiting.yaml`` (reloaded on SIGHUP).

- Route class: what the route declares (``require(..., rate_class="expensive")``), else ``auth`` for the
  token endpoints, ``read`` for GET/HEAD and ``write`` for the rest.
- Subject: ``user:<id>`` when the request carries a valid access token, else ``ip:<client address>``.
- Over the limit: 429 with ``Retry-After`` and ``RateLimit-*`` headers, a ``rate_limit_exceeded`` audit
  record, a metric and a note to security monitoring. Admitted responses carry the ``RateLimit-*`` headers.
- Redis down: ``auth`` fails closed with 503; other classes fall back to a per-process limiter.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freeagentics.api.middleware.client_ip import client_ip_of
from freeagentics.api.middleware.json_error import send_json_error
from freeagentics.api.permissions import (
    DeclaredRoute,
    bearer_token,
    declared_routes,
    decode_access_token_once,
)
from freeagentics.infra.security.audit import route_var
from freeagentics.infra.security.rate_limit import RateLimiterUnavailableError
from freeagentics.services.auth.ports import InvalidTokenError

AUTH_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/register"})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


_ROUTES_ATTRIBUTE = "_freeagentics_declared_routes"


def _matched_route(scope: Scope) -> DeclaredRoute | None:
    app: FastAPI = scope["app"]
    routes: list[DeclaredRoute] | None = getattr(app.state, _ROUTES_ATTRIBUTE, None)
    if routes is None:
        # Routes are fixed once the app serves; build the table on the first request.
        routes = [route for route in declared_routes(app) if route.regex is not None and route.methods]
        setattr(app.state, _ROUTES_ATTRIBUTE, routes)
    path = scope.get("path", "")
    method = scope.get("method", "")
    for route in routes:
        if method in route.methods and route.regex is not None and route.regex.match(path):
            return route
    return None


def route_class_of(scope: Scope, route: DeclaredRoute | None) -> str:
    declaration = route.access if route is not None else None
    if declaration is not None and declaration.rate_class is not None:
        return declaration.rate_class
    if scope.get("path") in AUTH_PATHS:
        return "auth"
    return "read" if scope.get("method") in _READ_METHODS else "write"


def _authorization(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        container = getattr(scope["app"].state, "container", None) if scope["type"] == "http" else None
        if container is None:
            await self.app(scope, receive, send)
            return
        route = _matched_route(scope)
        route_var.set(route.path if route is not None else "unmatched")
        policy = container.config.current.rate_limiting
        if not policy.enabled:
            await self.app(scope, receive, send)
            return
        route_class = route_class_of(scope, route)
        rule = policy.classes.get(route_class)
        if rule is None:
            await self.app(scope, receive, send)
            return
        client_ip = client_ip_of(scope)
        subject = f"ip:{client_ip}"
        token = bearer_token(_authorization(scope))
        if token is not None and route_class != "auth":
            # An invalid token keeps the IP subject; the route's own authentication answers 401 and audits
            # (from the same decode: the signature is verified once per request).
            decoded = decode_access_token_once(scope, container.security.codec, token)
            if not isinstance(decoded, InvalidTokenError):
                subject = f"user:{decoded.user_id}"
        try:
            decision = await container.security.rate_limiter.hit(
                route_class, subject, rule.requests, rule.window_seconds
            )
        except RateLimiterUnavailableError:
            await send_json_error(
                scope,
                send,
                503,
                "service_unavailable",
                "Authentication is temporarily unavailable",
                [(b"retry-after", b"5")],
            )
            return
        window = int(rule.window_seconds) if rule.window_seconds >= 1 else 1
        headers = [
            (b"ratelimit-limit", str(decision.limit).encode()),
            (b"ratelimit-remaining", str(decision.remaining).encode()),
            (b"ratelimit-reset", str(decision.reset_seconds).encode()),
            (b"ratelimit-policy", f"{decision.limit};w={window}".encode()),
        ]
        if not decision.allowed:
            template = route.path if route is not None else "unmatched"
            container.security.metrics.rate_limited(route_class)
            container.security.audit.record(
                "rate_limit_exceeded",
                reason=f"{route_class} limit of {rule.requests} per {rule.window_seconds:g} s",
                user=subject.removeprefix("user:") if subject.startswith("user:") else None,
                warning=True,
                route=template,
                route_class=route_class,
                backend=decision.backend,
            )
            await container.security_monitor.rate_limit_exceeded(client_ip)
            await send_json_error(
                scope,
                send,
                429,
                "rate_limited",
                "Too many requests; retry later",
                [(b"retry-after", str(decision.reset_seconds).encode()), *headers],
            )
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
