"""Security monitoring's sliding-window counts in Redis, shared by every process (one Lua script, Redis'
clock, every ``security_window:*`` key with an expiry), falling back to a per-process count when Redis fails.
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from freeagentics.infra.security.circuit import RedisCircuit
from freeagentics.services.security_monitor import InProcessWindowCounter

KEY_PREFIX = "security_window:"

_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], window)
return redis.call('ZCARD', KEYS[1])
"""


class RedisWindowCounter:
    def __init__(
        self,
        client: aioredis.Redis,
        key_prefix: str,
        circuit: RedisCircuit,
        fallback: InProcessWindowCounter | None = None,
    ) -> None:
        self._script = client.register_script(_COUNT)
        self._prefix = key_prefix
        self._circuit = circuit
        self._fallback = fallback or InProcessWindowCounter()

    async def add(self, key: str, window: float) -> int:
        if not self._circuit.is_open:
            try:
                count = await self._script(
                    keys=[f"{self._prefix}{KEY_PREFIX}{key}"],
                    args=[max(1, int(window * 1000)), uuid.uuid4().hex],
                )
                return int(count)
            except (RedisError, OSError):
                self._circuit.failed()
        return await self._fallback.add(key, window)
