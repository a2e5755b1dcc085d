"""Forged and malformed access tokens: each answers the same 401 and leaves an ``authentication_failed``
record naming the precise reason (PostgreSQL + Redis)."""

from __future__ import annotations

import base64
import json
import time
from types import SimpleNamespace

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from tests.conftest import TEST_PASSWORD, create_test_user
from tests.security.conftest import audit_records, forge, valid_claims

pytestmark = pytest.mark.integration

ME = "/api/v1/auth/me"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(token: str) -> list[str]:
    return token.split(".")


async def _login(client, username: str) -> dict:
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 200
    return response.json()


async def _assert_refused(client, settings, token: str, reason_part: str) -> None:
    before = len(audit_records(settings, "authentication_failed"))
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == {"code": "unauthorized", "message": "Authentication required"}
    records = audit_records(settings, "authentication_failed")[before:]
    assert records, "no authentication_failed record"
    assert reason_part in records[-1]["reason"], records[-1]
    assert records[-1]["route"] == ME
    assert records[-1]["client_ip"]
    assert token not in json.dumps(records)


@pytest.fixture
async def env(pg_redis_settings, app_client):
    settings = pg_redis_settings()
    async with app_client(settings) as (client, app):
        user = await create_test_user(app, "researcher", "mallory")
        tokens = await _login(client, "mallory")
        yield SimpleNamespace(settings=settings, client=client, user=user, tokens=tokens)


async def test_a_genuine_token_is_accepted(env) -> None:
    response = await env.client.get(ME, headers={"Authorization": f"Bearer {env.tokens['access_token']}"})
    assert response.status_code == 200
    assert response.json()["username"] == "mallory"


async def test_tampered_payload(env) -> None:
    header, payload, signature = _segments(env.tokens["access_token"])
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "00000000-0000-0000-0000-000000000000"
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    await _assert_refused(env.client, env.settings, forged, "bad signature")


async def test_tampered_signature(env) -> None:
    header, payload, signature = _segments(env.tokens["access_token"])
    flipped = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    await _assert_refused(env.client, env.settings, f"{header}.{payload}.{flipped}", "bad signature")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_in_any_case(env, alg: str) -> None:
    header = _b64(
        json.dumps(
            {"alg": alg, "typ": "at+jwt", "kid": jwt.get_unverified_header(env.tokens["access_token"])["kid"]}
        ).encode()
    )
    payload = _b64(json.dumps(valid_claims(env.settings, env.user.id)).encode())
    await _assert_refused(env.client, env.settings, f"{header}.{payload}.", "algorithm not allowed")


async def test_hs256_signed_with_the_public_key(env) -> None:
    from freeagentics.infra.security.keys import read_key_dir

    key = read_key_dir(env.settings.key_dir)[-1]
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(valid_claims(env.settings, env.user.id)).encode())}"
    import hashlib
    import hmac

    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    await _assert_refused(
        env.client, env.settings, f"{signing_input}.{_b64(signature)}", "algorithm not allowed"
    )


async def test_expired(env) -> None:
    now = int(time.time())
    token = forge(
        env.settings, valid_claims(env.settings, env.user.id, iat=now - 3600, nbf=now - 3600, exp=now - 60)
    )
    await _assert_refused(env.client, env.settings, token, "token expired")


async def test_not_yet_valid(env) -> None:
    now = int(time.time())
    token = forge(env.settings, valid_claims(env.settings, env.user.id, nbf=now + 120, exp=now + 900))
    await _assert_refused(env.client, env.settings, token, "not yet valid")


async def test_within_leeway_is_accepted_beyond_is_not(env) -> None:
    now = int(time.time())
    inside = forge(env.settings, valid_claims(env.settings, env.user.id, exp=now - 3))
    response = await env.client.get(ME, headers={"Authorization": f"Bearer {inside}"})
    assert response.status_code == 200
    outside = forge(env.settings, valid_claims(env.settings, env.user.id, exp=now - 30))
    await _assert_refused(env.client, env.settings, outside, "token expired")


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "jti", "iss", "aud", "typ", "ver", "fam", "sub"])
async def test_missing_required_claim(env, claim: str) -> None:
    token = forge(env.settings, valid_claims(env.settings, env.user.id, **{claim: None}))
    await _assert_refused(env.client, env.settings, token, f"missing claim {claim}")


async def test_wrong_audience(env) -> None:
    token = forge(env.settings, valid_claims(env.settings, env.user.id, aud="someone-else"))
    await _assert_refused(env.client, env.settings, token, "wrong audience")


async def test_wrong_issuer(env) -> None:
    token = forge(env.settings, valid_claims(env.settings, env.user.id, iss="https://evil.example"))
    await _assert_refused(env.client, env.settings, token, "wrong issuer")


async def test_refresh_token_used_as_access_token(env) -> None:
    await _assert_refused(env.client, env.settings, env.tokens["refresh_token"], "wrong token type")


async def test_access_token_used_as_refresh_token(env) -> None:
    before = len(audit_records(env.settings, "authentication_failed"))
    response = await env.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": env.tokens["access_token"]}
    )
    assert response.status_code == 401
    assert "wrong token type" in audit_records(env.settings, "authentication_failed")[before:][-1]["reason"]


async def test_access_typ_claim_with_refresh_header_and_the_reverse(env) -> None:
    token = forge(env.settings, valid_claims(env.settings, env.user.id, typ="refresh"))
    await _assert_refused(env.client, env.settings, token, "wrong token type")
    token = forge(env.settings, valid_claims(env.settings, env.user.id), header={"typ": "rt+jwt"})
    await _assert_refused(env.client, env.settings, token, "wrong token type")


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "../keys/20261127T000000000000Z-deadbeef",
        "x' OR '1'='1",
        "1; DROP TABLE users; --",
        "A" * 10_240,
        "",
    ],
    ids=["traversal", "traversal-to-key-name", "sql-quote", "sql-drop", "10kb", "empty"],
)
async def test_hostile_kid(env, kid: str) -> None:
    token = forge(env.settings, valid_claims(env.settings, env.user.id), header={"kid": kid})
    expected = "token too long" if len(kid) > 4000 else "unknown kid"
    await _assert_refused(env.client, env.settings, token, expected)


async def test_no_token_and_wrong_scheme(env) -> None:
    for headers in (
        {},
        {"Authorization": f"Basic {env.tokens['access_token']}"},
        {"Authorization": "Bearer"},
    ):
        response = await env.client.get(ME, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    assert audit_records(env.settings, "authentication_failed")[-1]["reason"] == "no bearer token"


async def test_token_of_a_user_that_does_not_exist(env) -> None:
    token = forge(env.settings, valid_claims(env.settings, "6d1f3f36-0000-4000-8000-000000000000"))
    await _assert_refused(env.client, env.settings, token, "user does not exist")


async def test_token_version_from_the_future_is_refused(env) -> None:
    token = forge(env.settings, valid_claims(env.settings, env.user.id, ver=7))
    await _assert_refused(env.client, env.settings, token, "token version superseded")
