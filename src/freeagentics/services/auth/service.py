"""Login, refresh with rotation and reuse detection, logout, token authentication, and user management.

Argon2 runs in worker threads (argon2-cffi releases the GIL), so a login never stalls the event loop.
Every failure a client can cause raises :class:`AuthenticationFailedError` with one public message; the
precise reason goes to the audit log only. Nothing here commits: the request or command boundary does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import unicodedata
import uuid
from dataclasses import dataclass

from freeagentics.services.auth.ports import (
    AuditLog,
    InvalidTokenError,
    PasswordHasher,
    RefreshOutcome,
    RefreshTokenStore,
    RevocationStore,
    SecurityMetrics,
    TokenClaims,
    TokenCodec,
    TokenType,
    UserRecord,
    UserStore,
)
from freeagentics.services.auth.rbac import SELF_REGISTRATION_ROLES, Principal, Role

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
MAX_PASSWORD_CHARS = 1024


class AuthenticationFailedError(Exception):
    """Credentials or a token were refused; ``reason`` is for the audit log, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UserInputError(ValueError):
    """A username or password breaks the policy; the message is safe to show."""


class UserNotFoundError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime
    user: UserRecord


def validate_username(username: str) -> str:
    if not USERNAME_PATTERN.fullmatch(username):
        raise UserInputError(
            "username must be 3-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return username


def validate_password(password: str, min_length: int) -> str:
    if "\x00" in password:
        raise UserInputError("password must not contain NUL characters")
    length = len(unicodedata.normalize("NFKC", password))
    if length < min_length:
        raise UserInputError(f"password must have at least {min_length} characters")
    if length > MAX_PASSWORD_CHARS:
        raise UserInputError(f"password must have at most {MAX_PASSWORD_CHARS} characters")
    return password


class AuthService:
    def __init__(
        self,
        *,
        users: UserStore,
        refresh_tokens: RefreshTokenStore,
        revocations: RevocationStore,
        codec: TokenCodec,
        hasher: PasswordHasher,
        audit: AuditLog,
        metrics: SecurityMetrics,
    ) -> None:
        self.users = users
        self.refresh_tokens = refresh_tokens
        self.revocations = revocations
        self.codec = codec
        self.hasher = hasher
        self.audit = audit
        self.metrics = metrics

    # ------------------------------------------------------------------ tokens

    def _fail(self, reason: str, user: str | None = None) -> AuthenticationFailedError:
        self.metrics.authentication_failed()
        self.audit.record("authentication_failed", reason=reason, user=user, warning=True)
        return AuthenticationFailedError(reason)

    async def _issue_pair(self, user: UserRecord, family_id: str) -> TokenPair:
        access, access_claims = self.codec.issue(TokenType.ACCESS, user.id, family_id, user.token_version)
        refresh, refresh_claims = self.codec.issue(TokenType.REFRESH, user.id, family_id, user.token_version)
        await self.refresh_tokens.add(refresh_claims.token_id, family_id, user.id, refresh_claims.expires_at)
        return TokenPair(access, refresh, access_claims.expires_at, refresh_claims.expires_at, user)

    async def login(self, username: str, password: str) -> TokenPair:
        user = await self.users.by_username(username) if USERNAME_PATTERN.fullmatch(username) else None
        if user is None:
            # Same Argon2 cost as a real check, so timing does not reveal which usernames exist.
            await asyncio.to_thread(self.hasher.verify_dummy, password)
            raise self._fail("unknown user", user=username)
        if not await asyncio.to_thread(self.hasher.verify, user.password_hash, password):
            raise self._fail("wrong password", user=user.username)
        if not user.is_active:
            raise self._fail("user deactivated", user=user.username)
        if self.hasher.needs_rehash(user.password_hash):
            await self.users.set_password_hash(user.id, await asyncio.to_thread(self.hasher.hash, password))
        pair = await self._issue_pair(user, uuid.uuid4().hex)
        self.audit.record("login_success", reason="password accepted", user=user.username)
        return pair

    async def refresh(self, refresh_token: str) -> TokenPair:
        try:
            claims = self.codec.decode(refresh_token, TokenType.REFRESH)
        except InvalidTokenError as exc:
            raise self._fail(f"refresh token refused: {exc.reason}") from None
        use = await self.refresh_tokens.consume(claims.token_id)
        if use.outcome is RefreshOutcome.ALREADY_USED:
            await self._revoke_family(claims.family_id, "token_reuse_detected")
            self.metrics.security_event("token_reuse_detected")
            self.audit.record(
                "token_reuse_detected",
                reason="an already rotated refresh token was presented; its family is revoked",
                user=str(claims.user_id),
                warning=True,
                family_id=claims.family_id,
            )
            raise self._fail("refresh token reuse", user=str(claims.user_id))
        if use.outcome is not RefreshOutcome.CONSUMED:
            raise self._fail(f"refresh token {use.outcome.value}", user=str(claims.user_id))
        if await self.revocations.any_revoked(claims.token_id, claims.family_id):
            raise self._fail("refresh family revoked", user=str(claims.user_id))
        user = await self.users.by_id(claims.user_id)
        if user is None or not user.is_active:
            raise self._fail("user missing or deactivated", user=str(claims.user_id))
        if user.token_version != claims.token_version:
            raise self._fail("token version superseded", user=user.username)
        return await self._issue_pair(user, claims.family_id)

    async def _revoke_family(self, family_id: str, reason: str) -> None:
        await self.refresh_tokens.revoke_family(family_id)
        expires = dt.datetime.now(dt.UTC) + self.codec.max_lifetime + dt.timedelta(minutes=1)
        await self.revocations.revoke(family_id, expires, reason)

    async def logout(self, principal: Principal, access_expires_at: dt.datetime) -> None:
        await self.revocations.revoke(principal.token_id, access_expires_at, "logout")
        await self._revoke_family(principal.session_family, "logout")
        self.audit.record("logout", reason="session ended by its user", user=principal.username)
        self.audit.record(
            "token_revoked",
            reason="logout revoked the access token and its refresh family",
            user=principal.username,
            token_id=principal.token_id,
            family_id=principal.session_family,
        )

    async def authenticate(self, access_token: str) -> tuple[Principal, TokenClaims]:
        try:
            claims = self.codec.decode(access_token, TokenType.ACCESS)
        except InvalidTokenError as exc:
            return await self.authenticate_decoded(exc)
        return await self.authenticate_decoded(claims)

    async def authenticate_decoded(
        self, decoded: TokenClaims | InvalidTokenError
    ) -> tuple[Principal, TokenClaims]:
        """:meth:`authenticate` for a caller that already ran ``codec.decode(token, TokenType.ACCESS)`` on
        this request's token (its claims, or the error it raised) and must not pay for the signature twice.
        Every check after the signature (revocation, the user's current row, token version) runs here."""
        if isinstance(decoded, InvalidTokenError):
            raise self._fail(decoded.reason)
        claims = decoded
        if claims.token_type is not TokenType.ACCESS:
            raise self._fail(
                f"wrong token type (expected {TokenType.ACCESS.value})", user=str(claims.user_id)
            )
        if await self.revocations.any_revoked(claims.token_id, claims.family_id):
            raise self._fail("token revoked", user=str(claims.user_id))
        user = await self.users.by_id(claims.user_id)
        if user is None:
            raise self._fail("user does not exist", user=str(claims.user_id))
        if not user.is_active:
            raise self._fail("user deactivated", user=user.username)
        if user.token_version != claims.token_version:
            raise self._fail("token version superseded (role change or deactivation)", user=user.username)
        principal = Principal(
            user_id=user.id,
            username=user.username,
            role=user.role,
            token_id=claims.token_id,
            session_family=claims.family_id,
        )
        return principal, claims

    # ------------------------------------------------------------------ users

    async def create_user(
        self, username: str, password: str, role: Role, *, min_password_length: int, actor: str
    ) -> UserRecord:
        validate_username(username)
        validate_password(password, min_password_length)
        password_hash = await asyncio.to_thread(self.hasher.hash, password)
        user = await self.users.create(username, password_hash, role)
        self.audit.record(
            "user_created", reason=f"created by {actor}", user=actor, target=user.username, role=role.value
        )
        return user

    async def register(
        self, username: str, password: str, *, role: Role, min_password_length: int
    ) -> UserRecord:
        if role not in SELF_REGISTRATION_ROLES:
            raise ValueError(f"self-registration cannot grant {role.value}")
        return await self.create_user(
            username, password, role, min_password_length=min_password_length, actor="self-registration"
        )

    async def set_role(self, user_id: uuid.UUID, role: Role, *, actor: str) -> UserRecord:
        before = await self.users.by_id(user_id)
        if before is None:
            raise UserNotFoundError(str(user_id))
        user = await self.users.set_role(user_id, role)
        if user is None:
            raise UserNotFoundError(str(user_id))
        self.audit.record(
            "role_changed",
            reason=f"{before.role.value} -> {role.value}; existing tokens invalidated",
            user=actor,
            target=user.username,
        )
        return user

    async def deactivate(self, user_id: uuid.UUID, *, actor: str) -> UserRecord:
        user = await self.users.deactivate(user_id)
        if user is None:
            raise UserNotFoundError(str(user_id))
        self.audit.record(
            "user_deactivated",
            reason="deactivated; existing tokens invalidated",
            user=actor,
            target=user.username,
        )
        return user
