"""Route access control: every HTTP and WebSocket route declares what it needs through a dependency.

Use on a route::

    principal: Annotated[Principal, Depends(require(Permission.AGENTS_READ))]

and for rows with an owner answer 404 (never 403) unless ``principal.can_access_owned(row.owner_id)``.

- :func:`require` authenticates the bearer token (signature, claims, revocation, the user's current row) and
  checks the permission; 401 with one body for every token failure, 403 ``access_denied`` for a missing
  permission. ``rate_class="expensive"`` puts the route in the expensive rate-limit class.
- :func:`authenticated` needs only a valid token (logout, "who am I").
- :data:`OperationalReadDep` is the rule of ``/health``, ``/api/v1/system/metrics`` and ``/metrics``:
  anonymous from ``settings.security.trusted_networks`` (the client address honours ``X-Forwarded-For``
  only from ``trusted_proxies``), otherwise a token with ``system:read``.
- :func:`require_ws` authenticates a WebSocket at the handshake. The token travels as a subprotocol,
  ``Sec-WebSocket-Protocol: freeagentics.v1, bearer.<access token>`` (browsers cannot set headers on a
  WebSocket, and a query parameter would end up in proxy logs); accept with ``subprotocol="freeagentics.v1"``.
  The Origin, when sent, must be in ``settings.security.cors_origins`` or the request's own host.
  :func:`guard_websocket` closes the socket (code 4401) when its token expires or is revoked.

Each dependency carries an :class:`AccessDeclaration` (``declared_access(route)`` finds it), and
``tests/security/test_route_permissions.py`` fails for any route without one that is not in
:data:`PUBLIC_ROUTES`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request, WebSocket, WebSocketException
from fastapi.routing import RouteContext, iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute
from starlette.types import Scope

from freeagentics.api.dependencies import ContainerDep, SessionDep
from freeagentics.api.errors import ApiError
from freeagentics.api.middleware.client_ip import client_ip_of, is_trusted_network
from freeagentics.bootstrap import Container, build_auth_service
from freeagentics.infra.security.audit import route_var, user_var
from freeagentics.services.auth.ports import InvalidTokenError, TokenClaims, TokenCodec, TokenType
from freeagentics.services.auth.rbac import ROLE_PERMISSIONS, Permission, Principal, Role
from freeagentics.services.auth.service import AuthenticationFailedError, AuthService

__all__ = [
    "PUBLIC_ROUTES",
    "ROLE_PERMISSIONS",
    "WEBSOCKET_SUBPROTOCOL",
    "AccessDeclaration",
    "AuthServiceDep",
    "AuthenticatedDep",
    "OperationalReadDep",
    "Permission",
    "Principal",
    "Role",
    "authenticated",
    "declared_access",
    "guard_websocket",
    "require",
    "require_ws",
]

RateClass = Literal["auth", "read", "write", "expensive"]
WEBSOCKET_SUBPROTOCOL = "freeagentics.v1"
_BEARER_SUBPROTOCOL_PREFIX = "bearer."
WS_CLOSE_UNAUTHORIZED = 4401
WS_CLOSE_FORBIDDEN = 4403
WS_CLOSE_POLICY = 1008

#: Routes that are public by design (no token). Everything else must declare access.
PUBLIC_ROUTES: frozenset[str] = frozenset(
    {
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/register",
        "/.well-known/jwks.json",
        "/health/live",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        # The dashboard's page and static assets; its data comes from the authenticated API.
        "/",
        "/dashboard/roles.json",
        "/dashboard/{asset_path}",
    }
)

_MARK = "__freeagentics_access__"


@dataclass(frozen=True, slots=True)
class AccessDeclaration:
    """What a route needs: a permission, any valid token, or the operational-read rule."""

    kind: Literal["permission", "authenticated", "operational-read"]
    permission: Permission | None = None
    rate_class: RateClass | None = None

    def describe(self) -> str:
        return self.permission.value if self.permission else self.kind


def _mark(dependency: Callable[..., Any], declaration: AccessDeclaration) -> None:
    setattr(dependency, _MARK, declaration)


def declared_access(route: BaseRoute | RouteContext) -> AccessDeclaration | None:
    """The access declaration among a route's dependencies (searched recursively), or None."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    stack = [dependant]
    while stack:
        current = stack.pop()
        declaration = getattr(current.call, _MARK, None)
        if isinstance(declaration, AccessDeclaration):
            return declaration
        stack.extend(current.dependencies)
    return None


@dataclass(frozen=True, slots=True)
class DeclaredRoute:
    path: str
    methods: frozenset[str]
    is_websocket: bool
    access: AccessDeclaration | None
    regex: re.Pattern[str] | None


def declared_routes(app: FastAPI) -> list[DeclaredRoute]:
    """Every route of the app (through included routers) with its access declaration."""
    routes = []
    for context in iter_route_contexts(app.routes):
        path = context.path_format or context.path or ""
        methods = frozenset(context.methods or ())
        regex = getattr(context, "path_regex", None)
        is_websocket = not methods and getattr(context, "dependant", None) is not None
        routes.append(DeclaredRoute(path, methods, is_websocket, declared_access(context), regex))
    return routes


async def get_auth_service(container: ContainerDep, session: SessionDep) -> AuthService:
    return build_auth_service(container, session)


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


_DECODE_MEMO_KEY = "freeagentics.decoded_access_token"


def decode_access_token_once(scope: Scope, codec: TokenCodec, token: str) -> TokenClaims | InvalidTokenError:
    """``codec.decode(token, ACCESS)`` of this request's bearer token, verified at most once per request.

    The rate limiter needs the caller's user id before the route's authentication runs; both use this, so
    the signature and claims are checked once. The result (claims, or the error) is kept in the request's
    own scope state for that exact token string only, never across requests; revocation and the user's row
    are still checked by :meth:`AuthService.authenticate_decoded` on every request.
    """
    state = scope.setdefault("state", {})
    memo: tuple[str, TokenClaims | InvalidTokenError] | None = state.get(_DECODE_MEMO_KEY)
    if memo is not None and memo[0] == token:
        return memo[1]
    result: TokenClaims | InvalidTokenError
    try:
        result = codec.decode(token, TokenType.ACCESS)
    except InvalidTokenError as exc:
        result = exc
    state[_DECODE_MEMO_KEY] = (token, result)
    return result


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "Authentication required")


def _note_route(scope: Scope) -> None:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        route_var.set(path)


async def _principal_from_token(
    token: str | None, container: Container, session: AsyncSession, scope: Scope
) -> tuple[Principal, TokenClaims] | None:
    service = build_auth_service(container, session)
    if token is None:
        # Audited for the runbook's counts, but not fed to monitoring: no credential was guessed.
        service.metrics.authentication_failed()
        service.audit.record("authentication_failed", reason="no bearer token", warning=True)
        return None
    client_ip = client_ip_of(scope)
    try:
        decoded = decode_access_token_once(scope, container.security.codec, token)
        principal, claims = await service.authenticate_decoded(decoded)
    except AuthenticationFailedError:
        await container.security_monitor.authentication_failed(client_ip)
        return None
    user_var.set(principal.username)
    return principal, claims


def _deny(container: Container, principal: Principal, needed: str) -> ApiError:
    container.security.audit.record(
        "access_denied",
        reason=f"role {principal.role.value} lacks {needed}",
        user=principal.username,
        warning=True,
        permission=needed,
    )
    container.security.metrics.security_event("access_denied")
    return ApiError(403, "forbidden", "You do not have permission for this action")


async def _authenticate_request(request: Request, container: Container, session: AsyncSession) -> Principal:
    _note_route(request.scope)
    token = bearer_token(request.headers.get("authorization"))
    result = await _principal_from_token(token, container, session, request.scope)
    if result is None:
        raise unauthorized()
    principal, claims = result
    request.state.principal = principal
    request.state.token_expires_at = claims.expires_at
    return principal


def require(
    permission: Permission, *, rate_class: RateClass | None = None
) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the request and requires ``permission`` of the caller's role."""

    async def dependency(request: Request, container: ContainerDep, session: SessionDep) -> Principal:
        principal = await _authenticate_request(request, container, session)
        if not principal.has(permission):
            raise _deny(container, principal, permission.value)
        return principal

    dependency.__name__ = f"require_{permission.name.lower()}"
    _mark(dependency, AccessDeclaration("permission", permission, rate_class))
    return dependency


def authenticated(*, rate_class: RateClass | None = None) -> Callable[..., Awaitable[Principal]]:
    """A dependency that only needs a valid access token (any role)."""

    async def dependency(request: Request, container: ContainerDep, session: SessionDep) -> Principal:
        return await _authenticate_request(request, container, session)

    _mark(dependency, AccessDeclaration("authenticated", None, rate_class))
    return dependency


AuthenticatedDep = Annotated[Principal, Depends(authenticated())]


async def operational_read(
    request: Request, container: ContainerDep, session: SessionDep
) -> Principal | None:
    """Anonymous from trusted networks; elsewhere a token with ``system:read``. None means anonymous."""
    address = client_ip_of(request.scope)
    if is_trusted_network(address, container.settings.security.trusted_networks):
        return None
    principal = await _authenticate_request(request, container, session)
    if not principal.has(Permission.SYSTEM_READ):
        raise _deny(container, principal, Permission.SYSTEM_READ.value)
    return principal


_mark(operational_read, AccessDeclaration("operational-read", Permission.SYSTEM_READ))
OperationalReadDep = Annotated[Principal | None, Depends(operational_read)]


# ---------------------------------------------------------------------------------------------- WebSocket


def _subprotocols(websocket: WebSocket) -> list[str]:
    header = websocket.headers.get("sec-websocket-protocol", "")
    return [part.strip() for part in header.split(",") if part.strip()]


def websocket_token(websocket: WebSocket) -> str | None:
    for protocol in _subprotocols(websocket):
        if protocol.startswith(_BEARER_SUBPROTOCOL_PREFIX):
            return protocol[len(_BEARER_SUBPROTOCOL_PREFIX) :] or None
    return None


def origin_allowed(websocket: WebSocket, allowed: list[str]) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser; browsers always send Origin on a WebSocket handshake
    host = websocket.headers.get("host", "")
    same_origin = {f"http://{host}", f"https://{host}"}
    return origin in allowed or origin in same_origin


@dataclass(frozen=True, slots=True)
class WebSocketPrincipal:
    principal: Principal
    token_id: str
    family_id: str
    expires_at: dt.datetime


def require_ws(permission: Permission) -> Callable[..., Awaitable[WebSocketPrincipal]]:
    """Authenticate a WebSocket at the handshake; closes (4401/4403/1008) before accepting on failure."""

    async def dependency(websocket: WebSocket) -> WebSocketPrincipal:
        container: Container = websocket.app.state.container
        _note_route(websocket.scope)
        if not origin_allowed(websocket, container.settings.security.cors_origins):
            container.security.audit.record(
                "access_denied",
                reason="WebSocket Origin not allowed",
                warning=True,
                origin=websocket.headers.get("origin"),
            )
            raise WebSocketException(WS_CLOSE_POLICY, "origin not allowed")
        async with container.session_factory() as session:
            result = await _principal_from_token(
                websocket_token(websocket), container, session, websocket.scope
            )
            await session.commit()
        if result is None:
            raise WebSocketException(WS_CLOSE_UNAUTHORIZED, "authentication required")
        principal, claims = result
        if not principal.has(permission):
            _deny(container, principal, permission.value)
            raise WebSocketException(WS_CLOSE_FORBIDDEN, "forbidden")
        return WebSocketPrincipal(principal, claims.token_id, claims.family_id, claims.expires_at)

    _mark(dependency, AccessDeclaration("permission", permission))
    return dependency


async def token_still_valid(
    container: Container, token_id: str, family_id: str, expires_at: dt.datetime
) -> bool:
    if dt.datetime.now(dt.UTC) >= expires_at:
        return False
    async with container.session_factory() as session:
        revoked = await build_auth_service(container, session).revocations.any_revoked(token_id, family_id)
        await session.commit()
    return not revoked


@contextlib.asynccontextmanager
async def guard_websocket(
    websocket: WebSocket, authenticated_as: WebSocketPrincipal, check_every_seconds: float = 5.0
) -> Any:
    """While the block runs, close the socket with 4401 once its token expires or is revoked.

    ``async with guard_websocket(ws, who): await serve(ws)``.
    """
    container: Container = websocket.app.state.container

    async def watch() -> None:
        while True:
            remaining = (authenticated_as.expires_at - dt.datetime.now(dt.UTC)).total_seconds()
            await asyncio.sleep(max(0.0, min(check_every_seconds, remaining)))
            valid = await token_still_valid(
                container, authenticated_as.token_id, authenticated_as.family_id, authenticated_as.expires_at
            )
            if not valid:
                container.security.audit.record(
                    "token_revoked",
                    reason="WebSocket closed: token expired or revoked",
                    user=authenticated_as.principal.username,
                )
                with contextlib.suppress(RuntimeError):
                    await websocket.close(WS_CLOSE_UNAUTHORIZED, "token expired or revoked")
                return

    watcher = asyncio.create_task(watch())
    try:
        yield watcher
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
