"""The Prometheus metrics of FreeAgentics: one registry module, exposed at ``/metrics``.

Metric names are a contract with ``deploy/prometheus/alerts.yml`` and ``deploy/grafana/dashboards``; a test
fails when either references a name this module does not emit. Every counter and every gauge exists from
the first scrape (at zero), and label values known in advance are pre-initialised, so the first event is
visible to ``increase()``/``rate()``.

HTTP (recorded by ``api.middleware.metrics``; ``route`` is the route template, e.g.
``/api/v1/agents/{agent_id}``, or ``unmatched``; ``method`` is one of the standard methods or ``OTHER``):

- ``http_requests_total{method,route,status}`` counter; ``status`` is the numeric code, so the runbook's
  ``rate(http_requests_total{status=~"5.."}[5m])`` works. ``200`` and ``500`` are pre-initialised for every
  route and method the app serves.
- ``http_request_duration_seconds{method,route}`` histogram (buckets up to 60 s; 5 s is a bucket bound).
- ``http_requests_in_progress`` gauge.

Agent runtime (:class:`~freeagentics.services.metrics_ports.RuntimeMetrics`):

- ``freeagentics_agents{status}`` gauge (created, running, stopped, error)
- ``freeagentics_agent_steps_total`` counter
- ``freeagentics_tick_duration_seconds`` histogram
- ``freeagentics_tick_overruns_total`` counter
- ``freeagentics_queue_length`` gauge
- ``freeagentics_thread_pool_utilization_ratio{pool}`` gauge in [0, 1] (engine, io)

Coalitions (:class:`~freeagentics.services.metrics_ports.CoalitionMetrics`):

- ``freeagentics_coalitions{state}`` gauge (forming, active, completed, dissolved)
- ``freeagentics_coalition_formation_duration_seconds`` histogram
- ``freeagentics_coalition_value_achieved_total`` counter (value x priority of completed objectives)

Security (:class:`~freeagentics.services.metrics_ports.SecurityMetrics`):

- ``freeagentics_authentication_failures_total`` counter
- ``freeagentics_rate_limit_violations_total{route_class}`` counter (auth, read, write, expensive)
- ``freeagentics_security_events_total{type}`` counter

Dependencies and operations (read at scrape time unless noted):

- ``freeagentics_db_pool_connections{state}`` gauge: ``checked_out``, ``idle``, ``overflow`` of this
  process's SQLAlchemy pool; ``freeagentics_db_pool_size`` gauge: the pool's configured size
- ``freeagentics_redis_errors_total{operation}`` counter (recorded when a Redis call fails)
- ``freeagentics_backup_last_success_timestamp_seconds`` and ``freeagentics_backup_last_size_bytes``
  gauges, from ``<data_dir>/backup_status.json`` written by ``scripts/backup`` (``{"last_success_unix":
  ..., "size_bytes": ..., "path": ...}``); both are 0 when no backup has been recorded or the file is
  unreadable, so the "backup older than 26 h" alert fires rather than staying silent
- ``freeagentics_build_info{version,python_version}`` gauge, always 1

Several worker processes: when ``PROMETHEUS_MULTIPROC_DIR`` is set (before ``prometheus_client`` is first
imported, as the systemd unit and the Kubernetes Deployment do) every worker writes its values to files in
that directory and each scrape aggregates all of them with prometheus-client's multiprocess collector.
Gauges of live state are summed over live workers (utilisation takes the maximum). The scrape-time values
(database pool) describe the worker that answered the scrape. Without the variable the module uses a
private registry per :class:`PrometheusMetrics` (several apps in one test process do not collide) and also
exports the standard ``process_*`` and ``python_*`` metrics.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeGuard

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from freeagentics import __version__
from freeagentics.infra.logging import log_fields
from freeagentics.services.metrics_ports import (
    AGENT_STATUSES,
    COALITION_STATES,
    RATE_LIMIT_ROUTE_CLASSES,
    SECURITY_EVENT_TYPES,
    THREAD_POOLS,
    utilization_ratio,
)
from freeagentics.services.ports import KeyValueStore

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
BACKUP_STATUS_FILE: Final = "backup_status.json"
#: Prefixes of the metrics this application defines (as opposed to node_exporter's or blackbox's).
APP_METRIC_PREFIXES: Final = ("freeagentics_", "http_")

HTTP_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
OTHER_METHOD: Final = "OTHER"
UNMATCHED_ROUTE: Final = "unmatched"
METRICS_CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
PREINITIALISED_STATUSES: Final = ("200", "500")

HTTP_DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
TICK_DURATION_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
FORMATION_DURATION_BUCKETS: Final = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class MetricsConfigurationError(RuntimeError):
    """Multiprocess mode was requested in a way that would silently lose values."""


def multiprocess_mode_active() -> bool:
    """True when prometheus-client stores values in ``PROMETHEUS_MULTIPROC_DIR`` (decided at its import)."""
    return values.ValueClass is not values.MutexValue


def normalise_method(method: str) -> str:
    """Bound the ``method`` label: anything but the standard methods becomes ``OTHER``."""
    upper = method.upper()
    return upper if upper in HTTP_METHODS else OTHER_METHOD


@dataclass(frozen=True, slots=True)
class BackupStatus:
    last_success_unix: float
    size_bytes: int

    @classmethod
    def read(cls, path: Path) -> BackupStatus | None:
        """The status the backup scripts wrote, or None when there is none or it is malformed."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("backup_status_unreadable", extra=log_fields(path=str(path), error=str(exc)))
            return None
        if isinstance(raw, dict):
            timestamp, size = raw.get("last_success_unix"), raw.get("size_bytes")
            if _is_non_negative_number(timestamp) and _is_non_negative_number(size) and isinstance(size, int):
                return cls(float(timestamp), size)
        logger.warning("backup_status_malformed", extra=log_fields(path=str(path)))
        return None


def _is_non_negative_number(value: object) -> TypeGuard[int | float]:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    )


class BackupStatusCollector(Collector):
    """Reads ``backup_status.json`` at each scrape so a backup run needs no live connection to the app."""

    def __init__(self, status_file: Path) -> None:
        self.status_file = status_file

    def collect(self) -> Iterable[Metric]:
        status = BackupStatus.read(self.status_file)
        timestamp = GaugeMetricFamily(
            "freeagentics_backup_last_success_timestamp_seconds",
            "Unix time of the last successful backup (0 when none is recorded)",
        )
        timestamp.add_metric([], status.last_success_unix if status else 0.0)
        size = GaugeMetricFamily(
            "freeagentics_backup_last_size_bytes",
            "Size of the last successful backup file in bytes (0 when none is recorded)",
        )
        size.add_metric([], float(status.size_bytes) if status else 0.0)
        return [timestamp, size]


class DatabasePoolCollector(Collector):
    """SQLAlchemy pool occupancy of this process, read at scrape time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[Metric]:
        pool: Any = self.engine.sync_engine.pool
        connections = GaugeMetricFamily(
            "freeagentics_db_pool_connections",
            "Database connections of this process's pool by state",
            labels=["state"],
        )
        size = GaugeMetricFamily("freeagentics_db_pool_size", "Configured size of the database pool")
        checked_out = _pool_number(pool, "checkedout")
        idle = _pool_number(pool, "checkedin")
        # QueuePool reports overflow relative to its size (negative while below it); only the excess counts.
        overflow = max(_pool_number(pool, "overflow"), 0.0)
        connections.add_metric(["checked_out"], checked_out)
        connections.add_metric(["idle"], idle)
        connections.add_metric(["overflow"], overflow)
        size.add_metric([], _pool_number(pool, "size"))
        return [connections, size]


def _pool_number(pool: Any, method: str) -> float:
    """Pools without a statistic (e.g. a NullPool) report 0 for it."""
    reader = getattr(pool, method, None)
    if not callable(reader):
        return 0.0
    value = reader()
    return float(value) if isinstance(value, int | float) else 0.0


class BuildInfoCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(
            "freeagentics_build_info",
            "Version of the running code (always 1)",
            labels=["version", "python_version"],
        )
        info.add_metric([__version__, platform.python_version()], 1.0)
        return [info]


class PrometheusMetrics:
    """The metric objects of one process, and the adapter behind every port in ``services.metrics_ports``.

    Implements ``RuntimeMetrics``, ``CoalitionMetrics`` and ``SecurityMetrics`` (and the security
    engineer's ``services.auth.ports.SecurityMetrics``, which has the same shape), records HTTP requests for
    the middleware, counts Redis errors, and renders the exposition for ``/metrics``.
    """

    def __init__(self, *, data_dir: Path, engine: AsyncEngine | None = None) -> None:
        self.multiprocess = multiprocess_mode_active()
        self._multiprocess_dir: Path | None = None
        if self.multiprocess:
            named = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
            if not named or not Path(named).is_dir():
                raise MetricsConfigurationError(
                    f"{MULTIPROCESS_DIR_VARIABLE} must name an existing directory (got {named!r})"
                )
            self._multiprocess_dir = Path(named)
        self._scrape_time_collectors: list[Collector] = [
            BuildInfoCollector(),
            BackupStatusCollector(data_dir / BACKUP_STATUS_FILE),
        ]
        if engine is not None:
            self._scrape_time_collectors.append(DatabasePoolCollector(engine))

        # In multiprocess mode values live in the files; the registry is assembled at each scrape.
        self.registry: CollectorRegistry | None = None if self.multiprocess else CollectorRegistry()
        registry = self.registry
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests by method, route template and status code",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_request_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration by method and route template",
            ["method", "route"],
            buckets=HTTP_DURATION_BUCKETS,
            registry=registry,
        )
        self.http_requests_in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being served",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.agents = Gauge(
            "freeagentics_agents",
            "Agents by status",
            ["status"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.agent_steps_total = Counter(
            "freeagentics_agent_steps", "Agent steps completed", registry=registry
        )
        self.tick_duration = Histogram(
            "freeagentics_tick_duration_seconds",
            "Duration of one runtime tick",
            buckets=TICK_DURATION_BUCKETS,
            registry=registry,
        )
        self.tick_overruns = Counter(
            "freeagentics_tick_overruns", "Ticks that exceeded their budget", registry=registry
        )
        self.queue_length = Gauge(
            "freeagentics_queue_length",
            "Commands waiting for the agent runtime",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.thread_pool_utilization = Gauge(
            "freeagentics_thread_pool_utilization_ratio",
            "Busy workers over maximum workers per thread pool",
            ["pool"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.coalitions = Gauge(
            "freeagentics_coalitions",
            "Coalitions by state",
            ["state"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.coalition_formation_duration = Histogram(
            "freeagentics_coalition_formation_duration_seconds",
            "Duration of one coalition formation",
            buckets=FORMATION_DURATION_BUCKETS,
            registry=registry,
        )
        self.coalition_value_achieved = Counter(
            "freeagentics_coalition_value_achieved",
            "Value (times priority) credited for objectives completed by coalitions",
            registry=registry,
        )
        self.authentication_failures = Counter(
            "freeagentics_authentication_failures", "Failed authentication attempts", registry=registry
        )
        self.rate_limit_violations = Counter(
            "freeagentics_rate_limit_violations",
            "Requests refused by the rate limiter, by route class",
            ["route_class"],
            registry=registry,
        )
        self.security_events = Counter(
            "freeagentics_security_events",
            "Security events by type (as written to security_audit.log)",
            ["type"],
            registry=registry,
        )
        self.redis_errors = Counter(
            "freeagentics_redis_errors",
            "Failed Redis operations by operation",
            ["operation"],
            registry=registry,
        )
        self._preinitialise_known_labels()
        if registry is not None:
            for collector in self._scrape_time_collectors:
                registry.register(collector)
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
        self.routes_preinitialised = False

    def _preinitialise_known_labels(self) -> None:
        for status in AGENT_STATUSES:
            self.agents.labels(status=status).set(0)
        for state in COALITION_STATES:
            self.coalitions.labels(state=state).set(0)
        for pool in THREAD_POOLS:
            self.thread_pool_utilization.labels(pool=pool).set(0)
        for route_class in RATE_LIMIT_ROUTE_CLASSES:
            self.rate_limit_violations.labels(route_class=route_class)
        for event_type in SECURITY_EVENT_TYPES:
            self.security_events.labels(type=event_type)
        for operation in KEY_VALUE_OPERATIONS:
            self.redis_errors.labels(operation=operation)
        self.queue_length.set(0)
        self.http_requests_in_progress.set(0)

    # HTTP (the middleware) -------------------------------------------------------------------------------

    def preinitialise_routes(self, routes: Iterable[tuple[str, Iterable[str]]]) -> None:
        """Create the duration, 200 and 500 series of each (route template, methods) at zero; idempotent."""
        if self.routes_preinitialised:
            return
        self.routes_preinitialised = True
        for route, methods in routes:
            for method in methods:
                label_method = normalise_method(method)
                self.http_request_duration.labels(method=label_method, route=route)
                for status in PREINITIALISED_STATUSES:
                    self.http_requests.labels(method=label_method, route=route, status=status)

    def request_started(self) -> None:
        self.http_requests_in_progress.inc()

    def request_finished(self, method: str, route: str, status: int, duration_seconds: float) -> None:
        self.http_requests_in_progress.dec()
        label_method = normalise_method(method)
        self.http_requests.labels(method=label_method, route=route, status=str(status)).inc()
        self.http_request_duration.labels(method=label_method, route=route).observe(duration_seconds)

    # RuntimeMetrics ---------------------------------------------------------------------------------------

    def set_agents_by_status(self, counts: Mapping[str, int]) -> None:
        for status in {*AGENT_STATUSES, *counts}:
            self.agents.labels(status=status).set(counts.get(status, 0))

    def agent_steps(self, count: int) -> None:
        if count < 0:
            raise ValueError(f"agent step count must be >= 0, got {count}")
        self.agent_steps_total.inc(count)

    def tick_completed(self, duration_seconds: float, overran: bool) -> None:
        self.tick_duration.observe(duration_seconds)
        if overran:
            self.tick_overruns.inc()

    def set_queue_length(self, length: int) -> None:
        self.queue_length.set(length)

    def set_thread_pool_utilization(self, pool: str, busy_workers: int, max_workers: int) -> None:
        self.thread_pool_utilization.labels(pool=pool).set(utilization_ratio(busy_workers, max_workers))

    # CoalitionMetrics -------------------------------------------------------------------------------------

    def set_coalitions_by_state(self, counts: Mapping[str, int]) -> None:
        for state in {*COALITION_STATES, *counts}:
            self.coalitions.labels(state=state).set(counts.get(state, 0))

    def formation_completed(self, duration_seconds: float) -> None:
        self.coalition_formation_duration.observe(duration_seconds)

    def value_achieved(self, value: float) -> None:
        self.coalition_value_achieved.inc(value)

    # SecurityMetrics --------------------------------------------------------------------------------------

    def authentication_failed(self) -> None:
        self.authentication_failures.inc()

    def rate_limited(self, route_class: str) -> None:
        self.rate_limit_violations.labels(route_class=route_class).inc()

    def security_event(self, kind: str) -> None:
        self.security_events.labels(type=kind).inc()

    # Dependencies -----------------------------------------------------------------------------------------

    def redis_error(self, operation: str) -> None:
        self.redis_errors.labels(operation=operation).inc()

    # Exposition -------------------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric (all workers' values in multiprocess mode)."""
        if self.registry is not None:
            return generate_latest(self.registry)
        scrape_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            scrape_registry, path=str(self._multiprocess_dir)
        )
        for collector in self._scrape_time_collectors:
            scrape_registry.register(collector)
        return generate_latest(scrape_registry)

    def close(self) -> None:
        """A worker that exits takes its live gauges with it (multiprocess mode)."""
        if self.multiprocess and self._multiprocess_dir is not None:
            multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
                os.getpid(), str(self._multiprocess_dir)
            )


KEY_VALUE_OPERATIONS: Final = ("ping", "get", "set", "delete", "exists")


class ErrorCountingKeyValueStore:
    """A :class:`KeyValueStore` that counts failed calls of the Redis store it wraps, then re-raises."""

    def __init__(self, inner: KeyValueStore, metrics: PrometheusMetrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.backend = inner.backend

    @contextmanager
    def _counting(self, operation: str) -> Iterator[None]:
        try:
            yield
        except Exception:
            self.metrics.redis_error(operation)
            raise

    async def ping(self) -> None:
        with self._counting("ping"):
            await self.inner.ping()

    async def get(self, key: str) -> str | None:
        with self._counting("get"):
            return await self.inner.get(key)

    async def set(self, key: str, value: str, ttl_seconds: float) -> None:
        with self._counting("set"):
            await self.inner.set(key, value, ttl_seconds)

    async def delete(self, key: str) -> None:
        with self._counting("delete"):
            await self.inner.delete(key)

    async def exists(self, key: str) -> bool:
        with self._counting("exists"):
            return await self.inner.exists(key)

    async def close(self) -> None:
        await self.inner.close()
