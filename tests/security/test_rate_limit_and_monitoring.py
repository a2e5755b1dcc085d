"""Rate limiting with Redis unreachable, per-user keys, the embedded in-process limiter, and security
monitoring: alerts, IP blocking enforced by middleware, listed and lifted through the admin API."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.conftest import TEST_PASSWORD, closed_port, create_test_user
from tests.security.conftest import audit_records, config_dir_with, rate_limits

pytestmark = pytest.mark.integration


async def test_redis_unreachable_login_fails_closed_reads_fall_back(
    settings_env, postgres_url, app_client, tmp_path
) -> None:
    from freeagentics.infra.db import migrate

    await asyncio.to_thread(migrate.upgrade, postgres_url)
    settings = settings_env(
        database_url=postgres_url,
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
        redis_connect_timeout_seconds=0.2,
        redis_socket_timeout_seconds=0.2,
        auth_argon2_time_cost=2,
        auth_argon2_memory_kib=19456,
        config_dir=config_dir_with(tmp_path / "config", rate_limiting=rate_limits(read=5)),
    )
    async with app_client(settings) as (client, _app):
        login = await client.post("/api/v1/auth/login", json={"username": "x", "password": TEST_PASSWORD})
        assert login.status_code == 503
        assert login.json()["error"]["code"] == "service_unavailable"
        assert login.headers["retry-after"] == "5"
        refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": "x"})
        assert refresh.status_code == 503
        statuses = [(await client.get("/health/live")).status_code for _ in range(8)]
        # Never unlimited, never a 500: the per-process fallback enforces the same policy.
        assert statuses == [200] * 5 + [429] * 3
    limited = audit_records(settings, "rate_limit_exceeded")
    assert len(limited) == 3
    assert {record["backend"] for record in limited} == {"in-process"}


async def test_limits_are_per_user_after_authentication(
    pg_redis_settings, app_client, tmp_path, auth_headers
) -> None:
    settings = pg_redis_settings(
        config_dir=config_dir_with(tmp_path / "config", rate_limiting=rate_limits(read=4))
    )
    async with app_client(settings) as (client, _app):
        first = await auth_headers(client, "observer", username="first")
        second = await auth_headers(client, "observer", username="second")
        mine = [(await client.get("/api/v1/auth/me", headers=first)).status_code for _ in range(5)]
        theirs = [(await client.get("/api/v1/auth/me", headers=second)).status_code for _ in range(4)]
        assert mine == [200, 200, 200, 200, 429]
        assert theirs == [200, 200, 200, 200]
    record = audit_records(settings, "rate_limit_exceeded")[0]
    assert record["route_class"] == "read"
    assert record["route"] == "/api/v1/auth/me"
    assert record["user"]


async def test_embedded_default_limits_logins_in_process(embedded_settings, app_client) -> None:
    settings = embedded_settings()
    async with app_client(settings) as (client, _app):
        statuses = [
            (
                await client.post(
                    "/api/v1/auth/login", json={"username": "ghost", "password": "nope-nope-nope"}
                )
            ).status_code
            for _ in range(12)
        ]
    assert statuses == [401] * 10 + [429] * 2
    assert len(audit_records(settings, "rate_limit_exceeded")) == 2
    assert len(audit_records(settings, "authentication_failed")) == 10


async def test_repeated_abuse_alerts_and_blocks_the_ip_until_an_admin_lifts_it(
    pg_redis_settings, app_client, tmp_path
) -> None:
    rules = (
        "authentication_failures_per_minute: 3\nrate_limit_violations_per_minute: 2\n"
        "block_after_alerts: 2\nblock_window_seconds: 600\nblock_seconds: 900\n"
    )
    config = config_dir_with(tmp_path / "config", rate_limiting=rate_limits(), security_rules=rules)
    settings = pg_redis_settings(config_dir=config)
    async with app_client(settings) as (client, app):
        await create_test_user(app, "admin", "warden")
        transport = httpx.ASGITransport(app=app, client=("198.51.100.66", 40_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as attacker:
            statuses = [
                (await attacker.get("/api/v1/auth/me", headers={"Authorization": "Bearer junk"})).status_code
                for _ in range(7)
            ]
            assert statuses[:7].count(401) >= 4
            blocked = await attacker.get("/health/live")
            assert blocked.status_code == 403
            assert blocked.json()["error"]["code"] == "ip_blocked"
            assert (
                await attacker.post(
                    "/api/v1/auth/login", json={"username": "warden", "password": TEST_PASSWORD}
                )
            ).status_code == 403
        login = await client.post(
            "/api/v1/auth/login", json={"username": "warden", "password": TEST_PASSWORD}
        )
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        listed = (await client.get("/api/v1/security/blocks", headers=admin)).json()
        assert [block["ip"] for block in listed] == ["198.51.100.66"]
        assert (
            await client.delete("/api/v1/security/blocks/198.51.100.66", headers=admin)
        ).status_code == 204
        assert (await client.get("/api/v1/security/blocks", headers=admin)).json() == []
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as attacker:
            assert (await attacker.get("/health/live")).status_code == 200
        assert (
            await client.delete("/api/v1/security/blocks/198.51.100.66", headers=admin)
        ).status_code == 404
    events = audit_records(settings, "security_event")
    assert {record["kind"] for record in events} >= {
        "authentication_failures_per_ip",
        "authentication_failures_overall",
    }
    assert all(record["threshold"] == 3 for record in events if record["kind"].startswith("authentication"))
    blocks = audit_records(settings, "ip_blocked")
    assert blocks[0]["client_ip"] == "198.51.100.66"
    assert audit_records(settings, "ip_unblocked")[0]["user"] == "warden"
    metrics = app.state.container.metrics.exposition().decode()
    assert "freeagentics_security_events_total" in metrics


async def test_admin_blocks_an_address_through_the_api(
    pg_redis_settings, app_client, auth_headers, tmp_path
) -> None:
    settings = pg_redis_settings(config_dir=config_dir_with(tmp_path / "config", rate_limiting=rate_limits()))
    async with app_client(settings) as (client, app):
        admin = await auth_headers(client, "admin", username="boss")
        response = await client.post(
            "/api/v1/security/blocks",
            json={"ip": "203.0.113.50", "seconds": 60, "reason": "scanner"},
            headers=admin,
        )
        assert response.status_code == 201
        bad = await client.post(
            "/api/v1/security/blocks", json={"ip": "not-an-ip", "seconds": 60, "reason": "x"}, headers=admin
        )
        assert bad.status_code == 422
        transport = httpx.ASGITransport(app=app, client=("203.0.113.50", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as blocked:
            assert (await blocked.get("/health/live")).status_code == 403
    assert audit_records(settings, "ip_blocked")[0]["target_ip"] == "203.0.113.50"


async def test_guessing_one_account_from_many_addresses_is_limited(
    pg_redis_settings, app_client, tmp_path
) -> None:
    settings = pg_redis_settings(
        config_dir=config_dir_with(tmp_path / "config", rate_limiting=rate_limits(auth=4))
    )
    async with app_client(settings) as (_client, app):
        await create_test_user(app, "admin", "target")
        statuses = []
        for i in range(6):
            transport = httpx.ASGITransport(app=app, client=(f"192.0.2.{i + 1}", 1000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as attacker:
                response = await attacker.post(
                    "/api/v1/auth/login", json={"username": "TARGET", "password": "guess-guess-1"}
                )
                statuses.append(response.status_code)
        assert statuses == [401] * 4 + [429] * 2
        assert int(response.headers["retry-after"]) >= 1
    limited = audit_records(settings, "rate_limit_exceeded")
    assert len(limited) == 2
    assert limited[0]["user"] == "TARGET"
    assert limited[0]["route"] == "/api/v1/auth/login"
