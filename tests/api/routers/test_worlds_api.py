"""/api/v1/worlds and /api/v1/templates on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.services.runtime.runtime_api_helpers import (
    FAST_ARGON2,
    SMALL_WORLD,
    create_world,
    error_locs,
    explorer,
    wait_for,
    write_config_dir,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    variables: dict[str, Any] = {**FAST_ARGON2, "config_dir": write_config_dir(tmp_path / "config")}
    if request.param == "postgresql":
        from freeagentics.infra.db import migrate

        url = request.getfixturevalue("postgres_url")
        migrate.upgrade(url)
        variables["database_url"] = url
    return variables


@pytest.fixture
async def api(
    backend: dict[str, Any], settings_env: Callable[..., Any], app_client: Callable[..., Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings_env(**backend)) as (client, _app):
        yield client


async def _world_count(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await client.get("/api/v1/worlds", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


async def test_create_get_list_and_live_state(api: httpx.AsyncClient, auth_headers: Any) -> None:
    admin = await auth_headers(api, "admin")
    world = await create_world(api, admin, name="arena")
    assert world["spec"]["height"] == SMALL_WORLD["height"]
    assert world["seed"] == 7
    fetched = await api.get(f"/api/v1/worlds/{world['id']}", headers=admin)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "arena"
    listed = await api.get("/api/v1/worlds", params={"limit": 1}, headers=admin)
    assert listed.json()["total"] == 1
    assert listed.json()["items"][0]["id"] == world["id"]

    agents = [explorer(world["id"], f"e{i}", seed=i) for i in range(3)]
    agents.append({"name": "c", "world_id": world["id"], "template": "resource_collector", "parameters": {}})
    assert (await api.post("/api/v1/agents/batch", json={"agents": agents}, headers=admin)).status_code == 201

    async def state() -> dict[str, Any]:
        response = await api.get(f"/api/v1/worlds/{world['id']}/state", headers=admin)
        assert response.status_code == 200, response.text
        return dict(response.json())

    live = await wait_for(
        state, lambda s: s["live"] and len(s["agents"]) == 4 and s["tick"] >= 2, what="live state"
    )
    assert sorted(p["template"] for p in live["populations"]) == ["grid_explorer", "resource_collector"]
    assert sum(p["size"] for p in live["populations"]) == 4
    walls = {tuple(c) for c in SMALL_WORLD["walls"]}
    for agent in live["agents"]:
        assert 0 <= agent["row"] < SMALL_WORLD["height"]
        assert 0 <= agent["col"] < SMALL_WORLD["width"]
        assert (agent["row"], agent["col"]) not in walls
        assert agent["running"] is True
    assert live["resources"] == [{"cell": [1, 1], "amount": live["resources"][0]["amount"]}]
    assert 0 <= live["resources"][0]["amount"] <= 3


INVALID_WORLDS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("zero height", {**SMALL_WORLD, "height": 0}, ["spec", "height"]),
    ("wall outside", {**SMALL_WORLD, "walls": [[9, 9]]}, ["spec", "walls"]),
    ("unknown field", {**SMALL_WORLD, "lava": []}, ["spec", "lava"]),
    (
        "negative resource",
        {**SMALL_WORLD, "resources": [{"cell": [1, 1], "amount": -1}]},
        ["spec", "resources"],
    ),
    ("goal on a wall", {**SMALL_WORLD, "goals": [[2, 2]]}, ["spec", "walls"]),
]


@pytest.mark.parametrize(("case", "spec", "loc"), INVALID_WORLDS, ids=[c[0] for c in INVALID_WORLDS])
async def test_invalid_world_specs_give_422_naming_the_field_and_persist_nothing(
    api: httpx.AsyncClient, auth_headers: Any, case: str, spec: dict[str, Any], loc: list[str]
) -> None:
    admin = await auth_headers(api, "admin")
    response = await api.post("/api/v1/worlds", json={"name": "bad", "spec": spec}, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    locs = error_locs(response)
    assert any([str(p) for p in found[: len(loc)]] == loc for found in locs), (case, locs)
    assert await _world_count(api, admin) == 0


async def test_non_finite_seed_or_spec_values_are_refused(api: httpx.AsyncClient, auth_headers: Any) -> None:
    admin = await auth_headers(api, "admin")
    for raw in (
        '{"name": "w", "spec": {"height": NaN, "width": 4}}',
        '{"name": "w", "spec": {"height": 4, "width": 4}, "seed": Infinity}',
        '{"name": "w", "spec": {"height": 4, "width": 4, "resources": [{"cell": [0, 0], "amount": 1e999}]}}',
    ):
        response = await api.post(
            "/api/v1/worlds", content=raw, headers={**admin, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, (raw, response.text)
    assert await _world_count(api, admin) == 0


async def test_deleting_a_world_deletes_its_agents(api: httpx.AsyncClient, auth_headers: Any) -> None:
    admin = await auth_headers(api, "admin")
    world = await create_world(api, admin)
    agent = (await api.post("/api/v1/agents", json=explorer(world["id"]), headers=admin)).json()
    assert (await api.delete(f"/api/v1/worlds/{world['id']}", headers=admin)).status_code == 204
    assert (await api.get(f"/api/v1/worlds/{world['id']}", headers=admin)).status_code == 404
    assert (await api.get(f"/api/v1/worlds/{world['id']}/state", headers=admin)).status_code == 404
    assert (await api.get(f"/api/v1/agents/{agent['id']}", headers=admin)).status_code == 404
    metrics = await api.get("/api/v1/system/metrics", headers=admin)
    assert metrics.json()["agent_count"]["in_runtime"] == 0


async def test_a_researcher_sees_only_own_worlds(api: httpx.AsyncClient, auth_headers: Any) -> None:
    alice = await auth_headers(api, "researcher")
    bob = await auth_headers(api, "researcher")
    world = await create_world(api, alice)
    assert (await api.get(f"/api/v1/worlds/{world['id']}", headers=bob)).status_code == 404
    assert (await api.get(f"/api/v1/worlds/{world['id']}/state", headers=bob)).status_code == 404
    assert (await api.delete(f"/api/v1/worlds/{world['id']}", headers=bob)).status_code == 404
    assert (await api.get("/api/v1/worlds", headers=bob)).json()["total"] == 0
    observer = await auth_headers(api, "observer")
    assert (await api.get(f"/api/v1/worlds/{world['id']}", headers=observer)).status_code == 200
    denied = await api.post("/api/v1/worlds", json={"name": "o", "spec": SMALL_WORLD}, headers=observer)
    assert denied.status_code == 403


async def test_templates_say_which_run_in_worlds(api: httpx.AsyncClient, auth_headers: Any) -> None:
    observer = await auth_headers(api, "observer")
    response = await api.get("/api/v1/templates", headers=observer)
    assert response.status_code == 200
    runnable = {t["name"]: t["runnable_in_worlds"] for t in response.json()}
    assert runnable["grid_explorer"] is True
    assert runnable["resource_collector"] is True
    assert runnable["tmaze"] is False
    assert (await api.get("/api/v1/templates")).status_code == 401
