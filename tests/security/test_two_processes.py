"""Two real server processes sharing PostgreSQL and Redis: a logout in one revokes the token in the other,
rate limits count exactly across both under 200 concurrent requests, every ``rate_limit:*`` key expires,
and SIGHUP with a broken YAML keeps the old policy (then a valid one takes effect)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from tests.conftest import REDIS_TEST_URL, TEST_PASSWORD, free_port
from tests.security.conftest import FAST_ARGON2, config_dir_with, rate_limits
from tests.server_support import embedded_server_env, wait_until_healthy

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_dir: Path


def _start(tmp_path: Path, name: str, env_vars: dict[str, str]) -> Server:
    port = free_port()
    data_dir = tmp_path / name
    env = embedded_server_env(data_dir, port)
    env.update(
        {
            **{f"FREEAGENTICS_{key.upper()}": str(value) for key, value in FAST_ARGON2.items()},
            **env_vars,
        }
    )
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "main.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Server(process, f"http://127.0.0.1:{port}", data_dir / "logs")
    try:
        wait_until_healthy(server.base_url, process, timeout_s=60)
    except AssertionError:
        process.kill()
        raise
    return server


@pytest.fixture
def shared(tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str) -> dict[str, str]:
    from freeagentics.infra.db import migrate
    from freeagentics.infra.security.keys import add_key

    migrate.upgrade(postgres_url)
    add_key(tmp_path / "keys")
    return {
        "FREEAGENTICS_DATABASE_URL": postgres_url,
        "FREEAGENTICS_REDIS_URL": redis_url,
        "FREEAGENTICS_REDIS_KEY_PREFIX": redis_prefix,
        "FREEAGENTICS_AUTH_KEY_DIR": str(tmp_path / "keys"),
        "FREEAGENTICS_CONFIG_DIR": str(
            config_dir_with(tmp_path / "config", rate_limiting=rate_limits(read=50))
        ),
    }


@pytest.fixture
def two_servers(tmp_path: Path, shared: dict[str, str]) -> Iterator[tuple[Server, Server]]:
    first = _start(tmp_path, "one", shared)
    try:
        second = _start(tmp_path, "two", shared)
    except BaseException:
        first.process.kill()
        raise
    yield first, second
    for server in (first, second):
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()


def _create_user(shared: dict[str, str], tmp_path: Path, username: str, role: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREEAGENTICS_")}
    env.update(shared)
    env.update({"FREEAGENTICS_ENV_FILE": os.devnull, "FREEAGENTICS_DATA_DIR": str(tmp_path / "cli")})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "freeagentics.cli.main",
            "users",
            "create",
            username,
            "--role",
            role,
            "--password-stdin",
        ],
        input=TEST_PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _audit(server: Server, event: str) -> list[dict]:
    path = server.log_dir / "security_audit.log"
    if not path.exists():
        return []
    return [r for r in (json.loads(line) for line in path.read_text().splitlines()) if r["event"] == event]


def test_logout_in_one_process_revokes_the_token_in_the_other(two_servers, shared, tmp_path) -> None:
    first, second = two_servers
    _create_user(shared, tmp_path, "shared-user", "observer")
    tokens = httpx.post(
        f"{first.base_url}/api/v1/auth/login", json={"username": "shared-user", "password": TEST_PASSWORD}
    ).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{second.base_url}/api/v1/auth/me", headers=headers).status_code == 200
    assert httpx.post(f"{first.base_url}/api/v1/auth/logout", headers=headers).status_code == 204
    assert httpx.get(f"{second.base_url}/api/v1/auth/me", headers=headers).status_code == 401
    refresh = httpx.post(
        f"{second.base_url}/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert _audit(first, "token_revoked")
    assert any(r["reason"] == "token revoked" for r in _audit(second, "authentication_failed"))


def test_exact_count_under_200_concurrent_requests_over_two_processes(two_servers, redis_prefix) -> None:
    first, second = two_servers
    client = redis.Redis.from_url(REDIS_TEST_URL)
    # Start from an empty window: the readiness polls of the two servers were counted too.
    for key in client.scan_iter(match=f"{redis_prefix}rate_limit:*"):
        client.delete(key)

    async def burst() -> list[httpx.Response]:
        # One connection per request: reusing keep-alive connections races the server's idle timeout on
        # a loaded machine, and retrying a request would distort the count.
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(client.get(f"{(first if i % 2 else second).base_url}/health/live") for i in range(200))
            )

    responses = asyncio.run(burst())
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 150
    limited = next(response for response in responses if response.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-limit"] == "50"
    assert limited.headers["ratelimit-remaining"] == "0"
    assert limited.json()["error"]["code"] == "rate_limited"
    admitted = next(response for response in responses if response.status_code == 200)
    assert admitted.headers["ratelimit-policy"] == "50;w=60"

    keys = list(client.scan_iter(match=f"{redis_prefix}rate_limit:*"))
    assert keys
    assert all(client.pttl(key) > 0 for key in keys)
    client.close()
    records = _audit(first, "rate_limit_exceeded") + _audit(second, "rate_limit_exceeded")
    assert len(records) == 150
    assert {r["route"] for r in records} == {"/health/live"}
    assert {r["client_ip"] for r in records} == {"127.0.0.1"}


def test_sighup_with_a_broken_yaml_keeps_the_old_policy(two_servers, tmp_path) -> None:
    first, _second = two_servers
    policy = tmp_path / "config" / "rate_limiting.yaml"
    policy.write_text("enabled: true\nclasses: {read: {requests: -1}}\n")
    first.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not _audit(first, "config_reload_failed"):
        time.sleep(0.1)
    assert _audit(first, "config_reload_failed")
    # The old policy (read: 50/min) still applies; the broken file is not half-applied.
    statuses = [httpx.get(f"{first.base_url}/api/v1/auth/me").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    response = httpx.get(f"{first.base_url}/health/live")
    assert response.headers["ratelimit-limit"] == "50"

    policy.write_text(rate_limits(read=7))
    first.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not _audit(first, "config_reloaded"):
        time.sleep(0.1)
    assert _audit(first, "config_reloaded")
    assert httpx.get(f"{first.base_url}/health/live").headers["ratelimit-limit"] == "7"
