"""The Prometheus adapter: names and zero series from the start, the ports, scrape-time collectors,
Redis error counting, and aggregation over several processes in ``PROMETHEUS_MULTIPROC_DIR`` mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis.exceptions
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import closed_port

from freeagentics import __version__
from freeagentics.config import DatabaseSettings, RedisSettings
from freeagentics.infra.cache import RedisKeyValueStore, create_redis_client
from freeagentics.infra.db.engine import create_engine
from freeagentics.infra.metrics import (
    BACKUP_STATUS_FILE,
    ErrorCountingKeyValueStore,
    MetricsConfigurationError,
    PrometheusMetrics,
    normalise_method,
)
from freeagentics.services.metrics_ports import (
    AGENT_STATUSES,
    COALITION_STATES,
    RATE_LIMIT_ROUTE_CLASSES,
    SECURITY_EVENT_TYPES,
    CoalitionMetrics,
    RuntimeMetrics,
    SecurityMetrics,
)

DOCUMENTED_SERIES = {
    "http_requests_total",
    "http_request_duration_seconds_count",
    "http_requests_in_progress",
    "freeagentics_agents",
    "freeagentics_agent_steps_total",
    "freeagentics_tick_duration_seconds_count",
    "freeagentics_tick_overruns_total",
    "freeagentics_queue_length",
    "freeagentics_thread_pool_utilization_ratio",
    "freeagentics_coalitions",
    "freeagentics_coalition_formation_duration_seconds_count",
    "freeagentics_authentication_failures_total",
    "freeagentics_rate_limit_violations_total",
    "freeagentics_security_events_total",
    "freeagentics_redis_errors_total",
    "freeagentics_backup_last_success_timestamp_seconds",
    "freeagentics_backup_last_size_bytes",
    "freeagentics_build_info",
}


def samples(exposition: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
    }


def value(exposition: bytes, name: str, **labels: str) -> float:
    return samples(exposition)[(name, frozenset(labels.items()))]


def test_every_documented_metric_is_exposed_at_zero_from_the_start(tmp_path: Path) -> None:
    metrics = PrometheusMetrics(data_dir=tmp_path)
    metrics.preinitialise_routes([("/health", {"GET"})])
    exposed = metrics.exposition()
    names = {name for name, _labels in samples(exposed)}
    assert DOCUMENTED_SERIES - names == set()
    for status in AGENT_STATUSES:
        assert value(exposed, "freeagentics_agents", status=status) == 0
    for state in COALITION_STATES:
        assert value(exposed, "freeagentics_coalitions", state=state) == 0
    for route_class in RATE_LIMIT_ROUTE_CLASSES:
        assert value(exposed, "freeagentics_rate_limit_violations_total", route_class=route_class) == 0
    for event_type in SECURITY_EVENT_TYPES:
        assert value(exposed, "freeagentics_security_events_total", type=event_type) == 0
    assert value(exposed, "http_requests_total", method="GET", route="/health", status="500") == 0
    assert value(exposed, "freeagentics_authentication_failures_total") == 0
    assert (
        value(exposed, "freeagentics_build_info", version=__version__, python_version=sys.version.split()[0])
        == 1
    )


def test_two_instances_in_one_process_do_not_share_values(tmp_path: Path) -> None:
    first, second = PrometheusMetrics(data_dir=tmp_path), PrometheusMetrics(data_dir=tmp_path)
    first.authentication_failed()
    assert value(first.exposition(), "freeagentics_authentication_failures_total") == 1
    assert value(second.exposition(), "freeagentics_authentication_failures_total") == 0


def test_runtime_port(tmp_path: Path) -> None:
    metrics = PrometheusMetrics(data_dir=tmp_path)
    port: RuntimeMetrics = metrics
    port.set_agents_by_status({"running": 3, "error": 1})
    port.set_agents_by_status({"running": 2})
    port.agent_steps(40)
    port.agent_steps(0)
    port.tick_completed(0.02, overran=False)
    port.tick_completed(0.7, overran=True)
    port.set_queue_length(12)
    port.set_thread_pool_utilization("engine", busy_workers=3, max_workers=4)
    port.set_thread_pool_utilization("io", busy_workers=9, max_workers=4)
    exposed = metrics.exposition()
    assert value(exposed, "freeagentics_agents", status="running") == 2
    assert value(exposed, "freeagentics_agents", status="error") == 0
    assert value(exposed, "freeagentics_agent_steps_total") == 40
    assert value(exposed, "freeagentics_tick_duration_seconds_count") == 2
    assert value(exposed, "freeagentics_tick_duration_seconds_bucket", le="0.025") == 1
    assert value(exposed, "freeagentics_tick_overruns_total") == 1
    assert value(exposed, "freeagentics_queue_length") == 12
    assert value(exposed, "freeagentics_thread_pool_utilization_ratio", pool="engine") == 0.75
    assert value(exposed, "freeagentics_thread_pool_utilization_ratio", pool="io") == 1.0
    with pytest.raises(ValueError, match=">= 0"):
        port.agent_steps(-1)


def test_coalition_and_security_ports(tmp_path: Path) -> None:
    metrics = PrometheusMetrics(data_dir=tmp_path)
    coalitions: CoalitionMetrics = metrics
    security: SecurityMetrics = metrics
    coalitions.set_coalitions_by_state({"active": 2, "forming": 1})
    coalitions.formation_completed(0.3)
    security.authentication_failed()
    security.authentication_failed()
    security.rate_limited("auth")
    security.security_event("ip_blocked")
    security.security_event("a_new_kind")
    exposed = metrics.exposition()
    assert value(exposed, "freeagentics_coalitions", state="active") == 2
    assert value(exposed, "freeagentics_coalitions", state="dissolved") == 0
    assert value(exposed, "freeagentics_coalition_formation_duration_seconds_count") == 1
    assert value(exposed, "freeagentics_authentication_failures_total") == 2
    assert value(exposed, "freeagentics_rate_limit_violations_total", route_class="auth") == 1
    assert value(exposed, "freeagentics_rate_limit_violations_total", route_class="read") == 0
    assert value(exposed, "freeagentics_security_events_total", type="ip_blocked") == 1
    assert value(exposed, "freeagentics_security_events_total", type="a_new_kind") == 1


def test_methods_outside_the_standard_set_share_one_label() -> None:
    assert normalise_method("get") == "GET"
    assert normalise_method("PROPFIND") == "OTHER"


def test_backup_status_is_read_at_each_scrape(tmp_path: Path) -> None:
    metrics = PrometheusMetrics(data_dir=tmp_path)
    assert value(metrics.exposition(), "freeagentics_backup_last_success_timestamp_seconds") == 0
    status = tmp_path / BACKUP_STATUS_FILE
    status.write_text(json.dumps({"last_success_unix": 1_790_000_000, "size_bytes": 4096, "path": "/b/x.gz"}))
    exposed = metrics.exposition()
    assert value(exposed, "freeagentics_backup_last_success_timestamp_seconds") == 1_790_000_000
    assert value(exposed, "freeagentics_backup_last_size_bytes") == 4096


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        json.dumps({"last_success_unix": -5, "size_bytes": 10}),
        json.dumps({"last_success_unix": True, "size_bytes": 10}),
        json.dumps({"last_success_unix": 1_790_000_000, "size_bytes": 1.5}),
        json.dumps({"size_bytes": 10}),
        '{"last_success_unix": Infinity, "size_bytes": 10}',
        '{"last_success_unix": NaN, "size_bytes": 10}',
    ],
)
def test_an_unusable_backup_status_reads_as_no_backup(tmp_path: Path, content: str) -> None:
    (tmp_path / BACKUP_STATUS_FILE).write_text(content)
    exposed = PrometheusMetrics(data_dir=tmp_path).exposition()
    assert value(exposed, "freeagentics_backup_last_success_timestamp_seconds") == 0
    assert value(exposed, "freeagentics_backup_last_size_bytes") == 0


async def test_database_pool_use_is_read_at_scrape_time(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}", DatabaseSettings())
    metrics = PrometheusMetrics(data_dir=tmp_path, engine=engine)
    try:
        async with engine.connect():
            held = metrics.exposition()
        released = metrics.exposition()
    finally:
        await engine.dispose()
    assert value(held, "freeagentics_db_pool_connections", state="checked_out") == 1
    assert value(released, "freeagentics_db_pool_connections", state="checked_out") == 0
    assert value(released, "freeagentics_db_pool_connections", state="idle") == 1
    assert value(released, "freeagentics_db_pool_size") >= 1


async def test_failed_redis_calls_are_counted_by_operation_and_re_raised(tmp_path: Path) -> None:
    metrics = PrometheusMetrics(data_dir=tmp_path)
    settings = RedisSettings(connect_timeout_seconds=0.5, socket_timeout_seconds=0.5)
    client = create_redis_client(f"redis://127.0.0.1:{closed_port()}/0", settings)
    store = ErrorCountingKeyValueStore(RedisKeyValueStore(client), metrics)
    with pytest.raises(redis.exceptions.ConnectionError):
        await store.get("k")
    with pytest.raises(redis.exceptions.ConnectionError):
        await store.set("k", "v", ttl_seconds=5)
    await store.close()
    exposed = metrics.exposition()
    assert value(exposed, "freeagentics_redis_errors_total", operation="get") == 1
    assert value(exposed, "freeagentics_redis_errors_total", operation="set") == 1
    assert value(exposed, "freeagentics_redis_errors_total", operation="ping") == 0


_WORKER = """
import sys
from pathlib import Path
from freeagentics.infra.metrics import PrometheusMetrics
metrics = PrometheusMetrics(data_dir=Path(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    metrics.request_started()
    metrics.request_finished("GET", "/health", 200, 0.01)
metrics.authentication_failed()
metrics.set_agents_by_status({"running": int(sys.argv[2])})
if sys.argv[3] == "close":
    metrics.close()
"""

_SCRAPER = """
import sys
from pathlib import Path
from freeagentics.infra.metrics import PrometheusMetrics
sys.stdout.buffer.write(PrometheusMetrics(data_dir=Path(sys.argv[1])).exposition())
"""


def test_multiprocess_mode_sums_the_workers_values(tmp_path: Path) -> None:
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    for requests, ending in ((3, "close"), (4, "crash")):
        subprocess.run(
            [sys.executable, "-c", _WORKER, str(tmp_path), str(requests), ending], env=env, check=True
        )
    scraped = subprocess.run(
        [sys.executable, "-c", _SCRAPER, str(tmp_path)], env=env, check=True, capture_output=True
    ).stdout
    assert value(scraped, "http_requests_total", method="GET", route="/health", status="200") == 7
    assert value(scraped, "http_request_duration_seconds_count", method="GET", route="/health") == 7
    assert value(scraped, "freeagentics_authentication_failures_total") == 2
    assert (
        value(scraped, "freeagentics_build_info", version=__version__, python_version=sys.version.split()[0])
        == 1
    )
    assert value(scraped, "freeagentics_backup_last_success_timestamp_seconds") == 0
    # A worker that closed its metrics took its live gauges along; one that died without closing did not
    # (the systemd unit empties the directory at each start for that reason).
    assert value(scraped, "freeagentics_agents", status="running") == 4


def test_multiprocess_mode_without_a_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(missing)}
    result = subprocess.run(
        [sys.executable, "-c", _SCRAPER, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert MetricsConfigurationError.__name__ in result.stderr
    assert "PROMETHEUS_MULTIPROC_DIR" in result.stderr
