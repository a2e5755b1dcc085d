"""What the auth use cases need from the outside world; ``bootstrap`` and the API supply the adapters."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from freeagentics.services.auth.rbac import Role


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    username: str
    password_hash: str
    role: Role
    is_active: bool
    token_version: int
    created_at: dt.datetime


class UsernameTakenError(Exception):
    """The username exists already (usernames are unique, compared case-insensitively)."""


class UserStore(Protocol):
    async def by_username(self, username: str) -> UserRecord | None: ...

    async def by_id(self, user_id: uuid.UUID) -> UserRecord | None: ...

    async def create(self, username: str, password_hash: str, role: Role) -> UserRecord: ...

    async def list(self, limit: int, offset: int) -> list[UserRecord]: ...

    async def count(self) -> int: ...

    async def set_role(self, user_id: uuid.UUID, role: Role) -> UserRecord | None:
        """Change the role and bump ``token_version`` so every token of the user dies at once."""
        ...

    async def deactivate(self, user_id: uuid.UUID) -> UserRecord | None:
        """Clear ``is_active`` and bump ``token_version``."""
        ...

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None: ...


class RefreshOutcome(StrEnum):
    CONSUMED = "consumed"
    ALREADY_USED = "already_used"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RefreshUse:
    outcome: RefreshOutcome
    family_id: str = ""
    user_id: uuid.UUID | None = None


class RefreshTokenStore(Protocol):
    async def add(
        self, token_id: str, family_id: str, user_id: uuid.UUID, expires_at: dt.datetime
    ) -> None: ...

    async def consume(self, token_id: str) -> RefreshUse:
        """Mark the token used, atomically: of two concurrent calls with one id exactly one gets CONSUMED."""
        ...

    async def revoke_family(self, family_id: str) -> int: ...


class RevocationStore(Protocol):
    """Revoked token and family ids until they expire (``blacklist:<id>`` in Redis, mirrored in the DB)."""

    async def revoke(self, token_id: str, expires_at: dt.datetime, reason: str) -> None: ...

    async def any_revoked(self, *token_ids: str) -> bool: ...


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    token_id: str
    token_type: TokenType
    user_id: uuid.UUID
    family_id: str
    token_version: int
    issued_at: dt.datetime
    expires_at: dt.datetime


class InvalidTokenError(Exception):
    """A token failed verification; ``reason`` is for the audit log only, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenCodec(Protocol):
    @property
    def max_lifetime(self) -> dt.timedelta:
        """The longest life of any token this codec issues."""
        ...

    def issue(
        self, token_type: TokenType, user_id: uuid.UUID, family_id: str, token_version: int
    ) -> tuple[str, TokenClaims]: ...

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        """Verify signature, algorithm, type and every registered claim; raise :class:`InvalidTokenError`."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def verify_dummy(self, password: str) -> None:
        """Spend the same time as :meth:`verify` for a user that does not exist."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class AuditLog(Protocol):
    """Writes one ``security_audit.log`` record; adapters fill in time, request id and route."""

    def record(
        self, event: str, *, reason: str, user: str | None = None, warning: bool = False, **fields: Any
    ) -> None: ...


class SecurityMetrics(Protocol):
    """Counters the security code reports; the Prometheus adapter lives in ``infra``."""

    def authentication_failed(self) -> None: ...

    def rate_limited(self, route_class: str) -> None: ...

    def security_event(self, kind: str) -> None: ...


class InMemorySecurityMetrics:
    """Counts in process memory: the default until a Prometheus adapter is wired, and handy in tests."""

    def __init__(self) -> None:
        self.authentication_failures = 0
        self.rate_limit_violations: dict[str, int] = {}
        self.security_events: dict[str, int] = {}

    def authentication_failed(self) -> None:
        self.authentication_failures += 1

    def rate_limited(self, route_class: str) -> None:
        self.rate_limit_violations[route_class] = self.rate_limit_violations.get(route_class, 0) + 1

    def security_event(self, kind: str) -> None:
        self.security_events[kind] = self.security_events.get(kind, 0) + 1

    def snapshot(self) -> Mapping[str, Any]:
        return {
            "authentication_failures": self.authentication_failures,
            "rate_limit_violations": dict(self.rate_limit_violations),
            "security_events": dict(self.security_events),
        }
