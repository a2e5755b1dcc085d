"""Security monitoring: sliding one-minute counters of authentication failures and rate-limit violations.

Crossing a threshold (per client IP, or overall) raises an alert: one ``security_event`` audit record and a
metric. An IP that raises ``block_after_alerts`` alerts within ``block_window_seconds`` is blocked for
``block_seconds`` (the block itself is enforced by the API's middleware through :class:`IpBlocker`).
With Redis the counters are shared by every process (``security_window:*`` keys, each with an expiry);
otherwise, and while Redis is down, each process counts what it sees. Addresses for which
``never_block`` is true (the trusted networks and proxies: blocking loopback would lock out the operator,
blocking the proxy everyone) raise alerts but are never blocked.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from freeagentics.services.auth.ports import AuditLog, SecurityMetrics

WINDOW_SECONDS = 60.0
_MAX_TRACKED_IPS = 50_000


@dataclass(frozen=True, slots=True)
class MonitorThresholds:
    authentication_failures_per_minute: int = 10
    rate_limit_violations_per_minute: int = 50
    block_after_alerts: int = 3
    block_window_seconds: float = 600.0
    block_seconds: float = 900.0


class IpBlocker(Protocol):
    async def block(self, ip: str, seconds: float, reason: str) -> None: ...


class WindowCounter(Protocol):
    """Adds one event under ``key`` and returns how many happened within the last ``window`` seconds.

    The Redis adapter shares the counts between processes; :class:`InProcessWindowCounter` is the
    embedded default and the fallback.
    """

    async def add(self, key: str, window: float) -> int: ...


class InProcessWindowCounter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._counter = _SlidingCounter()
        self._clock = clock

    async def add(self, key: str, window: float) -> int:
        return self._counter.add(key, self._clock(), window)


class _SlidingCounter:
    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = {}

    def add(self, key: str, now: float, window: float) -> int:
        times = self._times.get(key)
        if times is None:
            if len(self._times) >= _MAX_TRACKED_IPS:
                self._prune(now, window)
            times = self._times[key] = deque()
        while times and times[0] <= now - window:
            times.popleft()
        times.append(now)
        return len(times)

    def _prune(self, now: float, window: float) -> None:
        for key in [key for key, times in self._times.items() if not times or times[-1] <= now - window]:
            del self._times[key]


class SecurityMonitor:
    def __init__(
        self,
        thresholds: Callable[[], MonitorThresholds],
        audit: AuditLog,
        metrics: SecurityMetrics,
        blocker: IpBlocker,
        clock: Callable[[], float] = time.monotonic,
        never_block: Callable[[str], bool] = lambda _ip: False,
        counter: WindowCounter | None = None,
    ) -> None:
        self._thresholds = thresholds
        self._audit = audit
        self._metrics = metrics
        self._blocker = blocker
        self._never_block = never_block
        self._events: WindowCounter = counter or InProcessWindowCounter(clock)
        self._alerts: WindowCounter = counter or InProcessWindowCounter(clock)

    async def authentication_failed(self, ip: str | None) -> None:
        limit = self._thresholds().authentication_failures_per_minute
        await self._observe("authentication_failures", ip, limit)

    async def rate_limit_exceeded(self, ip: str | None) -> None:
        limit = self._thresholds().rate_limit_violations_per_minute
        await self._observe("rate_limit_violations", ip, limit)

    async def _observe(self, kind: str, ip: str | None, limit: int) -> None:
        overall = await self._events.add(f"{kind}:*", WINDOW_SECONDS)
        if overall == limit + 1:
            self._alert(f"{kind}_overall", None, overall, limit)
        if ip is None:
            return
        per_ip = await self._events.add(f"{kind}:{ip}", WINDOW_SECONDS)
        # Alert once when the threshold is crossed, and again for each further threshold's worth of events.
        if per_ip > limit and (per_ip - limit - 1) % limit == 0:
            self._alert(f"{kind}_per_ip", ip, per_ip, limit)
            await self._maybe_block(ip, kind)

    def _alert(self, kind: str, ip: str | None, count: int, limit: int) -> None:
        self._metrics.security_event(kind)
        self._audit.record(
            "security_event",
            reason=f"{count} events in the last minute exceed the threshold of {limit}",
            warning=True,
            kind=kind,
            count=count,
            threshold=limit,
            **({"client_ip": ip} if ip else {}),
        )

    async def _maybe_block(self, ip: str, kind: str) -> None:
        rules = self._thresholds()
        alerts = await self._alerts.add(f"alerts:{ip}", rules.block_window_seconds)
        if alerts < rules.block_after_alerts or self._never_block(ip):
            return
        reason = f"{alerts} alerts ({kind}) within {int(rules.block_window_seconds)} s"
        await self._blocker.block(ip, rules.block_seconds, reason)
        self._metrics.security_event("ip_blocked")
        self._audit.record(
            "ip_blocked", reason=reason, warning=True, client_ip=ip, block_seconds=rules.block_seconds
        )
