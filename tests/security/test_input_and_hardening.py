"""Hostile input and transport hardening: NaN/Infinity, ragged and oversized matrices, NUL bytes, oversized
bodies, deep JSON, spoofed X-Forwarded-For, identical 401s, log forging, security headers and CORS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from tests.conftest import TEST_PASSWORD, create_test_user
from tests.security.conftest import audit_records, config_dir_with, rate_limits
from tests.services.runtime.runtime_api_helpers import create_world

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(pg_redis_settings, tmp_path):
    return pg_redis_settings(
        config_dir=config_dir_with(tmp_path / "config", rate_limiting=rate_limits()),
        security_cors_origins="https://dashboard.example",
        security_trusted_proxies="10.0.0.0/8",
        security_max_body_bytes=64 * 1024,
    )


@asynccontextmanager
async def client_from(app: Any, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose TCP peer address is ``ip``."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 50_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _spec(a_matrix: Any) -> dict[str, Any]:
    return {
        "factors": [{"name": "f", "states": 2}],
        "modalities": [{"name": "o", "outcomes": 2, "A": a_matrix}],
    }


async def _agents_total(client, headers) -> int:
    return int((await client.get("/api/v1/agents", params={"limit": 1}, headers=headers)).json()["total"])


async def test_non_finite_ragged_and_oversized_matrices_are_refused(
    settings, app_client, auth_headers
) -> None:
    async with app_client(settings) as (client, _app):
        admin = await auth_headers(client, "admin")
        world = await create_world(client, admin)
        before = await _agents_total(client, admin)
        headers = {**admin, "Content-Type": "application/json"}
        for token in ("NaN", "Infinity", "-Infinity"):
            raw = json.dumps(
                {"name": "x", "world_id": world["id"], "model_spec": _spec([[0.5, 0.5], [0.5, 0.5]])}
            )
            raw = raw.replace("[[0.5, 0.5]", f"[[{token}, 0.5]")
            response = await client.post("/api/v1/agents", content=raw, headers=headers)
            assert response.status_code == 422, (token, response.text)
        ragged = _spec([[1.0, 0.0], [0.0]])
        oversized = _spec([[0.5] * 100_000, [0.5] * 100_000])
        for spec in (ragged, oversized):
            body = {"name": "x", "world_id": world["id"], "model_spec": spec}
            response = await client.post("/api/v1/agents", json=body, headers=admin)
            assert response.status_code in (413, 422), response.text
        assert await _agents_total(client, admin) == before
    rejected = audit_records(settings, "input_rejected")
    assert len(rejected) == 5
    assert all(record["route"] == "/api/v1/agents" for record in rejected)


async def test_nul_bytes_in_names_are_refused(settings, app_client, auth_headers) -> None:
    async with app_client(settings) as (client, _app):
        admin = await auth_headers(client, "admin")
        user = await client.post(
            "/api/v1/users",
            json={"username": "nul\x00user", "password": TEST_PASSWORD, "role": "observer"},
            headers=admin,
        )
        assert user.status_code == 422
        world = await client.post(
            "/api/v1/worlds", json={"name": "w\x00", "spec": {"height": 3, "width": 3}}, headers=admin
        )
        assert world.status_code == 422
        login = await client.post(
            "/api/v1/auth/login", json={"username": "admin\x00", "password": TEST_PASSWORD}
        )
        assert login.status_code == 401
    assert len(audit_records(settings, "input_rejected")) == 2
    failed = audit_records(settings, "authentication_failed")[-1]
    assert "\x00" not in failed["user"]
    assert failed["reason"] == "unknown user"


async def test_oversized_body_and_deep_json(settings, app_client, auth_headers) -> None:
    async with app_client(settings) as (client, _app):
        admin = await auth_headers(client, "admin")
        big = await client.post(
            "/api/v1/worlds",
            content=b'{"name": "' + b"x" * 70_000 + b'"}',
            headers={**admin, "Content-Type": "application/json"},
        )
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "payload_too_large"

        async def chunks():
            for _ in range(20):
                yield b"x" * 8192

        streamed = await client.post(
            "/api/v1/worlds", content=chunks(), headers={**admin, "Content-Type": "application/json"}
        )
        assert streamed.status_code == 413

        deep = "[" * 5000 + "]" * 5000
        response = await client.post(
            "/api/v1/worlds", content=deep, headers={**admin, "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "json_too_deep"
        login_deep = await client.post(
            "/api/v1/auth/login",
            content='{"username": ' + "[" * 100 + "]" * 100 + "}",
            headers={"Content-Type": "application/json"},
        )
        assert login_deep.status_code == 400
        # Depth inside strings does not count.
        fine = await client.post(
            "/api/v1/worlds", json={"name": "[" * 100, "spec": {"height": 3, "width": 3}}, headers=admin
        )
        assert fine.status_code in (201, 422)
        assert fine.status_code != 400
    reasons = [record["reason"] for record in audit_records(settings, "input_rejected")]
    assert reasons.count("body too large") == 2
    assert reasons.count("malformed or too deeply nested input") == 2


async def test_spoofed_forwarded_for_is_not_loopback(settings, app_client, auth_headers) -> None:
    async with app_client(settings) as (client, app):
        assert (await client.get("/health")).status_code == 200  # loopback peer: anonymous allowed
        async with client_from(app, "203.0.113.9") as outsider:
            spoofed = await outsider.get("/health", headers={"X-Forwarded-For": "127.0.0.1"})
            assert spoofed.status_code == 401
            assert (
                await outsider.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
            ).status_code == 401
            assert (await outsider.get("/api/v1/system/metrics")).status_code == 401
            observer = await auth_headers(outsider, "observer", app=app, username="remote")
            assert (await outsider.get("/health", headers=observer)).status_code == 200
        async with client_from(app, "10.1.1.1") as proxy:
            # A trusted proxy's header is believed: the right-most untrusted hop is the client.
            forwarded = await proxy.get("/health", headers={"X-Forwarded-For": "198.51.100.7, 10.2.2.2"})
            assert forwarded.status_code == 401
            # The client cannot prepend a loopback hop in front of its real address.
            prepended = await proxy.get("/health", headers={"X-Forwarded-For": "127.0.0.1, 198.51.100.7"})
            assert prepended.status_code == 401
            via_proxy_from_loopback = await proxy.get("/health", headers={"X-Forwarded-For": "127.0.0.1"})
            assert via_proxy_from_loopback.status_code == 200
    failures = audit_records(settings, "authentication_failed")
    ips = [record["client_ip"] for record in failures if record["reason"] == "no bearer token"]
    assert ips.count("203.0.113.9") == 3
    assert "198.51.100.7" in ips
    assert "127.0.0.1" not in ips


async def test_unknown_user_and_wrong_password_get_identical_401(settings, app_client, monkeypatch) -> None:
    async with app_client(settings) as (client, app):
        await create_test_user(app, "observer", "known")
        hasher = app.state.container.security.hasher
        calls: list[str] = []
        real_dummy, real_verify = hasher.verify_dummy, hasher.verify
        monkeypatch.setattr(
            hasher, "verify_dummy", lambda password: (calls.append("dummy"), real_dummy(password))[1]
        )
        monkeypatch.setattr(hasher, "verify", lambda h, p: (calls.append("verify"), real_verify(h, p))[1])
        unknown = await client.post(
            "/api/v1/auth/login", json={"username": "nobody", "password": "wrong-password-1"}
        )
        wrong = await client.post(
            "/api/v1/auth/login", json={"username": "known", "password": "wrong-password-1"}
        )
    assert unknown.status_code == wrong.status_code == 401
    assert {k: v for k, v in unknown.json().items() if k != "request_id"} == {
        k: v for k, v in wrong.json().items() if k != "request_id"
    }
    assert unknown.headers.get("content-length") == wrong.headers.get("content-length")
    # Both paths run exactly one Argon2 verification: the unknown user's goes through verify_dummy.
    assert calls == ["dummy", "verify", "verify"]
    reasons = [record["reason"] for record in audit_records(settings, "authentication_failed")]
    assert reasons == ["unknown user", "wrong password"]


async def test_crlf_and_control_characters_cannot_forge_audit_lines(settings, app_client) -> None:
    hostile = 'eve\r\n{"event": "login_success", "user": "admin"}\x1b[2J'
    async with app_client(settings) as (client, _app):
        response = await client.post(
            "/api/v1/auth/login", json={"username": hostile, "password": "whatever-123"}
        )
        assert response.status_code == 401
    lines = (settings.log_dir / "security_audit.log").read_text().splitlines()
    assert all(json.loads(line) for line in lines)
    assert not any(json.loads(line)["event"] == "login_success" for line in lines)
    failed = audit_records(settings, "authentication_failed")[-1]
    assert "\r" not in failed["user"]
    assert "\n" not in failed["user"]
    assert "\x1b" not in failed["user"]
    assert "whatever-123" not in "\n".join(lines)


async def test_security_headers_and_cors_allowlist(settings, app_client) -> None:
    async with app_client(settings) as (client, _app):
        response = await client.get("/health/live")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers
        api = await client.get("/api/v1/auth/me")
        assert api.headers["cache-control"] == "no-store"
        allowed = await client.options(
            "/api/v1/auth/login",
            headers={"Origin": "https://dashboard.example", "Access-Control-Request-Method": "POST"},
        )
        assert allowed.headers.get("access-control-allow-origin") == "https://dashboard.example"
        refused = await client.options(
            "/api/v1/auth/login",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in refused.headers


async def test_hsts_over_tls_and_behind_a_trusted_tls_proxy(settings, app_client) -> None:
    async with app_client(settings) as (_client, app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as tls:
            assert "max-age=" in (await tls.get("/health/live")).headers["strict-transport-security"]
        async with client_from(app, "10.0.0.5") as proxy:
            behind = await proxy.get("/health/live", headers={"X-Forwarded-Proto": "https"})
            assert "strict-transport-security" in behind.headers
        async with client_from(app, "203.0.113.1") as outsider:
            forged = await outsider.get("/health/live", headers={"X-Forwarded-Proto": "https"})
            assert "strict-transport-security" not in forged.headers
