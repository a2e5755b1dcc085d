"""Login -> me -> logout -> the same token refused, on PostgreSQL + Redis, with the audit trail."""

from __future__ import annotations

import pytest
from tests.conftest import TEST_PASSWORD, create_test_user
from tests.security.conftest import audit_records

pytestmark = pytest.mark.integration


async def test_login_me_logout_and_revoked_token(pg_redis_settings, app_client) -> None:
    settings = pg_redis_settings()
    async with app_client(settings) as (client, app):
        user = await create_test_user(app, "researcher", "alice")
        login = await client.post("/api/v1/auth/login", json={"username": "alice", "password": TEST_PASSWORD})
        assert login.status_code == 200, login.text
        tokens = login.json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        me = await client.get("/api/v1/auth/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["id"] == str(user.id)
        assert me.json()["role"] == "researcher"
        logout = await client.post("/api/v1/auth/logout", headers=headers)
        assert logout.status_code == 204
        again = await client.get("/api/v1/auth/me", headers=headers)
        assert again.status_code == 401
        refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refresh.status_code == 401
    assert audit_records(settings, "login_success")[0]["user"] == "alice"
    assert audit_records(settings, "logout")
    revoked = audit_records(settings, "token_revoked")
    assert revoked
    assert revoked[0]["route"] == "/api/v1/auth/logout"
    failures = audit_records(settings, "authentication_failed")
    assert any(record["reason"] == "token revoked" for record in failures)
