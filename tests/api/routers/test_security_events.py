"""``GET /api/v1/security/events``: the recent audit records for roles with security:read."""

from __future__ import annotations


async def test_recent_security_events_newest_first_for_admins_only(
    settings_env, app_client, auth_headers
) -> None:
    async with app_client(settings_env()) as (client, _app):
        admin = await auth_headers(client, "admin", username="root-admin")
        observer = await auth_headers(client, "observer", username="watcher")
        for _ in range(3):
            failed = await client.post(
                "/api/v1/auth/login", json={"username": "watcher", "password": "wrong-password-1"}
            )
            assert failed.status_code == 401
        assert (await client.get("/api/v1/security/events", headers=observer)).status_code == 403

        response = await client.get("/api/v1/security/events?limit=50", headers=admin)
        assert response.status_code == 200
        events = response.json()
        failures = [e for e in events if e["event"] == "authentication_failed"]
        assert len(failures) >= 3
        times = [e["time"] for e in events]
        assert times == sorted(times, reverse=True)
        assert all("wrong-password-1" not in str(e) for e in events)

        only = (
            await client.get("/api/v1/security/events?event=authentication_failed&limit=2", headers=admin)
        ).json()
        assert len(only) == 2
        assert {e["event"] for e in only} == {"authentication_failed"}
        assert (
            await client.get("/api/v1/security/events?event=bad%20name", headers=admin)
        ).status_code == 422
