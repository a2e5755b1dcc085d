"""Refresh rotation, reuse detection, concurrent refresh, deactivation, demotion, revocation surviving a
Redis restart, and signing-key rotation picked up live (PostgreSQL + Redis)."""

from __future__ import annotations

import asyncio

import jwt
import pytest
import redis
from tests.conftest import REDIS_TEST_URL, TEST_PASSWORD, create_test_user
from tests.security.conftest import audit_records

pytestmark = pytest.mark.integration


async def _login(client, username: str, password: str = TEST_PASSWORD):
    return await client.post("/api/v1/auth/login", json={"username": username, "password": password})


def _bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(pg_redis_settings, app_client) -> None:
    settings = pg_redis_settings()
    async with app_client(settings) as (client, app):
        await create_test_user(app, "researcher", "rita")
        first = (await _login(client, "rita")).json()
        second_response = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert second_response.status_code == 200
        second = second_response.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second_response.headers["cache-control"] == "no-store"
        assert (await client.get("/api/v1/auth/me", headers=_bearer(second))).status_code == 200

        # The stolen, already-rotated token comes back: the whole family dies, including the new tokens.
        replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert replay.status_code == 401
        assert (await client.get("/api/v1/auth/me", headers=_bearer(second))).status_code == 401
        after = await client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
        assert after.status_code == 401
        # Another login (a new family) is unaffected.
        assert (await _login(client, "rita")).status_code == 200
    reuse = audit_records(settings, "token_reuse_detected")
    assert len(reuse) == 1
    assert reuse[0]["route"] == "/api/v1/auth/refresh"
    assert (
        reuse[0]["family_id"]
        == jwt.decode(first["refresh_token"], options={"verify_signature": False})["fam"]
    )


async def test_two_concurrent_refreshes_exactly_one_succeeds(pg_redis_settings, app_client) -> None:
    settings = pg_redis_settings()
    async with app_client(settings) as (client, app):
        await create_test_user(app, "observer", "olga")
        for _ in range(3):
            tokens = (await _login(client, "olga")).json()
            body = {"refresh_token": tokens["refresh_token"]}
            responses = await asyncio.gather(
                client.post("/api/v1/auth/refresh", json=body), client.post("/api/v1/auth/refresh", json=body)
            )
            assert sorted(response.status_code for response in responses) == [200, 401]
    assert len(audit_records(settings, "token_reuse_detected")) == 3


async def test_deactivated_user_loses_access_at_once(pg_redis_settings, app_client, auth_headers) -> None:
    settings = pg_redis_settings()
    async with app_client(settings) as (client, app):
        admin = await auth_headers(client, "admin")
        user = await create_test_user(app, "researcher", "dora")
        tokens = (await _login(client, "dora")).json()
        response = await client.post(f"/api/v1/users/{user.id}/deactivate", headers=admin)
        assert response.status_code == 200
        assert response.json()["is_active"] is False
        assert (await client.get("/api/v1/auth/me", headers=_bearer(tokens))).status_code == 401
        refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refresh.status_code == 401
        relogin = await _login(client, "dora")
        assert relogin.status_code == 401
        assert relogin.json()["error"]["code"] == "invalid_credentials"
    assert audit_records(settings, "user_deactivated")[0]["target"] == "dora"
    reasons = [record["reason"] for record in audit_records(settings, "authentication_failed")]
    assert "user deactivated" in reasons


async def test_demoted_admin_loses_admin_rights_at_once(pg_redis_settings, app_client, auth_headers) -> None:
    settings = pg_redis_settings()
    async with app_client(settings) as (client, app):
        root = await auth_headers(client, "admin")
        await create_test_user(app, "admin", "adam")
        adam = (await _login(client, "adam")).json()
        assert (await client.get("/api/v1/users", headers=_bearer(adam))).status_code == 200
        response = await client.put(
            f"/api/v1/users/{adam['user']['id']}/role", json={"role": "observer"}, headers=root
        )
        assert response.status_code == 200
        # The old token carries the old token version: refused outright, even for reads.
        assert (await client.get("/api/v1/users", headers=_bearer(adam))).status_code == 401
        # A fresh login gets the new role, which may not manage users.
        fresh = (await _login(client, "adam")).json()
        assert fresh["user"]["role"] == "observer"
        denied = await client.get("/api/v1/users", headers=_bearer(fresh))
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "forbidden"
    assert audit_records(settings, "role_changed")[0]["reason"].startswith("admin -> observer")
    denial = audit_records(settings, "access_denied")[-1]
    assert denial["user"] == "adam"
    assert denial["permission"] == "users:manage"
    assert denial["route"] == "/api/v1/users"


async def test_revocation_survives_a_redis_restart(pg_redis_settings, app_client, redis_prefix) -> None:
    settings = pg_redis_settings()
    async with app_client(settings) as (client, app):
        await create_test_user(app, "observer", "otto")
        tokens = (await _login(client, "otto")).json()
        assert (await client.post("/api/v1/auth/logout", headers=_bearer(tokens))).status_code == 204
        sync = redis.Redis.from_url(REDIS_TEST_URL)
        jti = jwt.decode(tokens["access_token"], options={"verify_signature": False})["jti"]
        assert sync.pttl(f"{redis_prefix}blacklist:{jti}") > 0
        # Redis loses everything (a restart without persistence).
        for key in sync.scan_iter(match=f"{redis_prefix}*"):
            sync.delete(key)
        assert (await client.get("/api/v1/auth/me", headers=_bearer(tokens))).status_code == 401
        # ...and the list was reloaded from the database.
        assert sync.exists(f"{redis_prefix}blacklist:{jti}")
        sync.close()


async def test_key_rotation_is_picked_up_without_restart(pg_redis_settings, app_client) -> None:
    from freeagentics.infra.security.keys import add_key, read_key_dir

    settings = pg_redis_settings()
    async with app_client(settings) as (client, app):
        await create_test_user(app, "observer", "kai")
        old = (await _login(client, "kai")).json()
        old_kid = jwt.get_unverified_header(old["access_token"])["kid"]
        new_key = add_key(settings.key_dir)
        new = (await _login(client, "kai")).json()
        assert jwt.get_unverified_header(new["access_token"])["kid"] == new_key.kid
        # Tokens signed by the old key still verify until it is retired.
        assert (await client.get("/api/v1/auth/me", headers=_bearer(old))).status_code == 200
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert {key["kid"] for key in jwks["keys"]} == {old_kid, new_key.kid}
        assert all(key["alg"] == "EdDSA" and key["kty"] == "OKP" and "d" not in key for key in jwks["keys"])
        # Retiring the old key (its successor has signed longer than any token lives) ends its tokens.
        (settings.key_dir / f"{old_kid}.pem").unlink()
        assert (await client.get("/api/v1/auth/me", headers=_bearer(old))).status_code == 401
        assert (await client.get("/api/v1/auth/me", headers=_bearer(new))).status_code == 200
    assert [key.kid for key in read_key_dir(settings.key_dir)] == [new_key.kid]
    assert any(
        record["reason"] == "unknown kid" for record in audit_records(settings, "authentication_failed")
    )


async def test_key_files_are_private(pg_redis_settings, app_client) -> None:
    settings = pg_redis_settings()
    async with app_client(settings):
        pass
    files = list(settings.key_dir.glob("*.pem"))
    assert files
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in files)
    assert settings.key_dir.stat().st_mode & 0o777 == 0o700
