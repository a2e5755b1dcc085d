"""The security adapters one process shares, built from settings (called by ``bootstrap`` only)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from freeagentics.config import Settings
from freeagentics.infra.cache import create_redis_client
from freeagentics.infra.security.audit import AuditLogger
from freeagentics.infra.security.circuit import RedisCircuit
from freeagentics.infra.security.ip_blocks import IpBlockList
from freeagentics.infra.security.keys import KeyRing, add_key, read_key_dir
from freeagentics.infra.security.passwords import Argon2PasswordHasher
from freeagentics.infra.security.rate_limit import (
    InProcessRateLimiter,
    RedisRateLimiter,
    ResilientRateLimiter,
)
from freeagentics.infra.security.revocation import (
    LocalRevocationList,
    RedisRevocationList,
    RevocationList,
)
from freeagentics.infra.security.tokens import JwtCodec
from freeagentics.infra.security.window_counter import RedisWindowCounter
from freeagentics.services.auth.ports import SecurityMetrics
from freeagentics.services.security_monitor import InProcessWindowCounter, WindowCounter

logger = logging.getLogger(__name__)

#: Route classes that refuse service (503) rather than fall back to a per-process limit when Redis is down:
#: a per-process limit on login would multiply the brute-force budget by the number of processes.
FAIL_CLOSED_CLASSES = frozenset({"auth"})


@dataclass
class SecurityAdapters:
    keys: KeyRing
    codec: JwtCodec
    hasher: Argon2PasswordHasher
    revocations: RevocationList
    rate_limiter: ResilientRateLimiter
    ip_blocks: IpBlockList
    window_counter: WindowCounter
    audit: AuditLogger
    metrics: SecurityMetrics
    redis: aioredis.Redis | None

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def ensure_signing_key(settings: Settings) -> None:
    """Outside production, generate the first key into the key dir; production keys are provisioned."""
    if settings.is_production or read_key_dir(settings.key_dir):
        return
    created = add_key(settings.key_dir)
    logger.info(
        "signing_key_created", extra={"fields": {"kid": created.kid, "key_dir": str(settings.key_dir)}}
    )


def build_security_adapters(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    metrics: SecurityMetrics,
) -> SecurityAdapters:
    ensure_signing_key(settings)
    keys = KeyRing(settings.key_dir)
    codec = JwtCodec(
        keys,
        issuer=settings.auth.issuer,
        audience=settings.auth.audience,
        access_lifetime=dt.timedelta(minutes=settings.auth.access_token_minutes),
        refresh_lifetime=dt.timedelta(days=settings.auth.refresh_token_days),
        leeway_seconds=settings.auth.leeway_seconds,
    )
    client = (
        create_redis_client(settings.redis_url, settings.redis) if settings.redis_url is not None else None
    )
    prefix = settings.redis.key_prefix
    circuit = RedisCircuit()
    revocations: RevocationList = (
        RedisRevocationList(client, prefix, circuit) if client is not None else LocalRevocationList()
    )
    limiter = ResilientRateLimiter(
        RedisRateLimiter(client, prefix) if client is not None else None,
        InProcessRateLimiter(),
        FAIL_CLOSED_CLASSES,
        circuit,
    )
    return SecurityAdapters(
        keys=keys,
        codec=codec,
        hasher=Argon2PasswordHasher(
            time_cost=settings.auth.argon2_time_cost, memory_kib=settings.auth.argon2_memory_kib
        ),
        revocations=revocations,
        rate_limiter=limiter,
        ip_blocks=IpBlockList(client, prefix, session_factory, circuit),
        window_counter=(
            RedisWindowCounter(client, prefix, circuit) if client is not None else InProcessWindowCounter()
        ),
        audit=AuditLogger(),
        metrics=metrics,
        redis=client,
    )
