"""/health on the embedded default and on real PostgreSQL + Redis, with each dependency unreachable."""

from __future__ import annotations

import pytest
from tests.conftest import closed_port


async def test_healthy_on_the_embedded_default(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, _app):
        response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"]
    assert body["components"]["database"]["status"] == "healthy"
    assert body["components"]["database"]["dialect"] == "sqlite"
    assert body["components"]["database"]["latency_ms"] >= 0
    assert body["components"]["redis"]["backend"].startswith("in-process")


@pytest.mark.integration
async def test_healthy_on_postgres_and_redis(
    settings_env, app_client, postgres_url, redis_url, redis_prefix
) -> None:
    import asyncio

    from freeagentics.infra.db import migrate

    await asyncio.to_thread(migrate.upgrade, postgres_url)
    settings = settings_env(database_url=postgres_url, redis_url=redis_url, redis_key_prefix=redis_prefix)
    async with app_client(settings) as (client, _app):
        response = await client.get("/health")
        ready = await client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "healthy"
    assert body["components"]["database"]["dialect"] == "postgresql"
    assert body["components"]["redis"]["status"] == "healthy"
    assert body["components"]["redis"]["backend"] == "redis"
    assert ready.status_code == 200


@pytest.mark.integration
async def test_postgres_unreachable_is_unhealthy_503(
    settings_env, app_client, redis_url, redis_prefix
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/freeagentics"
    settings = settings_env(database_url=url, redis_url=redis_url, redis_key_prefix=redis_prefix)
    async with app_client(settings) as (client, _app):
        response = await client.get("/health")
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unhealthy"
    assert body["components"]["database"]["status"] == "unhealthy"
    assert body["components"]["database"]["error"]
    assert body["components"]["redis"]["status"] == "healthy"
    assert ready.status_code == 503
    assert live.status_code == 200


@pytest.mark.integration
async def test_postgres_database_missing_is_unhealthy_503(settings_env, app_client, postgres_url) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/fa_database_that_does_not_exist"
    async with app_client(settings_env(database_url=url)) as (client, _app):
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["components"]["database"]["status"] == "unhealthy"


@pytest.mark.integration
async def test_redis_unreachable_is_degraded_200(settings_env, app_client, postgres_url) -> None:
    import asyncio

    from freeagentics.infra.db import migrate

    await asyncio.to_thread(migrate.upgrade, postgres_url)
    settings = settings_env(database_url=postgres_url, redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    async with app_client(settings) as (client, _app):
        response = await client.get("/health")
        ready = await client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["components"]["redis"]["status"] == "unhealthy"
    assert body["components"]["database"]["status"] == "healthy"
    assert ready.status_code == 200


async def test_health_errors_never_leak_credentials(settings_env, app_client) -> None:
    url = f"postgresql+asyncpg://fa:Sup3rSecret@127.0.0.1:{closed_port()}/fa"
    async with app_client(settings_env(database_url=url)) as (client, _app):
        response = await client.get("/health")
    assert response.status_code == 503
    assert "Sup3rSecret" not in response.text
