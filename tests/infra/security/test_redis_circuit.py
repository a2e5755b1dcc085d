"""The Redis breaker opens on a failure, skips Redis during the cooldown, and closes after it."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from tests.conftest import closed_port

from freeagentics.infra.security.circuit import RedisCircuit, RedisUnavailableError
from freeagentics.infra.security.rate_limit import (
    InProcessRateLimiter,
    RedisRateLimiter,
    ResilientRateLimiter,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_then_closes_after_the_cooldown() -> None:
    clock = Clock()
    circuit = RedisCircuit(cooldown_seconds=5, clock=clock)
    circuit.check()
    circuit.failed()
    with pytest.raises(RedisUnavailableError):
        circuit.check()
    clock.now = 5.1
    circuit.check()


class CountingLimiter(RedisRateLimiter):
    def __init__(self, client: aioredis.Redis) -> None:
        super().__init__(client)
        self.calls = 0

    async def hit(self, route_class: str, subject: str, limit: int, window_seconds: float):
        self.calls += 1
        return await super().hit(route_class, subject, limit, window_seconds)


async def test_an_open_breaker_skips_redis_for_every_request() -> None:
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=0.2)
    primary = CountingLimiter(client)
    clock = Clock()
    limiter = ResilientRateLimiter(
        primary, InProcessRateLimiter(), frozenset({"auth"}), RedisCircuit(cooldown_seconds=5, clock=clock)
    )
    decisions = [await limiter.hit("read", "ip:1", 10, 60) for _ in range(5)]
    assert all(decision.backend == "in-process" for decision in decisions)
    assert primary.calls == 1
    clock.now = 6
    await limiter.hit("read", "ip:1", 10, 60)
    assert primary.calls == 2
    await client.aclose()


@pytest.mark.integration
async def test_monitoring_windows_are_shared_through_redis_and_expire(redis_url, redis_prefix) -> None:
    from freeagentics.infra.security.window_counter import RedisWindowCounter

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    process_a = RedisWindowCounter(client, redis_prefix, RedisCircuit())
    process_b = RedisWindowCounter(client, redis_prefix, RedisCircuit())
    counts = [await counter.add("auth:1.2.3.4", 60) for counter in (process_a, process_b, process_a)]
    assert counts == [1, 2, 3]
    key = f"{redis_prefix}security_window:auth:1.2.3.4"
    assert 0 < await client.pttl(key) <= 60_000
    await client.aclose()


async def test_monitoring_windows_fall_back_to_the_process_when_redis_fails() -> None:
    from freeagentics.infra.security.window_counter import RedisWindowCounter

    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=0.2)
    counter = RedisWindowCounter(client, "", RedisCircuit())
    assert [await counter.add("k", 60) for _ in range(3)] == [1, 2, 3]
    await client.aclose()
