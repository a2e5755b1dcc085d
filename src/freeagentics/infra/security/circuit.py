"""A shared breaker for the security adapters' Redis calls.

When Redis is down every call would wait for the connect timeout; the rate limiter, the revocation list and
the IP block list each make one call per request, so an outage would add seconds to every request. After a
failure the breaker stays open for ``cooldown_seconds``: callers skip Redis (rate limits fall back or fail
closed, revocations are answered by the database) and one call tries Redis again after the cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RedisUnavailableError(ConnectionError):
    """The breaker is open: Redis failed within the cooldown."""


class RedisCircuit:
    def __init__(self, cooldown_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        return self._clock() < self._open_until

    def check(self) -> None:
        """Raise :class:`RedisUnavailableError` while the breaker is open."""
        if self.is_open:
            raise RedisUnavailableError("redis marked unavailable")

    def failed(self) -> None:
        self._open_until = self._clock() + self.cooldown_seconds
