"""WebSocket authentication at the handshake: no token, a bad token, a foreign Origin, and a socket that is
closed once its token is revoked (embedded default, real app and the real ``/api/v1/ws`` route)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from tests.conftest import TEST_PASSWORD, create_test_user
from tests.security.conftest import audit_records

from freeagentics.api.app import create_app
from freeagentics.bootstrap import configure_process

WS = "/api/v1/ws"


@pytest.fixture
def running(embedded_settings):
    settings = embedded_settings(security_cors_origins="https://dashboard.example")
    configure_process(settings)
    app = create_app(settings)
    with TestClient(app) as client:
        yield settings, app, client


def _login(client: TestClient, app, username: str) -> dict:
    client.portal.call(create_test_user, app, "observer", username)
    response = client.post("/api/v1/auth/login", json={"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 200
    return response.json()


def _read_until_closed(ws) -> None:
    while True:
        ws.receive_text()


def test_websocket_without_a_token_is_refused_at_the_handshake(running) -> None:
    settings, _app, client = running
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(WS):
        pass
    assert refused.value.code == 4401
    with (
        pytest.raises(WebSocketDisconnect) as junk,
        client.websocket_connect(WS, subprotocols=["freeagentics.v1", "bearer.junk"]),
    ):
        pass
    assert junk.value.code == 4401
    records = [r for r in audit_records(settings, "authentication_failed") if r["route"] == WS]
    assert [r["reason"] for r in records] == ["no bearer token", "malformed token"]


def test_websocket_from_a_foreign_origin_is_refused(running) -> None:
    settings, app, client = running
    tokens = _login(client, app, "wsorigin")
    protocols = ["freeagentics.v1", f"bearer.{tokens['access_token']}"]
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(WS, subprotocols=protocols, headers={"Origin": "https://evil.example"}),
    ):
        pass
    assert refused.value.code == 1008
    denied = audit_records(settings, "access_denied")[-1]
    assert denied["reason"] == "WebSocket Origin not allowed"
    assert denied["origin"] == "https://evil.example"
    with client.websocket_connect(
        WS, subprotocols=protocols, headers={"Origin": "https://dashboard.example"}
    ) as ws:
        assert ws.accepted_subprotocol == "freeagentics.v1"


def test_socket_is_closed_when_its_token_is_revoked(running) -> None:
    settings, app, client = running
    tokens = _login(client, app, "wslive")
    protocols = ["freeagentics.v1", f"bearer.{tokens['access_token']}"]
    with client.websocket_connect(WS, subprotocols=protocols) as ws:
        assert ws.accepted_subprotocol == "freeagentics.v1"
        logout = client.post(
            "/api/v1/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert logout.status_code == 204
        with pytest.raises(WebSocketDisconnect) as closed:
            _read_until_closed(ws)
        assert closed.value.code == 4401
    assert any(
        r["reason"] == "WebSocket closed: token expired or revoked"
        for r in audit_records(settings, "token_revoked")
    )
