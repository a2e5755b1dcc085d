"""Security headers on every HTTP response (pure ASGI).

nosniff, frame denial, no referrer, a locked-down Permissions-Policy, ``Cache-Control: no-store`` on API
responses, a Content-Security-Policy (``default-src 'none'`` for JSON; a same-origin policy for HTML such
as the dashboard), and HSTS when the request arrived over TLS (directly, or per ``X-Forwarded-Proto`` from a
trusted proxy).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freeagentics.api.middleware.client_ip import Network, is_trusted_network

API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
HTML_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    b"base-uri 'none'; form-action 'self'"
)
HSTS = b"max-age=63072000; includeSubDomains"
_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
#: The interactive API docs load Swagger UI's scripts; they are served outside production only.
_DOCS_PATHS = ("/docs", "/redoc")


def _over_tls(scope: Scope, trusted_proxies: Sequence[Network]) -> bool:
    if scope.get("scheme") in ("https", "wss"):
        return True
    client = scope.get("client")
    if not client or not is_trusted_network(str(client[0]), trusted_proxies):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-proto":
            forwarded: str = value.decode("latin-1")
            return forwarded.split(",")[-1].strip().lower() == "https"
    return False


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[Network] = ()) -> None:
        self.app = app
        self.trusted_proxies = list(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = _over_tls(scope, self.trusted_proxies)
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in _ALWAYS if header[0] not in present)
                content_type = next(
                    (value for name, value in headers if name.lower() == b"content-type"), b""
                )
                if b"content-security-policy" not in present and not path.startswith(_DOCS_PATHS):
                    csp = HTML_CSP if content_type.startswith(b"text/html") else API_CSP
                    headers.append((b"content-security-policy", csp))
                if path.startswith("/api/") and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if tls:
                    headers.append((b"strict-transport-security", HSTS))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
