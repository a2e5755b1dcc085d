"""Request ids, one JSON access line per request, and the generic 500 with the trace in error.log only."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_one_access_line_per_request_with_its_request_id(settings_env, app_client) -> None:
    settings = settings_env()
    async with app_client(settings) as (client, _app):
        first = await client.get("/health/live")
        second = await client.get("/health/live", headers={"X-Request-ID": "client-chosen.id_1"})
        third = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert first.headers["x-request-id"]
    assert second.headers["x-request-id"] == "client-chosen.id_1"
    assert third.headers["x-request-id"] != "bad id\twith spaces"
    access = [line for line in _lines(settings.log_dir / "access.log") if line["event"] == "http_request"]
    assert [line["request_id"] for line in access] == [
        first.headers["x-request-id"],
        "client-chosen.id_1",
        third.headers["x-request-id"],
    ]
    assert all(line["route"] == "/health/live" and line["status"] == 200 for line in access)
    assert all(line["time"].endswith("+00:00") for line in access)
    assert {"time", "level", "logger", "event", "request_id"} <= set(access[0])


async def test_unhandled_error_is_a_generic_500_with_the_trace_only_in_error_log(
    settings_env, app_client
) -> None:
    settings = settings_env()
    async with app_client(settings) as (client, app):
        boom = APIRouter()

        @boom.get("/boom")
        async def explode() -> None:
            raise RuntimeError("secret internals: table users")

        app.include_router(boom)
        response = await client.get("/boom")
    assert response.status_code == 500
    body = response.json()
    request_id = response.headers["x-request-id"]
    assert body == {
        "error": {"code": "internal_error", "message": "Internal server error"},
        "request_id": request_id,
    }
    assert "secret internals" not in response.text
    errors = _lines(settings.log_dir / "error.log")
    traced = [line for line in errors if line.get("request_id") == request_id]
    assert traced
    assert "RuntimeError: secret internals" in traced[0]["exc_info"]
    access_text = (settings.log_dir / "access.log").read_text()
    assert "secret internals" not in access_text
    assert any(line["status"] == 500 for line in _lines(settings.log_dir / "access.log"))


async def test_unknown_route_gives_machine_readable_404(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, _app):
        response = await client.get("/no/such/route")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_control_characters_cannot_forge_log_lines(settings_env, app_client) -> None:
    settings = settings_env()
    async with app_client(settings) as (client, _app):
        await client.get("/health/live%0A%7B%22event%22%3A%22forged%22%7D")
    for line in (settings.log_dir / "access.log").read_text().splitlines():
        assert json.loads(line)["event"] != "forged"
