"""The in-process sliding window, the Lua script on real Redis (exact under concurrency, keys expire),
and the fallback when Redis is unreachable."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from tests.conftest import closed_port

from freeagentics.infra.security.rate_limit import (
    InProcessRateLimiter,
    RateLimiterUnavailableError,
    RedisRateLimiter,
    ResilientRateLimiter,
)


async def test_in_process_window_admits_exactly_the_limit() -> None:
    limiter = InProcessRateLimiter()
    decisions = [await limiter.hit("read", "ip:1", 3, 60) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[-1].reset_seconds >= 1
    assert (await limiter.hit("read", "ip:2", 3, 60)).allowed


@pytest.mark.integration
async def test_redis_script_is_exact_under_concurrency_and_every_key_expires(redis_url, redis_prefix) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    limiter = RedisRateLimiter(client, redis_prefix)
    decisions = await asyncio.gather(*(limiter.hit("write", "user:u", 25, 30) for _ in range(100)))
    assert sum(d.allowed for d in decisions) == 25
    keys = [key async for key in client.scan_iter(match=f"{redis_prefix}rate_limit:*")]
    assert keys == [f"{redis_prefix}rate_limit:write:user:u"]
    assert 0 < await client.pttl(keys[0]) <= 30_000
    await client.aclose()


async def test_unreachable_redis_fails_closed_for_auth_and_falls_back_for_the_rest() -> None:
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=0.2)
    limiter = ResilientRateLimiter(RedisRateLimiter(client), InProcessRateLimiter(), frozenset({"auth"}))
    with pytest.raises(RateLimiterUnavailableError):
        await limiter.hit("auth", "ip:1", 10, 60)
    decisions = [await limiter.hit("read", "ip:1", 2, 60) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert {d.backend for d in decisions} == {"in-process"}
    await client.aclose()
