"""Key-value stores behind :class:`freeagentics.services.ports.KeyValueStore`: Redis and in-process."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from freeagentics.config import RedisSettings


def create_redis_client(url: str, settings: RedisSettings) -> aioredis.Redis:
    """An async Redis client with bounded connect and socket timeouts, so a dead Redis fails fast."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=settings.connect_timeout_seconds,
        socket_timeout=settings.socket_timeout_seconds,
        health_check_interval=30,
        decode_responses=True,
    )


class RedisKeyValueStore:
    backend = "redis"

    def __init__(self, client: aioredis.Redis, key_prefix: str = "") -> None:
        self.client = client
        self.key_prefix = key_prefix

    def key(self, key: str) -> str:
        return self.key_prefix + key

    async def ping(self) -> None:
        await self.client.ping()

    async def get(self, key: str) -> str | None:
        value = await self.client.get(self.key(key))
        return None if value is None else str(value)

    async def set(self, key: str, value: str, ttl_seconds: float) -> None:
        await self.client.set(self.key(key), value, px=max(1, int(ttl_seconds * 1000)))

    async def delete(self, key: str) -> None:
        await self.client.delete(self.key(key))

    async def exists(self, key: str) -> bool:
        return bool(await self.client.exists(self.key(key)))

    async def close(self) -> None:
        await self.client.aclose()


class InProcessKeyValueStore:
    """A per-process store with expiry for the embedded default (one process, no Redis)."""

    backend = "in-process"

    def __init__(self) -> None:
        self._values: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    def _live(self, key: str) -> str | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, expires_at = item
        if expires_at <= time.monotonic():
            del self._values[key]
            return None
        return value

    async def ping(self) -> None:
        return None

    async def get(self, key: str) -> str | None:
        async with self._lock:
            return self._live(key)

    async def set(self, key: str, value: str, ttl_seconds: float) -> None:
        async with self._lock:
            self._values[key] = (value, time.monotonic() + ttl_seconds)

    async def delete(self, key: str) -> None:
        async with self._lock:
            self._values.pop(key, None)

    async def exists(self, key: str) -> bool:
        async with self._lock:
            return self._live(key) is not None

    async def close(self) -> None:
        self._values.clear()


class KeyValueStoreHealthProbe:
    name = "redis"

    def __init__(self, store: RedisKeyValueStore) -> None:
        self._store = store

    async def check(self) -> dict[str, str]:
        await self._store.ping()
        return {"backend": self._store.backend}
