"""Blocked client addresses: ``ip_block:<addr>`` in Redis (TTL = block time) or in process, and the DB rows.

The middleware asks :meth:`IpBlockList.is_blocked` on every request; a local copy answers when Redis is down,
and the database row is what the admin API and the CLI list and lift.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from freeagentics.infra.db.repositories.security import BlockedIpRepository
from freeagentics.infra.logging import log_fields
from freeagentics.infra.security.circuit import RedisCircuit

logger = logging.getLogger(__name__)

BLOCK_PREFIX = "ip_block:"


class IpBlockList:
    def __init__(
        self,
        client: aioredis.Redis | None,
        key_prefix: str,
        session_factory: async_sessionmaker[AsyncSession],
        circuit: RedisCircuit | None = None,
    ) -> None:
        self._circuit = circuit or RedisCircuit()
        self._client = client
        self._prefix = key_prefix
        self._session_factory = session_factory
        self._local: dict[str, float] = {}
        self._local_read_at = 0.0

    #: Without Redis the database is re-read this often, so a block lifted by the CLI ends within seconds.
    LOCAL_REFRESH_SECONDS = 5.0

    def _key(self, ip: str) -> str:
        return f"{self._prefix}{BLOCK_PREFIX}{ip}"

    async def load(self) -> None:
        """Copy the database's active blocks into the fast store (process start)."""
        now = dt.datetime.now(dt.UTC)
        try:
            async with self._session_factory() as session:
                active = await BlockedIpRepository(session).active(now)
        except (SQLAlchemyError, OSError) as exc:
            # The database being down must not stop the service (health reports it); keep what we know.
            logger.warning("ip_blocks_unreadable", extra=log_fields(error=type(exc).__name__))
            self._local_read_at = time.monotonic()
            return
        self._local_read_at = time.monotonic()
        self._local = {}
        for ip, until, _reason in active:
            await self._remember(ip, _seconds_until(until, now))

    async def _remember(self, ip: str, seconds: float) -> None:
        if seconds <= 0:
            return
        self._local[ip] = time.monotonic() + seconds
        if self._client is not None:
            try:
                await self._client.set(self._key(ip), "1", px=max(1, int(seconds * 1000)))
            except (RedisError, OSError) as exc:
                logger.warning("ip_block_cache_unavailable", extra=log_fields(error=type(exc).__name__))

    async def block(self, ip: str, seconds: float, reason: str) -> None:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        async with self._session_factory() as session:
            await BlockedIpRepository(session).block(ip, until, reason)
            await session.commit()
        await self._remember(ip, seconds)

    async def lift(self, ip: str, session: AsyncSession) -> bool:
        lifted = await BlockedIpRepository(session).lift(ip)
        self._local.pop(ip, None)
        if self._client is not None:
            try:
                await self._client.delete(self._key(ip))
            except (RedisError, OSError) as exc:
                logger.warning("ip_block_cache_unavailable", extra=log_fields(error=type(exc).__name__))
        return lifted

    async def is_blocked(self, ip: str) -> bool:
        if self._client is not None and not self._circuit.is_open:
            try:
                return bool(await self._client.exists(self._key(ip)))
            except (RedisError, OSError):
                self._circuit.failed()
        elif time.monotonic() - self._local_read_at > self.LOCAL_REFRESH_SECONDS:
            await self.load()
        expiry = self._local.get(ip)
        if expiry is None:
            return False
        if expiry <= time.monotonic():
            del self._local[ip]
            return False
        return True


def _seconds_until(until: dt.datetime, now: dt.datetime) -> float:
    if until.tzinfo is None:
        until = until.replace(tzinfo=dt.UTC)
    return (until - now).total_seconds()
