"""Installs the security middleware in order, so ``app.py`` adds one line.

Outermost first (requests pass down this list): client address -> security headers -> IP block -> CORS ->
rate limit -> body caps -> the router. Headers wrap the refusals of the layers inside them; blocked
addresses are refused before anything else costs work; a limited client's body is never buffered.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from freeagentics.api.middleware.body_limits import BodyLimitMiddleware
from freeagentics.api.middleware.client_ip import ClientIpMiddleware
from freeagentics.api.middleware.ip_block import IpBlockMiddleware
from freeagentics.api.middleware.rate_limit import RateLimitMiddleware
from freeagentics.api.middleware.security_headers import SecurityHeadersMiddleware
from freeagentics.config import Settings


def install_security_middleware(app: FastAPI, settings: Settings) -> None:
    """Call before the outer middleware (metrics, request context) is added; Starlette wraps in reverse."""
    security = settings.security
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=security.max_body_bytes)
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(security.cors_origins),
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=[
            "X-Request-ID",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        ],
        max_age=600,
    )
    app.add_middleware(IpBlockMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, trusted_proxies=security.trusted_proxies)
    app.add_middleware(ClientIpMiddleware, trusted_proxies=security.trusted_proxies)
