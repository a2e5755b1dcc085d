"""``/metrics`` speaks the Prometheus text format and carries the documented metrics."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families


async def test_metrics_is_prometheus_text_with_the_documented_families(settings_env, app_client) -> None:
    settings = settings_env()
    async with app_client(settings) as (client, app):
        (settings.data_dir / "backup_status.json").write_text(
            json.dumps({"last_success_unix": 1_790_000_000.5, "size_bytes": 123, "path": "/backups/x.sql.gz"})
        )
        app.state.container.metrics.security_event("ip_blocked")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    for name in (
        "http_requests",
        "http_request_duration_seconds",
        "freeagentics_agents",
        "freeagentics_security_events",
        "freeagentics_db_pool_connections",
        "freeagentics_backup_last_success_timestamp_seconds",
        "freeagentics_build_info",
        "process_cpu_seconds",
    ):
        assert name in families, name
    backup = families["freeagentics_backup_last_success_timestamp_seconds"].samples[0].value
    assert backup == 1_790_000_000.5
    events = {
        s.labels["type"]: s.value
        for s in families["freeagentics_security_events"].samples
        if s.name.endswith("_total")
    }
    assert events["ip_blocked"] == 1


async def test_metrics_needs_a_token_outside_the_trusted_networks(settings_env, app_client) -> None:
    async with app_client(settings_env(security_trusted_networks="192.0.2.0/24")) as (client, _app):
        anonymous = await client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"]
    assert "http_requests_total" not in anonymous.text
