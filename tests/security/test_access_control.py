"""RBAC and ownership on the real routes: IDOR across researchers answers 404 exactly like a missing id,
roles are enforced with an ``access_denied`` record, and callers can never assign owners or roles."""

from __future__ import annotations

import uuid

import pytest
from tests.conftest import TEST_PASSWORD, create_test_user
from tests.security.conftest import audit_records, config_dir_with, rate_limits
from tests.services.runtime.runtime_api_helpers import create_world, explorer

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(pg_redis_settings, tmp_path):
    return pg_redis_settings(config_dir=config_dir_with(tmp_path / "config", rate_limiting=rate_limits()))


def _without_request_id(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "request_id"}


async def test_idor_across_two_researchers_answers_404_like_a_missing_id(
    settings, app_client, auth_headers
) -> None:
    async with app_client(settings) as (client, _app):
        alice = await auth_headers(client, "researcher", username="alice")
        bob = await auth_headers(client, "researcher", username="bob")
        world = await create_world(client, alice)
        created = await client.post(
            "/api/v1/agents", json=explorer(world["id"], "alices", seed=1), headers=alice
        )
        assert created.status_code == 201, created.text
        agent_id = created.json()["id"]
        missing = str(uuid.uuid4())

        requests = [
            ("GET", "/api/v1/agents/{}", None),
            ("GET", "/api/v1/agents/{}/status", None),
            ("PATCH", "/api/v1/agents/{}", {"name": "stolen"}),
            ("POST", "/api/v1/agents/{}/restart", None),
            ("POST", "/api/v1/agents/{}/stop", None),
            ("DELETE", "/api/v1/agents/{}", None),
        ]
        for method, template, body in requests:
            theirs = await client.request(method, template.format(agent_id), json=body, headers=bob)
            nothing = await client.request(method, template.format(missing), json=body, headers=bob)
            assert theirs.status_code == 404, (method, template, theirs.text)
            assert nothing.status_code == 404
            assert _without_request_id(theirs.json()) == _without_request_id(nothing.json())

        world_theirs = await client.get(f"/api/v1/worlds/{world['id']}", headers=bob)
        world_missing = await client.get(f"/api/v1/worlds/{missing}", headers=bob)
        assert world_theirs.status_code == world_missing.status_code == 404
        assert _without_request_id(world_theirs.json()) == _without_request_id(world_missing.json())
        # Listings show only one's own rows.
        assert (await client.get("/api/v1/agents", headers=bob)).json()["total"] == 0
        assert (await client.get("/api/v1/agents", headers=alice)).json()["total"] == 1
        # Bob cannot put an agent into Alice's world either: answered like a world that does not exist.
        intruder = await client.post("/api/v1/agents", json=explorer(world["id"], "mine"), headers=bob)
        nowhere = await client.post("/api/v1/agents", json=explorer(missing, "mine"), headers=bob)
        assert intruder.status_code == nowhere.status_code
        assert intruder.status_code in (404, 422)
        assert intruder.json()["error"]["code"] == nowhere.json()["error"]["code"]
        # Alice's agent is untouched.
        still = await client.get(f"/api/v1/agents/{agent_id}", headers=alice)
        assert still.status_code == 200
        assert still.json()["name"] == "alices"
    assert {record["user"] for record in audit_records(settings, "login_success")} >= {"alice", "bob"}


async def test_roles_are_enforced_with_access_denied_records(settings, app_client, auth_headers) -> None:
    async with app_client(settings) as (client, _app):
        admin = await auth_headers(client, "admin")
        observer = await auth_headers(client, "observer", username="olivia")
        operator = await auth_headers(client, "operator", username="oscar")
        world = await create_world(client, admin)
        agent = (
            await client.post("/api/v1/agents", json=explorer(world["id"], seed=2), headers=admin)
        ).json()

        assert (await client.get(f"/api/v1/agents/{agent['id']}", headers=observer)).status_code == 200
        denied = await client.post(f"/api/v1/agents/{agent['id']}/restart", headers=observer)
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "forbidden"
        assert (
            await client.post("/api/v1/worlds", json={"name": "x", "spec": {}}, headers=observer)
        ).status_code == 403

        assert (
            await client.post(f"/api/v1/agents/{agent['id']}/restart", headers=operator)
        ).status_code == 200
        assert (await client.get("/api/v1/users", headers=operator)).status_code == 403
        assert (await client.get("/api/v1/security/keys", headers=operator)).status_code == 403
        assert (await client.get("/api/v1/security/blocks", headers=operator)).status_code == 200
        assert (await client.get("/api/v1/users", headers=admin)).status_code == 200
        assert (await client.get("/api/v1/security/keys", headers=admin)).status_code == 200
    denials = audit_records(settings, "access_denied")
    assert {(record["user"], record["permission"], record["route"]) for record in denials} == {
        ("olivia", "agents:control", "/api/v1/agents/{agent_id}/restart"),
        ("olivia", "worlds:write", "/api/v1/worlds"),
        ("oscar", "users:manage", "/api/v1/users"),
        ("oscar", "keys:manage", "/api/v1/security/keys"),
    }
    assert all(record["client_ip"] for record in denials)


async def test_mass_assignment_of_owner_or_role_is_refused(settings, app_client, auth_headers) -> None:
    async with app_client(settings) as (client, app):
        admin = await auth_headers(client, "admin")
        researcher = await auth_headers(client, "researcher", username="rosa")
        other = await create_test_user(app, "researcher", "victim")
        world = await create_world(client, researcher)
        body = {**explorer(world["id"], "x"), "owner_id": str(other.id)}
        response = await client.post("/api/v1/agents", json=body, headers=researcher)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["type"] == "extra_forbidden"
        world_body = {"name": "w", "spec": {"height": 3, "width": 3}, "owner_id": str(other.id)}
        assert (await client.post("/api/v1/worlds", json=world_body, headers=researcher)).status_code == 422
        # A user may not be created active-by-fiat or with extra fields, and a role change takes only a role.
        user_body = {"username": "eve", "password": TEST_PASSWORD, "role": "observer", "is_active": True}
        assert (await client.post("/api/v1/users", json=user_body, headers=admin)).status_code == 422
        role_body = {"role": "admin", "token_version": 0}
        assert (
            await client.put(f"/api/v1/users/{other.id}/role", json=role_body, headers=admin)
        ).status_code == 422
        # Self-registration is off by default; and the role can never be chosen by the caller.
        register = {"username": "eve", "password": TEST_PASSWORD}
        off = await client.post("/api/v1/auth/register", json=register)
        assert off.status_code == 403
        assert off.json()["error"]["code"] == "registration_disabled"
        chosen = await client.post("/api/v1/auth/register", json={**register, "role": "admin"})
        assert chosen.status_code == 422
        listed = (await client.get("/api/v1/users", headers=admin)).json()["items"]
        assert "eve" not in {user["username"] for user in listed}
    rejected = audit_records(settings, "input_rejected")
    assert len(rejected) == 5
    assert {record["route"] for record in rejected} >= {
        "/api/v1/agents",
        "/api/v1/worlds",
        "/api/v1/auth/register",
    }


async def test_self_registration_yields_the_configured_role_only(
    pg_redis_settings, app_client, tmp_path
) -> None:
    policy = "registration:\n  enabled: true\n  default_role: researcher\npassword:\n  min_length: 12\n"
    config = config_dir_with(tmp_path / "config", rate_limiting=rate_limits(), security_policies=policy)
    settings = pg_redis_settings(config_dir=config)
    async with app_client(settings) as (client, _app):
        created = await client.post(
            "/api/v1/auth/register", json={"username": "newbie", "password": TEST_PASSWORD}
        )
        assert created.status_code == 201, created.text
        assert created.json()["role"] == "researcher"
        short = await client.post("/api/v1/auth/register", json={"username": "shorty", "password": "short"})
        assert short.status_code == 422
        again = await client.post(
            "/api/v1/auth/register", json={"username": "NEWBIE", "password": TEST_PASSWORD}
        )
        assert again.status_code == 409
    created_records = audit_records(settings, "user_created")
    assert [(record["target"], record["role"]) for record in created_records] == [("newbie", "researcher")]
