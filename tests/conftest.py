"""Shared fixtures: settings in a temp data dir, real PostgreSQL databases and Redis prefixes per test.

Integration tests use the real PostgreSQL and Redis of the machine. Where neither runs they skip with the
reason (shown by ``-ra``); under ``CI=true`` they fail instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from freeagentics.config import Settings, load_settings
from freeagentics.domain.engine.warmup import compile_accelerator

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_DSN = os.environ.get(
    "FREEAGENTICS_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("FREEAGENTICS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def missing_service(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so integration tests must not skip")
    pytest.skip(f"INTEGRATION TEST SKIPPED: {reason}")


def closed_port() -> int:
    """A local TCP port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


free_port = closed_port


@pytest.fixture(scope="session", autouse=True)
def _compiled_engine_kernels() -> None:
    """Compile the engine's Numba kernels once per session: their on-disk cache then serves the server
    processes the tests start, whose first tick would otherwise spend seconds compiling."""
    compile_accelerator()


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Build Settings for a fresh data dir; keyword arguments become ``FREEAGENTICS_<NAME>`` variables."""
    for name in list(os.environ):
        if name.startswith("FREEAGENTICS_") or name in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name)
    env_file = tmp_path / "test.env"
    env_file.write_text("")
    monkeypatch.setenv("FREEAGENTICS_ENV_FILE", str(env_file))

    def make(**variables: Any) -> Settings:
        monkeypatch.setenv("FREEAGENTICS_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("FREEAGENTICS_LOG_STDOUT", "false")
        monkeypatch.setenv("FREEAGENTICS_DEMO_WORLD", "false")
        for key, value in variables.items():
            monkeypatch.setenv(f"FREEAGENTICS_{key.upper()}", str(value))
        return load_settings()

    return make


async def _admin_execute(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test (dropped afterwards); an asyncpg SQLAlchemy URL."""
    name = f"fa_test_{uuid.uuid4().hex[:16]}"
    try:
        asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        missing_service(f"PostgreSQL not reachable at {POSTGRES_ADMIN_DSN}: {exc}")
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        missing_service(f"Redis not reachable at {REDIS_TEST_URL}: {exc}")
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_url() -> str:
    return REDIS_TEST_URL


@pytest.fixture
def app_client() -> Callable[[Settings], Any]:
    """``async with app_client(settings) as (client, app)``: the app with its lifespan, over ASGI."""
    from contextlib import asynccontextmanager

    from freeagentics.api.app import create_app
    from freeagentics.bootstrap import configure_process

    @asynccontextmanager
    async def run(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
        configure_process(settings)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield client, app

    return run


# --------------------------------------------------------------------------- security: users and tokens

TEST_PASSWORD = "correct horse battery staple"


async def create_test_user(app: Any, role: str, username: str | None = None, password: str = TEST_PASSWORD):
    """Create a user through the same service the CLI uses (committed); returns the ``UserRecord``."""
    from freeagentics.bootstrap import build_auth_service
    from freeagentics.services.auth.rbac import Role

    container = app.state.container
    async with container.session_factory() as session:
        user = await build_auth_service(container, session).create_user(
            username or f"{role}-{uuid.uuid4().hex[:8]}",
            password,
            Role(role),
            min_password_length=8,
            actor="test",
        )
        await session.commit()
    return user


@pytest.fixture
def auth_headers() -> Callable[..., Any]:
    """``await auth_headers(client, "admin")`` -> ``{"Authorization": "Bearer ..."}`` for a new user of that role.

    Works with the ``app_client`` client (the app is taken from its ASGI transport, or pass ``app=``). The
    user is created through the auth service and logs in through ``POST /api/v1/auth/login``.
    """

    async def make(
        client: httpx.AsyncClient, role: str, *, app: Any = None, username: str | None = None
    ) -> dict[str, str]:
        target = app if app is not None else client._transport.app  # type: ignore[attr-defined]
        user = await create_test_user(target, role, username)
        response = await client.post(
            "/api/v1/auth/login", json={"username": user.username, "password": TEST_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return make
