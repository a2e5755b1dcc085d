"""Helpers shared by the runtime's API, WebSocket and process tests: config dirs, backends, polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from freeagentics.infra.config_files import default_text

T = TypeVar("T")

FAST_ARGON2 = {"auth_argon2_time_cost": 2, "auth_argon2_memory_kib": 19456}
SMALL_WORLD: dict[str, Any] = {
    "height": 6,
    "width": 6,
    "walls": [[2, 2], [2, 3]],
    "resources": [{"cell": [1, 1], "amount": 3}],
    "goals": [[5, 5]],
}


def write_config_dir(
    path: Path, *, tick_rate_hz: float = 10.0, checkpoint_every_ticks: int = 50, rate_limits: bool = False
) -> Path:
    """A config dir with the packaged defaults, the given tick settings, and rate limits off unless asked.

    Rate limits are the security tests' concern; here they would only make a long lifecycle flaky.
    """
    path.mkdir(parents=True, exist_ok=True)
    for name in (
        "rate_limiting.yaml",
        "threading_config.yaml",
        "security_rules.yaml",
        "security_policies.yaml",
    ):
        (path / name).write_text(default_text(name))
    if not rate_limits:
        text = default_text("rate_limiting.yaml").replace("enabled: true", "enabled: false")
        (path / "rate_limiting.yaml").write_text(text)
    (path / "agent_config.yaml").write_text(
        f"tick_rate_hz: {tick_rate_hz}\n"
        "emergency_tick_rate_hz: 1.0\n"
        f"checkpoint_every_ticks: {checkpoint_every_ticks}\n"
        "max_agents: 200000\n"
        "max_batch_create: 10000\n"
    )
    return path


async def wait_for(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout_s: float = 20.0, what: str = ""
) -> T:
    """Poll ``read`` until ``done`` holds; fails with the last value after ``timeout_s`` (a deadline, not a
    timing assertion: a slow machine only makes it wait longer)."""
    deadline = time.monotonic() + timeout_s
    value = await read()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or 'condition'}; last value: {value!r}"[:2000])
        await asyncio.sleep(0.05)
        value = await read()
    return value


def wait_for_sync(
    read: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 30.0, what: str = ""
) -> T:
    deadline = time.monotonic() + timeout_s
    value = read()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or 'condition'}; last value: {value!r}"[:2000])
        time.sleep(0.1)
        value = read()
    return value


async def create_world(
    client: httpx.AsyncClient, headers: dict[str, str], spec: dict[str, Any] | None = None, name: str = "w"
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/worlds", json={"name": name, "spec": spec or SMALL_WORLD, "seed": 7}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def explorer(world_id: str, name: str = "explorer", **parameters: Any) -> dict[str, Any]:
    return {"name": name, "world_id": world_id, "template": "grid_explorer", "parameters": parameters}


def error_locs(response: httpx.Response) -> list[list[Any]]:
    body = response.json()
    return [list(detail["loc"]) for detail in body["error"].get("details", [])]
