"""deploy/nginx/freeagentics.conf for real: nginx on loopback with a self-signed certificate in front of
the real server process (and, for the headers nginx forwards, in front of a header-echo upstream)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from tests.deploy.nginx_support import Nginx, start_nginx
from tests.e2e.test_server_process import REPO_ROOT, ServerProcess, start_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory.mktemp("app"), sys.executable, str(REPO_ROOT / "main.py"))
    yield running
    running.process.kill()
    running.process.wait()


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, app_server: ServerProcess) -> Iterator[Nginx]:
    port = int(app_server.base_url.rsplit(":", 1)[1])
    running = start_nginx(tmp_path_factory.mktemp("nginx"), port)
    yield running
    running.stop()


class _EchoHeaders(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({name.lower(): value for name, value in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    running = start_nginx(tmp_path_factory.mktemp("echo"), server.server_address[1])
    yield running
    running.stop()
    server.shutdown()


def test_https_is_proxied_to_the_app_with_a_verified_certificate(nginx: Nginx) -> None:
    with nginx.client() as client:
        response = client.get(f"{nginx.https_url}/health", headers={"X-Request-ID": "through-nginx"})
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.headers["x-request-id"] == "through-nginx"
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "nginx/" not in response.headers.get("server", "")


def test_plain_http_redirects_to_https_keeping_path_and_query(nginx: Nginx) -> None:
    response = httpx.get(f"{nginx.http_url}/api/v1/agents?limit=5", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "https://127.0.0.1/api/v1/agents?limit=5"


def test_auth_routes_are_rate_limited_with_429(nginx: Nginx) -> None:
    with nginx.client() as client:
        responses = [client.post(f"{nginx.https_url}/api/v1/auth/login", json={}) for _ in range(12)]
    statuses = [response.status_code for response in responses]
    assert all(status != 429 for status in statuses[:6]), statuses
    # nginx's own 429 (the app's limiter would add its request id): the burst of 5 is used up first.
    refused_by_nginx = [r for r in responses if r.status_code == 429 and "x-request-id" not in r.headers]
    assert refused_by_nginx, statuses
    # Probes are exempt from the limits.
    with nginx.client() as client:
        assert {client.get(f"{nginx.https_url}/health/live").status_code for _ in range(30)} == {200}


def test_bodies_over_the_cap_are_refused_with_413_before_the_app(nginx: Nginx) -> None:
    with nginx.client() as client:
        too_big = client.post(f"{nginx.https_url}/api/v1/agents", content=b"x" * (3 * 1024 * 1024))
        under_cap = client.post(f"{nginx.https_url}/api/v1/agents", content=b"x" * (1024 * 1024))
    assert too_big.status_code == 413
    assert "x-request-id" not in too_big.headers  # answered by nginx, the app never saw it
    assert under_cap.status_code != 413
    assert "x-request-id" in under_cap.headers


def test_forwarded_headers_reach_the_upstream(echo_nginx: Nginx) -> None:
    with echo_nginx.client() as client:
        seen = client.get(
            f"{echo_nginx.https_url}/api/v1/agents", headers={"X-Forwarded-For": "203.0.113.9"}
        ).json()
    # The client's claim is kept but the real peer is appended last: the app reads right to left and
    # trusts only its configured proxies, so the forged hop cannot become the client address.
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-real-ip"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-port"] == str(echo_nginx.https_port)
    assert seen["host"] == "127.0.0.1"
    assert "upgrade" not in seen


@pytest.mark.parametrize("path", ["/ws", "/api/v1/ws", "/api/v1/ws/world"])
def test_websocket_upgrade_headers_are_forwarded(echo_nginx: Nginx, path: str) -> None:
    with echo_nginx.client() as client:
        seen = client.get(
            f"{echo_nginx.https_url}{path}",
            headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"},
        ).json()
    assert seen["upgrade"] == "websocket"
    assert seen["connection"] == "upgrade"
