"""Health of the service and its dependencies, as ``/health`` reports it.

Overall status:

- ``healthy`` (HTTP 200): every configured dependency answered;
- ``degraded`` (HTTP 200): a non-critical dependency (Redis) failed; the API still serves — rate limiting
  falls back to a per-process limiter, login and refresh answer 503 — so a load balancer keeps the instance;
- ``unhealthy`` (HTTP 503): a critical dependency (the database) failed or timed out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from freeagentics.services.ports import HealthProbe


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    status: HealthStatus
    critical: bool
    latency_ms: float | None = None
    error: str | None = None
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthReport:
    status: HealthStatus
    version: str
    uptime_seconds: float
    components: tuple[ComponentHealth, ...]

    @property
    def http_status(self) -> int:
        return 503 if self.status is HealthStatus.UNHEALTHY else 200


@dataclass(frozen=True)
class CheckedProbe:
    probe: HealthProbe
    critical: bool


class HealthService:
    """Runs every probe concurrently, each bounded by ``timeout_seconds``."""

    def __init__(
        self,
        probes: Sequence[CheckedProbe],
        version: str,
        timeout_seconds: float = 2.0,
        extra_components: Sequence[ComponentHealth] = (),
    ) -> None:
        self._probes = tuple(probes)
        self._version = version
        self._timeout = timeout_seconds
        self._extra = tuple(extra_components)
        self._started = time.monotonic()

    async def _run(self, checked: CheckedProbe) -> ComponentHealth:
        started = time.perf_counter()
        try:
            details = await asyncio.wait_for(checked.probe.check(), timeout=self._timeout)
        except TimeoutError:
            return ComponentHealth(
                checked.probe.name,
                HealthStatus.UNHEALTHY,
                checked.critical,
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
                error=f"timed out after {self._timeout:g} s",
            )
        except Exception as exc:  # any failure of a dependency is a health result, not a crash
            return ComponentHealth(
                checked.probe.name,
                HealthStatus.UNHEALTHY,
                checked.critical,
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
                error=_short_error(exc),
            )
        return ComponentHealth(
            checked.probe.name,
            HealthStatus.HEALTHY,
            checked.critical,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            details=dict(details),
        )

    async def check(self) -> HealthReport:
        results = await asyncio.gather(*(self._run(checked) for checked in self._probes))
        components = (*results, *self._extra)
        if any(c.status is HealthStatus.UNHEALTHY and c.critical for c in components):
            overall = HealthStatus.UNHEALTHY
        elif any(c.status is not HealthStatus.HEALTHY for c in components):
            overall = HealthStatus.DEGRADED
        else:
            overall = HealthStatus.HEALTHY
        return HealthReport(
            status=overall,
            version=self._version,
            uptime_seconds=round(time.monotonic() - self._started, 3),
            components=components,
        )


def _short_error(exc: BaseException) -> str:
    # Connection errors can embed URLs; keep the class and the first line only, never credentials.
    message = str(exc).splitlines()[0] if str(exc) else ""
    if "@" in message:
        message = "connection failed"
    return f"{type(exc).__name__}: {message}"[:200]
