"""Roles, permissions and the matrix between them; the authenticated :class:`Principal`.

The matrix is the single source of truth: the API checks it on every route, and
``docs/security/PERMISSIONS.md`` shows it (``tests/security/test_permissions_doc.py`` keeps the two in step).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    RESEARCHER = "researcher"
    OBSERVER = "observer"


class Permission(StrEnum):
    AGENTS_READ = "agents:read"
    AGENTS_WRITE = "agents:write"
    AGENTS_CONTROL = "agents:control"
    WORLDS_READ = "worlds:read"
    WORLDS_WRITE = "worlds:write"
    COALITIONS_READ = "coalitions:read"
    COALITIONS_WRITE = "coalitions:write"
    OBJECTIVES_READ = "objectives:read"
    OBJECTIVES_WRITE = "objectives:write"
    SYSTEM_READ = "system:read"
    REPORTS_READ = "reports:read"
    USERS_MANAGE = "users:manage"
    KEYS_MANAGE = "keys:manage"
    SECURITY_READ = "security:read"
    SECURITY_MANAGE = "security:manage"


_READS = frozenset(
    {
        Permission.AGENTS_READ,
        Permission.WORLDS_READ,
        Permission.COALITIONS_READ,
        Permission.OBJECTIVES_READ,
        Permission.SYSTEM_READ,
    }
)
_RESEARCH_WRITES = frozenset(
    {
        Permission.AGENTS_WRITE,
        Permission.AGENTS_CONTROL,
        Permission.WORLDS_WRITE,
        Permission.COALITIONS_WRITE,
        Permission.OBJECTIVES_WRITE,
    }
)

#: role -> permissions. Researchers hold write permissions, but ownership limits them to their own rows.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: _READS | _RESEARCH_WRITES | {Permission.REPORTS_READ, Permission.SECURITY_READ},
    Role.RESEARCHER: _READS | _RESEARCH_WRITES,
    Role.OBSERVER: _READS,
}

#: Roles that see and change every owner's rows; any other role only its own.
ROLES_SEEING_ALL: frozenset[Role] = frozenset({Role.ADMIN, Role.OPERATOR, Role.OBSERVER})

#: Roles self-registration may hand out; the caller never chooses.
SELF_REGISTRATION_ROLES: frozenset[Role] = frozenset({Role.OBSERVER, Role.RESEARCHER})


def role_has(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, verified from a token and the current users row (the role never comes from a token)."""

    user_id: uuid.UUID
    username: str
    role: Role
    token_id: str = ""
    session_family: str = ""

    def has(self, permission: Permission) -> bool:
        return role_has(self.role, permission)

    @property
    def sees_all(self) -> bool:
        return self.role in ROLES_SEEING_ALL

    def can_access_owned(self, owner_id: uuid.UUID | None) -> bool:
        """Whether this principal may see a row owned by ``owner_id``.

        Callers answer 404 (never 403) when this is false, so another user's id looks exactly like a
        missing one.
        """
        return self.sees_all or (owner_id is not None and owner_id == self.user_id)

    def owner_filter(self) -> uuid.UUID | None:
        """The owner id a listing must be restricted to, or ``None`` when this principal sees all rows."""
        return None if self.sees_all else self.user_id
