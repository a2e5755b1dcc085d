"""/api/v1/agents on SQLite and PostgreSQL: lifecycle, batches, validation, ownership, roles, metrics."""

from __future__ import annotations

import json
import uuid
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
    """Settings variables for a fresh SQLite data dir or a fresh, migrated PostgreSQL database."""
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
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app with its runtime ticking at 10 Hz."""
    async with app_client(settings_env(**backend)) as (client, app):
        yield client, app


async def _count_agents(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await client.get("/api/v1/agents", params={"limit": 1}, headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


async def _status(client: httpx.AsyncClient, headers: dict[str, str], agent_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/agents/{agent_id}/status", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_agent_lifecycle_through_the_api(api: tuple[httpx.AsyncClient, Any], auth_headers: Any) -> None:
    client, _ = api
    admin = await auth_headers(client, "admin")
    world = await create_world(client, admin)
    created = await client.post(
        "/api/v1/agents", json=explorer(world["id"], "walker", start=[0, 0], seed=3), headers=admin
    )
    assert created.status_code == 201, created.text
    agent = created.json()
    agent_id = agent["id"]
    assert agent["status"] == "running"
    assert agent["world_id"] == world["id"]
    assert agent["parameters"]["start"] == [0, 0]

    fetched = await client.get(f"/api/v1/agents/{agent_id}", headers=admin)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "walker"

    renamed = await client.patch(f"/api/v1/agents/{agent_id}", json={"name": "wanderer"}, headers=admin)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "wanderer"
    assert (await client.get(f"/api/v1/agents/{agent_id}", headers=admin)).json()["name"] == "wanderer"

    running = await wait_for(
        lambda: _status(client, admin, agent_id),
        lambda s: s["live"] and (s["ticks"] or 0) >= 3,
        what="ticks to grow while running",
    )
    assert running["state"] == "running"
    assert running["position"] is not None
    assert running["belief_entropy"] is not None
    assert running["belief_entropy"] >= 0
    assert running["last_action_name"] in {"up", "down", "left", "right", "stay"}

    stopped = await client.post(f"/api/v1/agents/{agent_id}/stop", headers=admin)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "stopped"
    frozen_ticks = stopped.json()["ticks"]
    # A second agent keeps the world ticking, so a stopped agent that were stepped would show it.
    other = await client.post("/api/v1/agents", json=explorer(world["id"], "witness", seed=9), headers=admin)
    other_id = other.json()["id"]
    await wait_for(
        lambda: _status(client, admin, other_id), lambda s: (s["ticks"] or 0) >= 5, what="witness ticks"
    )
    still = await _status(client, admin, agent_id)
    assert still["state"] == "stopped"
    assert still["ticks"] == frozen_ticks

    started = await client.post(f"/api/v1/agents/{agent_id}/start", headers=admin)
    assert started.status_code == 200
    assert started.json()["state"] == "running"
    # Far enough past the stop that a counter reset cannot be mistaken for the few ticks that may pass
    # between the restart and the response on a loaded machine.
    before_restart = (
        await wait_for(
            lambda: _status(client, admin, agent_id),
            lambda s: (s["ticks"] or 0) > frozen_ticks + 20,
            what="ticks to grow after start",
        )
    )["ticks"]
    restarted = await client.post(f"/api/v1/agents/{agent_id}/restart", headers=admin)
    assert restarted.status_code == 200, restarted.text
    assert restarted.json()["state"] == "running"
    assert restarted.json()["ticks"] < before_restart - 10, "restart puts the tick counter back to 0"

    beliefs = await client.get(f"/api/v1/agents/{agent_id}/beliefs", headers=admin)
    assert beliefs.status_code == 200, beliefs.text
    body = beliefs.json()
    [factor] = body["factors"]
    assert factor["factor"] == "location"
    assert len(factor["posterior"]) == SMALL_WORLD["height"] * SMALL_WORLD["width"]
    assert abs(sum(factor["posterior"]) - 1.0) < 1e-4
    assert abs(sum(body["policy_posterior"]) - 1.0) < 1e-4
    assert isinstance(body["free_energy"], float)

    deleted = await client.delete(f"/api/v1/agents/{agent_id}", headers=admin)
    assert deleted.status_code == 204
    for path in ("", "/status", "/beliefs"):
        gone = await client.get(f"/api/v1/agents/{agent_id}{path}", headers=admin)
        assert gone.status_code == 404, (path, gone.text)
        assert gone.json()["error"]["code"] == "not_found"
    assert (await client.post(f"/api/v1/agents/{agent_id}/start", headers=admin)).status_code == 404
    assert (await client.delete(f"/api/v1/agents/{agent_id}", headers=admin)).status_code == 404
    state = await client.get(f"/api/v1/worlds/{world['id']}/state", headers=admin)
    assert {a["id"] for a in state.json()["agents"]} == {other_id}


async def test_list_filters_and_capped_pagination(
    api: tuple[httpx.AsyncClient, Any], auth_headers: Any
) -> None:
    client, _ = api
    admin = await auth_headers(client, "admin")
    first = await create_world(client, admin, name="first")
    second = await create_world(client, admin, name="second")
    agents = [explorer(first["id"], f"a{i}", seed=i) for i in range(5)]
    agents += [
        {
            "name": f"c{i}",
            "world_id": second["id"],
            "template": "resource_collector",
            "parameters": {},
            "start": False,
        }
        for i in range(3)
    ]
    batch = await client.post("/api/v1/agents/batch", json={"agents": agents}, headers=admin)
    assert batch.status_code == 201, batch.text
    assert batch.json()["created"] == 8

    async def listing(**params: Any) -> dict[str, Any]:
        response = await client.get("/api/v1/agents", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return dict(response.json())

    assert (await listing(world_id=first["id"]))["total"] == 5
    assert (await listing(template="resource_collector"))["total"] == 3
    assert (await listing(status="created"))["total"] == 3
    assert (await listing(status="running", world_id=second["id"]))["total"] == 0
    assert (await listing(search="c1"))["total"] == 1

    page_one = await listing(limit=3, offset=0)
    page_two = await listing(limit=3, offset=3)
    page_three = await listing(limit=3, offset=6)
    assert page_one["total"] == 8
    assert [len(p["items"]) for p in (page_one, page_two, page_three)] == [3, 3, 2]
    ids = [a["id"] for p in (page_one, page_two, page_three) for a in p["items"]]
    assert len(set(ids)) == 8

    too_many = await client.get("/api/v1/agents", params={"limit": 501}, headers=admin)
    assert too_many.status_code == 422
    assert ["query", "limit"] in error_locs(too_many)
    bad_status = await client.get("/api/v1/agents", params={"status": "dancing"}, headers=admin)
    assert bad_status.status_code == 422
    assert bad_status.json()["error"]["code"] == "validation_error"
    assert ["query", "status"] in error_locs(bad_status)


INVALID_AGENTS: list[tuple[str, Callable[[str], dict[str, Any]], list[str]]] = [
    ("start outside", lambda w: explorer(w, start=[9, 9]), ["parameters", "start"]),
    ("start on a wall", lambda w: explorer(w, start=[2, 2]), ["parameters", "start"]),
    ("negative seed", lambda w: explorer(w, seed=-1), ["parameters", "seed"]),
    ("bad selection", lambda w: explorer(w, action_selection="greedy"), ["parameters", "action_selection"]),
    ("world fields", lambda w: explorer(w, height=3), ["parameters", "height"]),
    ("policy_len zero", lambda w: explorer(w, policy_len=0), ["parameters", "policy_len"]),
    (
        "short preferences",
        lambda w: explorer(w, preferences={"location": [1.0, 2.0]}),
        ["parameters", "preferences", "location"],
    ),
    (
        "unknown modality",
        lambda w: explorer(w, preferences={"smell": [1.0]}),
        ["parameters", "preferences", "smell"],
    ),
    ("unknown template", lambda w: {"name": "x", "world_id": w, "template": "dragon"}, ["template"]),
    ("template not for grids", lambda w: {"name": "x", "world_id": w, "template": "tmaze"}, ["template"]),
    ("neither", lambda w: {"name": "x", "world_id": w}, ["template"]),
    ("unknown world", lambda w: explorer(str(uuid.uuid4())), ["world_id"]),
    ("extra field", lambda w: {**explorer(w), "colour": "red"}, ["body", "colour"]),
    ("control char in name", lambda w: {**explorer(w), "name": "a\nb"}, ["body", "name"]),
    (
        "model spec with the wrong shape",
        lambda w: {"name": "x", "world_id": w, "model_spec": {"factors": []}},
        ["model_spec"],
    ),
]


@pytest.mark.parametrize(("case", "payload", "loc"), INVALID_AGENTS, ids=[c[0] for c in INVALID_AGENTS])
async def test_invalid_agents_give_422_naming_the_problem_and_persist_nothing(
    api: tuple[httpx.AsyncClient, Any],
    auth_headers: Any,
    case: str,
    payload: Callable[[str], dict[str, Any]],
    loc: list[str],
) -> None:
    client, _ = api
    admin = await auth_headers(client, "admin")
    world = await create_world(client, admin)
    before = await _count_agents(client, admin)
    response = await client.post("/api/v1/agents", json=payload(world["id"]), headers=admin)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    locs = error_locs(response)
    assert any(found[: len(loc)] == loc for found in locs), (case, locs)
    assert await _count_agents(client, admin) == before


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_in_parameters_or_model_specs_are_refused(
    api: tuple[httpx.AsyncClient, Any], auth_headers: Any, token: str
) -> None:
    client, _ = api
    admin = await auth_headers(client, "admin")
    world = await create_world(client, admin)
    before = await _count_agents(client, admin)
    world_id = world["id"]
    spec_body = (
        f'{{"name": "x", "world_id": "{world_id}", "model_spec": {{"factors": [{{"name": "f", "states": 2}}], '
        f'"modalities": [{{"name": "o", "outcomes": 2, "A": [[{token}, 0], [0, 1]]}}]}}}}'
    )
    params_body = (
        f'{{"name": "x", "world_id": "{world_id}", "template": "grid_explorer", '
        f'"parameters": {{"goal_preference": {token}}}}}'
    )
    for raw in (spec_body, params_body):
        response = await client.post(
            "/api/v1/agents", content=raw, headers={**admin, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"], response.text
    assert await _count_agents(client, admin) == before


async def test_batch_is_all_or_nothing_and_names_the_bad_item(
    api: tuple[httpx.AsyncClient, Any], auth_headers: Any
) -> None:
    client, _ = api
    admin = await auth_headers(client, "admin")
    world = await create_world(client, admin)
    before = await _count_agents(client, admin)
    agents = [explorer(world["id"], f"ok{i}", seed=i) for i in range(4)]
    agents.insert(2, explorer(world["id"], "bad", start=[2, 3]))
    response = await client.post("/api/v1/agents/batch", json={"agents": agents}, headers=admin)
    assert response.status_code == 422, response.text
    assert ["agents", "2", "parameters", "start"] in [[str(p) for p in loc] for loc in error_locs(response)]
    assert await _count_agents(client, admin) == before

    empty = await client.post("/api/v1/agents/batch", json={"agents": []}, headers=admin)
    assert empty.status_code == 422
    assert await _count_agents(client, admin) == before

    good = await client.post(
        "/api/v1/agents/batch", json={"agents": [a for a in agents if a["name"] != "bad"]}, headers=admin
    )
    assert good.status_code == 201, good.text
    assert good.json()["created"] == 4
    assert len(set(good.json()["ids"])) == 4
    assert await _count_agents(client, admin) == before + 4
    state = await wait_for(
        lambda: client.get(f"/api/v1/worlds/{world['id']}/state", headers=admin),
        lambda r: len(r.json()["agents"]) == 4,
        what="batch agents in the live world",
    )
    assert state.json()["live"] is True


async def test_a_world_full_of_agents_refuses_more_and_persists_nothing(
    api: tuple[httpx.AsyncClient, Any], auth_headers: Any
) -> None:
    client, _ = api
    admin = await auth_headers(client, "admin")
    world = await create_world(client, admin, spec={**SMALL_WORLD, "max_agents": 3})
    agents = [explorer(world["id"], f"a{i}") for i in range(4)]
    response = await client.post("/api/v1/agents/batch", json={"agents": agents}, headers=admin)
    assert response.status_code == 422
    assert ["world_id"] in error_locs(response)
    assert await _count_agents(client, admin) == 0


async def test_a_researcher_cannot_see_or_touch_another_researchers_agent(
    api: tuple[httpx.AsyncClient, Any], auth_headers: Any
) -> None:
    client, _ = api
    alice = await auth_headers(client, "researcher")
    bob = await auth_headers(client, "researcher")
    world = await create_world(client, alice)
    created = await client.post("/api/v1/agents", json=explorer(world["id"], "alices"), headers=alice)
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]
    for method, path in (
        ("GET", ""),
        ("GET", "/status"),
        ("GET", "/beliefs"),
        ("POST", "/stop"),
        ("POST", "/restart"),
        ("DELETE", ""),
    ):
        response = await client.request(method, f"/api/v1/agents/{agent_id}{path}", headers=bob)
        assert response.status_code == 404, (method, path, response.text)
    renamed = await client.patch(f"/api/v1/agents/{agent_id}", json={"name": "mine"}, headers=bob)
    assert renamed.status_code == 404
    assert (await client.get("/api/v1/agents", headers=bob)).json()["total"] == 0
    # Bob cannot put agents into Alice's world either.
    intruder = await client.post("/api/v1/agents", json=explorer(world["id"], "bobs"), headers=bob)
    assert intruder.status_code == 422
    mine = await client.get(f"/api/v1/agents/{agent_id}", headers=alice)
    assert mine.status_code == 200
    assert mine.json()["name"] == "alices"
    assert mine.json()["status"] == "running"


async def test_an_observer_reads_but_cannot_start_stop_or_create(
    api: tuple[httpx.AsyncClient, Any], auth_headers: Any
) -> None:
    client, _ = api
    admin = await auth_headers(client, "admin")
    observer = await auth_headers(client, "observer")
    world = await create_world(client, admin)
    agent_id = (await client.post("/api/v1/agents", json=explorer(world["id"]), headers=admin)).json()["id"]
    assert (await client.get(f"/api/v1/agents/{agent_id}/status", headers=observer)).status_code == 200
    for action in ("start", "stop", "restart"):
        response = await client.post(f"/api/v1/agents/{agent_id}/{action}", headers=observer)
        assert response.status_code == 403, (action, response.text)
    assert (
        await client.post("/api/v1/agents", json=explorer(world["id"]), headers=observer)
    ).status_code == 403
    assert (await client.delete(f"/api/v1/agents/{agent_id}", headers=observer)).status_code == 403
    assert (await client.get(f"/api/v1/agents/{agent_id}", headers=admin)).json()["status"] == "running"
    assert (await client.get(f"/api/v1/agents/{agent_id}/status")).status_code == 401


async def test_system_metrics_move_when_agents_run(
    api: tuple[httpx.AsyncClient, Any], auth_headers: Any
) -> None:
    client, _ = api
    admin = await auth_headers(client, "admin")
    world = await create_world(client, admin)
    agents = [explorer(world["id"], f"m{i}", seed=i) for i in range(6)]
    agents.append({**explorer(world["id"], "idle"), "start": False})
    assert (
        await client.post("/api/v1/agents/batch", json={"agents": agents}, headers=admin)
    ).status_code == 201

    async def metrics() -> dict[str, Any]:
        response = await client.get("/api/v1/system/metrics", headers=admin)
        assert response.status_code == 200, response.text
        return dict(response.json())

    first = await wait_for(metrics, lambda m: m["agent_processing_rate"] > 0, what="processing rate > 0")
    later = await wait_for(
        metrics, lambda m: m["tick"]["count"] > first["tick"]["count"] + 3, what="tick count to grow"
    )
    assert later["runtime"]["owner"] is True
    assert later["agent_count"]["total"] == 7
    assert later["agent_count"]["by_status"]["running"] == 6
    assert later["agent_count"]["by_status"]["created"] == 1
    assert later["agent_count"]["in_runtime"] == 7
    assert later["tick"]["duration"]["p50_ms"] > 0
    assert later["response_time"]["count"] > 0
    assert later["process"]["memory_rss_bytes"] > 0
    assert set(later["thread_pools"]) >= {"engine", "io"}
    assert all(pool["size"] >= 1 for pool in later["thread_pools"].values())
    assert later["thread_pools"]["tick"]["completed"] > first["thread_pools"]["tick"]["completed"]
    assert json.dumps(later)  # plain JSON all the way down
