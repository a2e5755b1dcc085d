"""ORM tables. The schema is owned by Alembic migrations (``migrations/versions``); keep both in step."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from freeagentics.infra.db.base import Base, JsonDocument, UtcDateTime, utc_now

ROLES = ("admin", "operator", "researcher", "observer")
AGENT_STATUSES = ("created", "running", "stopped", "error")


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role_known"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class WorldRow(Base):
    __tablename__ = "worlds"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    spec: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    seed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


class AgentRow(Base):
    __tablename__ = "agents"
    __table_args__ = (
        CheckConstraint(f"status IN {AGENT_STATUSES!r}", name="status_known"),
        Index("ix_agents_world_id_status", "world_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    world_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("worlds.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    template: Mapped[str | None] = mapped_column(String(64))
    model_spec: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="created", index=True)
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Incremented by every restart, so the runtime owner sees restarts made through any API replica."""
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class RefreshTokenRow(Base):
    """One issued refresh token; ``used_at`` is set exactly once, when it is rotated."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class TokenRevocationRow(Base):
    """The database mirror of Redis ``blacklist:<id>`` (a token id or a refresh family id)."""

    __tablename__ = "token_revocations"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    reason: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


class BlockedIpRow(Base):
    """A client address blocked by security monitoring or an admin until ``blocked_until``."""

    __tablename__ = "blocked_ips"

    ip: Mapped[str] = mapped_column(String(45), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    blocked_until: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


class WorldCheckpointRow(Base):
    """The latest checkpoint of a world: its snapshot and every agent's beliefs and counts (packed arrays,
    ``services/runtime/array_pack.py``; ``.npz`` in checkpoints written before it)."""

    __tablename__ = "world_checkpoints"

    world_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("worlds.id", ondelete="CASCADE"), primary_key=True)
    tick: Mapped[int] = mapped_column(BigInteger)
    agent_count: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    saved_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


OBJECTIVE_STATUSES = ("open", "assigned", "completed", "expired")
COALITION_STATES = ("forming", "active", "completed", "dissolved")


class ObjectiveRow(Base):
    """A goal in a world: a target region, the capabilities it needs and the value it is worth."""

    __tablename__ = "objectives"
    __table_args__ = (
        CheckConstraint(f"status IN {OBJECTIVE_STATUSES!r}", name="status_known"),
        Index("ix_objectives_world_id_status", "world_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    world_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("worlds.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    region: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    required: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    value: Mapped[float] = mapped_column(Float)
    priority: Mapped[float] = mapped_column(Float, default=1.0)
    deadline_tick: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="open")
    value_credited: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class CoalitionRow(Base):
    """A coalition formed for one objective; ``member_ids`` keeps who served, after release too."""

    __tablename__ = "coalitions"
    __table_args__ = (CheckConstraint(f"state IN {COALITION_STATES!r}", name="state_known"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    objective_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("objectives.id", ondelete="CASCADE"), index=True
    )
    world_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("worlds.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="forming", index=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    member_ids: Mapped[list[str]] = mapped_column(JsonDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class CoalitionMemberRow(Base):
    """Current membership: an agent belongs to at most one live coalition (the primary key on agent_id)."""

    __tablename__ = "coalition_members"

    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    coalition_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("coalitions.id", ondelete="CASCADE"), index=True
    )
