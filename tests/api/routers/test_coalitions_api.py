"""Objectives and coalitions through the API, with the runtime stepping agents in-process.

The end-to-end case: a coalition forms, its members walk to the objective under their own active
inference (only their preferences were changed), and the objective completes with its value credited.
"""

from __future__ import annotations

import asyncio
import time

import pytest

WORLD = {
    "height": 6,
    "width": 6,
    "walls": [[2, 2], [2, 3]],
    "goals": [[5, 5]],
    "resources": [{"cell": [0, 5], "amount": 2}],
}


def _manual_formation_only(settings):
    """Periodic formation off, so each test decides when coalitions form."""
    settings.config_dir.mkdir(parents=True, exist_ok=True)
    (settings.config_dir / "agent_config.yaml").write_text("coalition_formation_interval_seconds: 0\n")
    return settings


async def _world_with_agents(client, headers, count=3, capabilities=None):
    response = await client.post(
        "/api/v1/worlds", json={"name": "w", "spec": WORLD, "seed": 3}, headers=headers
    )
    assert response.status_code == 201, response.text
    world_id = response.json()["id"]
    agents = [
        {
            "name": f"a{i}",
            "world_id": world_id,
            "template": "grid_explorer",
            "parameters": {
                "start": [5, i],
                "goal": [5, 5],
                "action_selection": "deterministic",
                "capabilities": capabilities or {"explore": 1},
            },
        }
        for i in range(count)
    ]
    response = await client.post("/api/v1/agents/batch", json={"agents": agents}, headers=headers)
    assert response.status_code == 201, response.text
    return world_id, response.json()["ids"]


async def _cell_objective(client, headers, world_id, *, cell, explore, value):
    """POST a one-cell objective needing ``explore`` units; the response, unchecked."""
    return await client.post(
        "/api/v1/objectives",
        json={
            "world_id": world_id,
            "name": "o",
            "region": {"cell": cell},
            "required": {"explore": explore},
            "value": value,
        },
        headers=headers,
    )


async def _until(predicate, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached before the deadline")


async def test_a_coalition_walks_to_its_objective_and_completes(
    settings_env, app_client, auth_headers
) -> None:
    settings = _manual_formation_only(settings_env())
    async with app_client(settings) as (client, _app):
        headers = await auth_headers(client, "researcher")
        world_id, agent_ids = await _world_with_agents(client, headers)
        objective = await client.post(
            "/api/v1/objectives",
            json={
                "world_id": world_id,
                "name": "top-left",
                "region": {"top": 0, "left": 0, "bottom": 1, "right": 1},
                "required": {"explore": 2},
                "value": 12.5,
                "priority": 2,
            },
            headers=headers,
        )
        assert objective.status_code == 201, objective.text
        objective_id = objective.json()["id"]

        formed = await client.post(
            "/api/v1/coalitions/form", json={"world_id": world_id, "algorithm": "exact"}, headers=headers
        )
        assert formed.status_code == 200, formed.text
        result = formed.json()
        assert result["algorithm"] == "exact"
        assert len(result["coalitions"]) == 1
        coalition = result["coalitions"][0]
        assert len(coalition["members"]) == 2
        assert set(coalition["members"]) <= set(agent_ids)
        assert result["upper_bound"] == pytest.approx(result["value"])
        assert result["duration_ms"] >= 0

        async def completed():
            response = await client.get(f"/api/v1/objectives/{objective_id}", headers=headers)
            return response.json() if response.json()["status"] == "completed" else None

        done = await _until(completed)
        assert done["value_credited"] == pytest.approx(25.0)
        finished = (await client.get(f"/api/v1/coalitions/{coalition['id']}", headers=headers)).json()
        assert finished["state"] == "completed"
    # Completion is judged from the members' live positions; once released they head home again, so the
    # record of membership is the agents log (one line per join and per leave, greppable by agent id).
    log = (settings.log_dir / "agents.log").read_text()
    for member in coalition["members"]:
        assert f"coalition_joined agent_id:{member}" in log
        assert f"coalition_left agent_id:{member}" in log


async def test_an_agent_is_never_in_two_live_coalitions(settings_env, app_client, auth_headers) -> None:
    async with app_client(_manual_formation_only(settings_env())) as (client, _app):
        headers = await auth_headers(client, "researcher")
        world_id, _ = await _world_with_agents(client, headers, count=2)
        for corner in ([0, 0], [0, 5]):
            response = await _cell_objective(client, headers, world_id, cell=corner, explore=2, value=5)
            assert response.status_code == 201
        first = await client.post(
            "/api/v1/coalitions/form", json={"world_id": world_id, "algorithm": "scalable"}, headers=headers
        )
        assert first.status_code == 200, first.text
        assert len(first.json()["coalitions"]) == 1
        second = await client.post(
            "/api/v1/coalitions/form", json={"world_id": world_id, "algorithm": "scalable"}, headers=headers
        )
        assert second.status_code == 200
        assert second.json()["coalitions"] == []
        live = (await client.get(f"/api/v1/coalitions?world_id={world_id}", headers=headers)).json()["items"]
        members = [m for c in live if c["state"] in ("forming", "active") for m in c["members"]]
        assert len(members) == len(set(members))

        dissolved = await client.post(f"/api/v1/coalitions/{live[0]['id']}/dissolve", headers=headers)
        assert dissolved.status_code == 200
        assert dissolved.json()["state"] == "dissolved"
        again = await client.post("/api/v1/coalitions/form", json={"world_id": world_id}, headers=headers)
        assert len(again.json()["coalitions"]) == 1


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"region": {"cell": [9, 9]}}, "region"),
        ({"region": {"top": 3, "left": 0, "bottom": 1, "right": 0}}, "region"),
        ({"required": {}}, "required"),
        ({"required": {"explore": 0}}, "required"),
        ({"required": {"not an identifier": 1}}, "required"),
        ({"value": -1}, "value"),
        ({"priority": 0}, "priority"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_invalid_objectives_are_422_and_nothing_is_written(
    settings_env, app_client, auth_headers, body, where
) -> None:
    async with app_client(_manual_formation_only(settings_env())) as (client, _app):
        headers = await auth_headers(client, "researcher")
        world_id, _ = await _world_with_agents(client, headers, count=1)
        payload = {
            "world_id": world_id,
            "name": "o",
            "region": {"cell": [0, 0]},
            "required": {"explore": 1},
            "value": 1,
        }
        payload.update(body)
        response = await client.post("/api/v1/objectives", json=payload, headers=headers)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert any(where in [str(part) for part in detail["loc"]] for detail in error["details"]), error
        listed = await client.get(f"/api/v1/objectives?world_id={world_id}", headers=headers)
        assert listed.json()["total"] == 0


async def test_objectives_follow_ownership_and_roles(settings_env, app_client, auth_headers) -> None:
    async with app_client(_manual_formation_only(settings_env())) as (client, _app):
        alice = await auth_headers(client, "researcher", username="alice")
        bob = await auth_headers(client, "researcher", username="bob")
        observer = await auth_headers(client, "observer", username="olga")
        world_id, _ = await _world_with_agents(client, alice, count=1)
        created = await _cell_objective(client, alice, world_id, cell=[0, 0], explore=1, value=1)
        objective_id = created.json()["id"]
        assert (await client.get(f"/api/v1/objectives/{objective_id}", headers=bob)).status_code == 404
        assert (await client.get(f"/api/v1/objectives/{objective_id}", headers=observer)).status_code == 200
        refused = await client.post("/api/v1/coalitions/form", json={"world_id": world_id}, headers=observer)
        assert refused.status_code == 403
        other_world = await client.post("/api/v1/coalitions/form", json={"world_id": world_id}, headers=bob)
        assert other_world.status_code == 404
        patched = await client.patch(f"/api/v1/objectives/{objective_id}", json={"value": 7}, headers=alice)
        assert patched.json()["value"] == 7
        assert (await client.delete(f"/api/v1/objectives/{objective_id}", headers=alice)).status_code == 204
        assert (await client.get(f"/api/v1/objectives/{objective_id}", headers=alice)).status_code == 404


async def test_coalitions_form_periodically_for_open_objectives(
    settings_env, app_client, auth_headers
) -> None:
    settings = settings_env()
    settings.config_dir.mkdir(parents=True, exist_ok=True)
    (settings.config_dir / "agent_config.yaml").write_text("coalition_formation_interval_seconds: 0.5\n")
    async with app_client(settings) as (client, _app):
        headers = await auth_headers(client, "researcher")
        world_id, _ = await _world_with_agents(client, headers, count=2)
        created = await _cell_objective(client, headers, world_id, cell=[0, 0], explore=1, value=3)
        objective_id = created.json()["id"]

        async def formed():
            items = (await client.get(f"/api/v1/coalitions?world_id={world_id}", headers=headers)).json()[
                "items"
            ]
            return items or None

        coalitions = await _until(formed)
        assert coalitions[0]["objective_id"] == objective_id
        assert coalitions[0]["algorithm"] == "scalable"
