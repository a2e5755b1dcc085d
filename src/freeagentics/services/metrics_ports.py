"""Ports through which services report domain metrics; ``infra.metrics`` supplies the Prometheus adapter.

Each Protocol is small on purpose: a service calls one method per thing that happened or per state it
observed, and never learns metric names, label sets or the exposition format. :class:`RecordingMetrics`
implements all of them in process memory for tests and for code paths that run without Prometheus.

Label values the adapter knows in advance (so their series exist at zero from the start):

- agent statuses: :data:`AGENT_STATUSES`
- coalition states: :data:`COALITION_STATES`
- security event types: :data:`SECURITY_EVENT_TYPES`
- rate-limit route classes: :data:`RATE_LIMIT_ROUTE_CLASSES`
- thread pools: :data:`THREAD_POOLS`

Other values are still accepted and counted; they simply appear on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

AGENT_STATUSES = ("created", "running", "stopped", "error")
COALITION_STATES = ("forming", "active", "completed", "dissolved")
#: What the security code reports today: the monitor's threshold alerts (overall and per address), blocks,
#: requests refused from a blocked address, refresh-token reuse and permission refusals.
SECURITY_EVENT_TYPES = (
    "authentication_failures_overall",
    "authentication_failures_per_ip",
    "rate_limit_violations_overall",
    "rate_limit_violations_per_ip",
    "ip_blocked",
    "blocked_request",
    "token_reuse_detected",
    "access_denied",
)
RATE_LIMIT_ROUTE_CLASSES = ("auth", "read", "write", "expensive")
THREAD_POOLS = ("engine", "io")


class RuntimeMetrics(Protocol):
    """What the agent runtime reports: population by status, steps, tick timing, queue and pools."""

    def set_agents_by_status(self, counts: Mapping[str, int]) -> None:
        """The number of agents in each status now; statuses missing from ``counts`` are set to zero."""
        ...

    def agent_steps(self, count: int) -> None:
        """``count`` agent steps were completed (one tick of a batch of n agents is n steps)."""
        ...

    def tick_completed(self, duration_seconds: float, overran: bool) -> None:
        """One tick took ``duration_seconds``; ``overran`` when it exceeded its tick budget."""
        ...

    def set_queue_length(self, length: int) -> None:
        """Commands waiting for the runtime."""
        ...

    def set_thread_pool_utilization(self, pool: str, busy_workers: int, max_workers: int) -> None: ...


class CoalitionMetrics(Protocol):
    """What the coalition coordinator reports."""

    def set_coalitions_by_state(self, counts: Mapping[str, int]) -> None:
        """The number of coalitions in each state now; states missing from ``counts`` are set to zero."""
        ...

    def formation_completed(self, duration_seconds: float) -> None: ...

    def value_achieved(self, value: float) -> None:
        """An objective completed; ``value`` (value x priority) was credited."""
        ...


class SecurityMetrics(Protocol):
    """What the security code reports (the same shape as ``services.auth.ports.SecurityMetrics``)."""

    def authentication_failed(self) -> None: ...

    def rate_limited(self, route_class: str) -> None: ...

    def security_event(self, kind: str) -> None: ...


@dataclass
class RecordingMetrics:
    """All three ports in memory: tests assert on the fields; nothing is exported anywhere."""

    agents_by_status: dict[str, int] = field(default_factory=dict)
    agent_step_count: int = 0
    tick_durations: list[float] = field(default_factory=list)
    tick_overruns: int = 0
    queue_length: int = 0
    thread_pool_utilization: dict[str, float] = field(default_factory=dict)
    coalitions_by_state: dict[str, int] = field(default_factory=dict)
    formation_durations: list[float] = field(default_factory=list)
    coalition_value: float = 0.0
    authentication_failures: int = 0
    rate_limit_violations: dict[str, int] = field(default_factory=dict)
    security_events: dict[str, int] = field(default_factory=dict)

    def set_agents_by_status(self, counts: Mapping[str, int]) -> None:
        self.agents_by_status = {status: counts.get(status, 0) for status in {*AGENT_STATUSES, *counts}}

    def agent_steps(self, count: int) -> None:
        if count < 0:
            raise ValueError(f"agent step count must be >= 0, got {count}")
        self.agent_step_count += count

    def tick_completed(self, duration_seconds: float, overran: bool) -> None:
        self.tick_durations.append(duration_seconds)
        self.tick_overruns += int(overran)

    def set_queue_length(self, length: int) -> None:
        self.queue_length = length

    def set_thread_pool_utilization(self, pool: str, busy_workers: int, max_workers: int) -> None:
        self.thread_pool_utilization[pool] = utilization_ratio(busy_workers, max_workers)

    def set_coalitions_by_state(self, counts: Mapping[str, int]) -> None:
        self.coalitions_by_state = {state: counts.get(state, 0) for state in {*COALITION_STATES, *counts}}

    def formation_completed(self, duration_seconds: float) -> None:
        self.formation_durations.append(duration_seconds)

    def value_achieved(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"credited value must be >= 0, got {value}")
        self.coalition_value += value

    def authentication_failed(self) -> None:
        self.authentication_failures += 1

    def rate_limited(self, route_class: str) -> None:
        self.rate_limit_violations[route_class] = self.rate_limit_violations.get(route_class, 0) + 1

    def security_event(self, kind: str) -> None:
        self.security_events[kind] = self.security_events.get(kind, 0) + 1


def utilization_ratio(busy_workers: int, max_workers: int) -> float:
    """Busy over maximum workers, in [0, 1]; a pool without workers is idle, not undefined."""
    if busy_workers < 0 or max_workers < 0:
        raise ValueError(f"worker counts must be >= 0, got busy={busy_workers} max={max_workers}")
    if max_workers == 0:
        return 0.0
    return min(busy_workers / max_workers, 1.0)
