"""``/api/v1/auth``: login, refresh (rotation with reuse detection), logout, self-registration, "me".

Every credential or token failure answers the same 401 body; the specific reason is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from freeagentics.api.dependencies import ContainerDep, SessionDep
from freeagentics.api.errors import ApiError
from freeagentics.api.middleware.client_ip import client_ip_of
from freeagentics.api.permissions import AuthenticatedDep, AuthServiceDep
from freeagentics.bootstrap import Container
from freeagentics.infra.security.rate_limit import RateLimiterUnavailableError
from freeagentics.services.auth.ports import UsernameTakenError, UserRecord
from freeagentics.services.auth.rbac import Role
from freeagentics.services.auth.service import AuthenticationFailedError, TokenPair, UserInputError

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def invalid_credentials() -> ApiError:
    """One answer for an unknown user, a wrong password and a deactivated user."""
    return ApiError(401, "invalid_credentials", "Invalid username or password")


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=False)


class LoginRequest(_Input):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class RefreshRequest(_Input):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class RegisterRequest(_Input):
    username: Annotated[str, Field(min_length=3, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class UserOut(BaseModel):
    id: str
    username: str
    role: Role
    is_active: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, user: UserRecord) -> UserOut:
        return cls(
            id=str(user.id),
            username=user.username,
            role=user.role,
            is_active=user.is_active,
            created_at=user.created_at,
        )


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type name, not a secret)
    expires_in: int
    refresh_expires_in: int
    user: UserOut

    @classmethod
    def of(cls, pair: TokenPair) -> TokenResponse:
        now = dt.datetime.now(dt.UTC)
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=int((pair.access_expires_at - now).total_seconds()),
            refresh_expires_in=int((pair.refresh_expires_at - now).total_seconds()),
            user=UserOut.of(pair.user),
        )


async def _limit_attempts_on_account(container: Container, username: str) -> None:
    """The ``auth`` limit also per target account, so guessing one password from many addresses is slowed.

    The key holds a hash of the lower-cased name: attacker-chosen text never becomes part of a Redis key.
    """
    rule = container.config.current.rate_limiting.classes.get("auth")
    if rule is None or not container.config.current.rate_limiting.enabled:
        return
    account = hashlib.sha256(username.lower().encode("utf-8", "replace")).hexdigest()[:32]
    try:
        decision = await container.security.rate_limiter.hit(
            "auth", f"account:{account}", rule.requests, rule.window_seconds
        )
    except RateLimiterUnavailableError:
        raise ApiError(503, "service_unavailable", "Authentication is temporarily unavailable") from None
    if not decision.allowed:
        container.security.metrics.rate_limited("auth")
        container.security.audit.record(
            "rate_limit_exceeded",
            reason=f"login attempts on one account: {rule.requests} per {rule.window_seconds:g} s",
            user=username,
            warning=True,
            route_class="auth",
            backend=decision.backend,
        )
        raise HTTPException(
            429,
            "Too many attempts on this account; retry later",
            headers={"Retry-After": str(decision.reset_seconds)},
        )


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post(
    "/login", summary="Exchange username and password for an access and a refresh token", response_model=None
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    service: AuthServiceDep,
    session: SessionDep,
    container: ContainerDep,
) -> TokenResponse:
    await _limit_attempts_on_account(container, body.username)
    try:
        pair = await service.login(body.username, body.password)
    except AuthenticationFailedError:
        await session.commit()
        await container.security_monitor.authentication_failed(client_ip_of(request.scope))
        raise invalid_credentials() from None
    response.headers.update(_NO_STORE)
    return TokenResponse.of(pair)


@router.post("/refresh", summary="Rotate a refresh token; an already used one revokes its whole family")
async def refresh(
    body: RefreshRequest,
    request: Request,
    response: Response,
    service: AuthServiceDep,
    session: SessionDep,
    container: ContainerDep,
) -> TokenResponse:
    try:
        pair = await service.refresh(body.refresh_token)
    except AuthenticationFailedError:
        # Reuse detection revoked a family: that must be kept although the answer is an error.
        await session.commit()
        await container.security_monitor.authentication_failed(client_ip_of(request.scope))
        raise ApiError(401, "unauthorized", "Authentication required") from None
    response.headers.update(_NO_STORE)
    return TokenResponse.of(pair)


@router.post("/logout", status_code=204, summary="Revoke this access token and its refresh family")
async def logout(principal: AuthenticatedDep, request: Request, service: AuthServiceDep) -> Response:
    await service.logout(principal, request.state.token_expires_at)
    return Response(status_code=204)


@router.get("/me", summary="The authenticated user")
async def me(principal: AuthenticatedDep, service: AuthServiceDep) -> UserOut:
    user = await service.users.by_id(principal.user_id)
    if user is None:
        raise ApiError(401, "unauthorized", "Authentication required")
    return UserOut.of(user)


@router.post(
    "/register",
    status_code=201,
    summary="Self-registration (when enabled in security_policies.yaml); the role comes from the policy",
)
async def register(body: RegisterRequest, service: AuthServiceDep, container: ContainerDep) -> UserOut:
    policy = container.config.current.security_policies
    if not policy.registration.enabled:
        raise ApiError(403, "registration_disabled", "Self-registration is disabled")
    try:
        user = await service.register(
            body.username,
            body.password,
            role=Role(policy.registration.default_role),
            min_password_length=policy.password.min_length,
        )
    except UserInputError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None
    except UsernameTakenError:
        raise ApiError(409, "username_taken", "That username is taken") from None
    return UserOut.of(user)
