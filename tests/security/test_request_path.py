"""The fast request path keeps every check per request: one signature verification shared by the rate
limiter and authentication, and nothing about a token or its user is remembered from one request to the
next (embedded default: SQLite, in-process limits and revocations)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from tests.conftest import TEST_PASSWORD, create_test_user
from tests.security.conftest import audit_records

ME = "/api/v1/auth/me"


async def _bearer(client: Any, username: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def counted_decodes(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(app: Any) -> list[str]:
        codec = app.state.container.security.codec
        calls: list[str] = []
        original = codec.decode

        def decode(token: str, expected: Any) -> Any:
            calls.append(expected.value)
            return original(token, expected)

        monkeypatch.setattr(codec, "decode", decode)
        return calls

    return install


async def test_the_rate_limiter_and_authentication_verify_the_token_once(
    embedded_settings, app_client, counted_decodes
) -> None:
    settings = embedded_settings()
    async with app_client(settings) as (client, app):
        await create_test_user(app, "researcher", "rita")
        headers = await _bearer(client, "rita")
        calls = counted_decodes(app)
        response = await client.get("/api/v1/agents", headers=headers)
        assert response.status_code == 200
        assert "ratelimit-remaining" in response.headers  # the limiter ran, keyed by the user
        assert calls == ["access"]
        calls.clear()
        forged = {"Authorization": headers["Authorization"][:-4] + "AAAA"}
        assert (await client.get("/api/v1/agents", headers=forged)).status_code == 401
        assert calls == ["access"]
    reasons = [record["reason"] for record in audit_records(settings, "authentication_failed")]
    assert reasons.count("bad signature") == 1


async def test_a_deleted_user_is_refused_at_the_next_request(embedded_settings, app_client) -> None:
    settings = embedded_settings()
    async with app_client(settings) as (client, app):
        user = await create_test_user(app, "researcher", "dan")
        headers = await _bearer(client, "dan")
        assert (await client.get(ME, headers=headers)).status_code == 200
        assert (await client.get("/api/v1/agents", headers=headers)).status_code == 200
        async with app.state.container.session_factory() as session:
            await session.execute(text("DELETE FROM refresh_tokens WHERE user_id = :id"), {"id": user.id.hex})
            await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id.hex})
            await session.commit()
        assert (await client.get(ME, headers=headers)).status_code == 401
        assert (await client.get("/api/v1/agents", headers=headers)).status_code == 401
    reasons = [record["reason"] for record in audit_records(settings, "authentication_failed")]
    assert reasons.count("user does not exist") == 2


async def test_a_logged_out_token_is_refused_at_the_next_request(embedded_settings, app_client) -> None:
    settings = embedded_settings()
    async with app_client(settings) as (client, app):
        await create_test_user(app, "observer", "lou")
        headers = await _bearer(client, "lou")
        assert (await client.get("/api/v1/agents", headers=headers)).status_code == 200
        assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
        assert (await client.get("/api/v1/agents", headers=headers)).status_code == 401
    reasons = [record["reason"] for record in audit_records(settings, "authentication_failed")]
    assert "token revoked" in reasons
