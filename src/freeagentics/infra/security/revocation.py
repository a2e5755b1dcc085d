"""Revoked token and refresh-family ids: ``blacklist:<id>`` in Redis (TTL = remaining life) + the DB mirror.

A marker key says the Redis list was loaded from the database. When it is missing (first use, or Redis
restarted and lost its data) the next check answers from the database and reloads Redis, so a Redis restart
loses no revocation. When Redis is unreachable the database answers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from freeagentics.infra.db.repositories.tokens import TokenRevocationRepository
from freeagentics.infra.logging import log_fields
from freeagentics.infra.security.circuit import RedisCircuit

logger = logging.getLogger(__name__)

BLACKLIST_PREFIX = "blacklist:"
LOADED_MARKER = "revocations_loaded"
MARKER_TTL_SECONDS = 3600


def _remaining_ms(expires_at: dt.datetime, now: dt.datetime) -> int:
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    return int((expires_at - now).total_seconds() * 1000)


class RedisRevocationList:
    def __init__(
        self, client: aioredis.Redis, key_prefix: str = "", circuit: RedisCircuit | None = None
    ) -> None:
        self.client = client
        self.prefix = key_prefix
        self.circuit = circuit or RedisCircuit()

    async def add(self, token_id: str, expires_at: dt.datetime) -> None:
        ttl = _remaining_ms(expires_at, dt.datetime.now(dt.UTC))
        if ttl > 0:
            self.circuit.check()
            try:
                await self.client.set(f"{self.prefix}{BLACKLIST_PREFIX}{token_id}", "1", px=ttl)
            except (RedisError, OSError):
                self.circuit.failed()
                raise

    async def contains(self, token_ids: list[str]) -> bool | None:
        """True/False from Redis, or None when Redis has not been loaded from the database."""
        self.circuit.check()
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.exists(self.prefix + LOADED_MARKER)
                pipe.exists(*[f"{self.prefix}{BLACKLIST_PREFIX}{token_id}" for token_id in token_ids])
                loaded, revoked = await pipe.execute()
        except (RedisError, OSError):
            self.circuit.failed()
            raise
        if not loaded:
            return None
        return bool(revoked)

    async def load(self, entries: list[tuple[str, dt.datetime]]) -> None:
        self.circuit.check()
        now = dt.datetime.now(dt.UTC)
        async with self.client.pipeline(transaction=False) as pipe:
            for token_id, expires_at in entries:
                ttl = _remaining_ms(expires_at, now)
                if ttl > 0:
                    pipe.set(f"{self.prefix}{BLACKLIST_PREFIX}{token_id}", "1", px=ttl)
            pipe.set(self.prefix + LOADED_MARKER, "1", ex=MARKER_TTL_SECONDS)
            await pipe.execute()


class LocalRevocationList:
    """The in-process list of the embedded default (one process; the database survives restarts)."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._loaded = False

    async def add(self, token_id: str, expires_at: dt.datetime) -> None:
        remaining = _remaining_ms(expires_at, dt.datetime.now(dt.UTC)) / 1000
        if remaining > 0:
            self._expiry[token_id] = time.monotonic() + remaining

    async def contains(self, token_ids: list[str]) -> bool | None:
        if not self._loaded:
            return None
        now = time.monotonic()
        for token_id in token_ids:
            expiry = self._expiry.get(token_id)
            if expiry is not None:
                if expiry > now:
                    return True
                del self._expiry[token_id]
        return False

    async def load(self, entries: list[tuple[str, dt.datetime]]) -> None:
        for token_id, expires_at in entries:
            await self.add(token_id, expires_at)
        self._loaded = True


RevocationList = RedisRevocationList | LocalRevocationList


class MirroredRevocationStore:
    """Implements :class:`freeagentics.services.auth.ports.RevocationStore` for one request's session."""

    def __init__(self, fast: RevocationList, mirror: TokenRevocationRepository) -> None:
        self._fast = fast
        self._mirror = mirror

    async def revoke(self, token_id: str, expires_at: dt.datetime, reason: str) -> None:
        await self._mirror.add(token_id, expires_at, reason)
        try:
            await self._fast.add(token_id, expires_at)
        except (RedisError, OSError) as exc:
            # The database row is the record; the next check after Redis returns reloads it.
            logger.warning("revocation_cache_unavailable", extra=log_fields(error=type(exc).__name__))

    async def any_revoked(self, *token_ids: str) -> bool:
        ids = [token_id for token_id in token_ids if token_id]
        try:
            answer = await self._fast.contains(ids)
        except (RedisError, OSError) as exc:
            logger.warning("revocation_cache_unavailable", extra=log_fields(error=type(exc).__name__))
            answer = None
        now = dt.datetime.now(dt.UTC)
        if answer is None:
            answer = await self._mirror.any_revoked(ids, now)
            with contextlib.suppress(RedisError, OSError):
                await self._fast.load(await self._mirror.active(now))
        return answer
