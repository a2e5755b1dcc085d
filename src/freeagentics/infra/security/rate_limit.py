"""Sliding-window rate limiting: one atomic Lua script on Redis' clock, an in-process twin, and the fallback.

Keys are ``rate_limit:<route class>:<subject>`` (subject ``user:<id>`` after authentication, ``ip:<addr>``
before). The script trims the window, counts, admits and sets ``PEXPIRE`` in one step, so concurrent requests
from any number of processes are counted exactly and every key expires.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from freeagentics.infra.logging import log_fields
from freeagentics.infra.security.circuit import RedisCircuit, RedisUnavailableError

logger = logging.getLogger(__name__)

KEY_PREFIX = "rate_limit:"

_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, limit - count - 1, window}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = window
if oldest[2] then retry = tonumber(oldest[2]) + window - now end
if retry < 1 then retry = 1 end
redis.call('PEXPIRE', KEYS[1], window)
return {0, 0, retry}
"""


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    """Seconds until a request is admitted again (denied) or until the window has fully passed (allowed)."""
    backend: str


class RateLimiterUnavailableError(Exception):
    """Redis is unreachable and this route class fails closed."""


class RedisRateLimiter:
    backend = "redis"

    def __init__(self, client: aioredis.Redis, key_prefix: str = "") -> None:
        self._client = client
        self._prefix = key_prefix
        self._script = client.register_script(_SLIDING_WINDOW)

    async def hit(self, route_class: str, subject: str, limit: int, window_seconds: float) -> RateDecision:
        window_ms = max(1, int(window_seconds * 1000))
        allowed, remaining, wait_ms = await self._script(
            keys=[f"{self._prefix}{KEY_PREFIX}{route_class}:{subject}"],
            args=[limit, window_ms, uuid.uuid4().hex],
        )
        return RateDecision(
            allowed=bool(allowed),
            limit=limit,
            remaining=int(remaining),
            reset_seconds=max(1, math.ceil(int(wait_ms) / 1000)),
            backend=self.backend,
        )


class InProcessRateLimiter:
    """The same sliding window in one process: the embedded default, and the fallback while Redis is down."""

    backend = "in-process"
    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, route_class: str, subject: str, limit: int, window_seconds: float) -> RateDecision:
        now = time.monotonic()
        key = f"{route_class}:{subject}"
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.MAX_KEYS:
                self._evict(now, window_seconds)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - window_seconds:
            hits.popleft()
        if len(hits) < limit:
            hits.append(now)
            return RateDecision(
                True, limit, limit - len(hits), max(1, math.ceil(window_seconds)), self.backend
            )
        wait = hits[0] + window_seconds - now
        return RateDecision(False, limit, 0, max(1, math.ceil(wait)), self.backend)

    def _evict(self, now: float, window_seconds: float) -> None:
        for key in [key for key, hits in self._hits.items() if not hits or hits[-1] <= now - window_seconds]:
            del self._hits[key]
        if len(self._hits) >= self.MAX_KEYS:
            self._hits.clear()


class ResilientRateLimiter:
    """Redis first. When Redis fails, classes in ``fail_closed`` raise and the others use a local limiter."""

    def __init__(
        self,
        primary: RedisRateLimiter | None,
        fallback: InProcessRateLimiter,
        fail_closed: frozenset[str],
        circuit: RedisCircuit | None = None,
    ) -> None:
        self._circuit = circuit or RedisCircuit()
        self._primary = primary
        self._fallback = fallback
        self._fail_closed = fail_closed
        self._last_warning = 0.0

    @property
    def backend(self) -> str:
        return self._primary.backend if self._primary else self._fallback.backend

    async def hit(self, route_class: str, subject: str, limit: int, window_seconds: float) -> RateDecision:
        if self._primary is None:
            return await self._fallback.hit(route_class, subject, limit, window_seconds)
        try:
            self._circuit.check()
            return await self._primary.hit(route_class, subject, limit, window_seconds)
        except (RedisError, OSError) as exc:
            if not isinstance(exc, RedisUnavailableError):
                self._circuit.failed()
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                logger.error(
                    "rate_limiter_redis_unavailable",
                    extra=log_fields(
                        error=type(exc).__name__, fallback="in-process", fail_closed=sorted(self._fail_closed)
                    ),
                )
            if route_class in self._fail_closed:
                raise RateLimiterUnavailableError(route_class) from None
            return await self._fallback.hit(route_class, subject, limit, window_seconds)
