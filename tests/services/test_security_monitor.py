"""Sliding-window alerts and IP blocking, with a fake clock and in-memory ports."""

from __future__ import annotations

from typing import Any

from freeagentics.services.auth.ports import InMemorySecurityMetrics
from freeagentics.services.security_monitor import MonitorThresholds, SecurityMonitor


class RecordingAudit:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def record(
        self, event: str, *, reason: str, user: str | None = None, warning: bool = False, **fields: Any
    ) -> None:
        self.records.append((event, {"reason": reason, **fields}))


class RecordingBlocker:
    def __init__(self) -> None:
        self.blocked: list[tuple[str, float]] = []

    async def block(self, ip: str, seconds: float, reason: str) -> None:
        self.blocked.append((ip, seconds))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _monitor(
    **rules: Any,
) -> tuple[SecurityMonitor, RecordingAudit, RecordingBlocker, InMemorySecurityMetrics, Clock]:
    audit, blocker, metrics, clock = RecordingAudit(), RecordingBlocker(), InMemorySecurityMetrics(), Clock()
    thresholds = MonitorThresholds(**rules)
    return SecurityMonitor(lambda: thresholds, audit, metrics, blocker, clock), audit, blocker, metrics, clock


async def test_more_than_the_threshold_per_minute_raises_one_alert() -> None:
    monitor, audit, blocker, metrics, _clock = _monitor(authentication_failures_per_minute=10)
    for _ in range(10):
        await monitor.authentication_failed("1.2.3.4")
    assert audit.records == []
    await monitor.authentication_failed("1.2.3.4")
    kinds = [fields["kind"] for event, fields in audit.records if event == "security_event"]
    assert kinds == ["authentication_failures_overall", "authentication_failures_per_ip"]
    assert metrics.security_events == {
        "authentication_failures_overall": 1,
        "authentication_failures_per_ip": 1,
    }
    assert blocker.blocked == []


async def test_the_window_slides() -> None:
    monitor, audit, _blocker, _metrics, clock = _monitor(authentication_failures_per_minute=3)
    for _ in range(3):
        await monitor.authentication_failed("9.9.9.9")
        clock.now += 30
    await monitor.authentication_failed("9.9.9.9")
    assert audit.records == []


async def test_overall_failures_from_many_ips_alert_without_blocking_anyone() -> None:
    monitor, audit, blocker, _metrics, _clock = _monitor(authentication_failures_per_minute=5)
    for i in range(6):
        await monitor.authentication_failed(f"10.0.0.{i}")
    assert [fields["kind"] for _, fields in audit.records] == ["authentication_failures_overall"]
    assert blocker.blocked == []


async def test_repeated_alerts_block_the_ip() -> None:
    monitor, audit, blocker, metrics, _clock = _monitor(
        rate_limit_violations_per_minute=2, block_after_alerts=2, block_seconds=120
    )
    for _ in range(5):
        await monitor.rate_limit_exceeded("6.6.6.6")
    assert blocker.blocked == [("6.6.6.6", 120)]
    assert [event for event, _ in audit.records].count("ip_blocked") == 1
    assert metrics.security_events["ip_blocked"] == 1


async def test_protected_addresses_alert_but_are_never_blocked() -> None:
    audit, blocker, metrics, clock = RecordingAudit(), RecordingBlocker(), InMemorySecurityMetrics(), Clock()
    thresholds = MonitorThresholds(rate_limit_violations_per_minute=1, block_after_alerts=1)
    monitor = SecurityMonitor(
        lambda: thresholds, audit, metrics, blocker, clock, never_block=lambda ip: ip == "127.0.0.1"
    )
    for _ in range(4):
        await monitor.rate_limit_exceeded("127.0.0.1")
    assert blocker.blocked == []
    assert any(fields["kind"] == "rate_limit_violations_per_ip" for _, fields in audit.records)
