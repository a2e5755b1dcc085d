"""/api/v1/ws over a real socket (uvicorn in the test's event loop): updates, auth, slow consumers."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tests.conftest import TEST_PASSWORD, create_test_user, free_port
from tests.services.runtime.runtime_api_helpers import FAST_ARGON2, wait_for, write_config_dir
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from freeagentics.services.live import QUEUE_LIMIT, Subscription

pytestmark = pytest.mark.integration


class LiveServer:
    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.http = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/api/v1/ws"

    async def token(self, role: str = "admin") -> str:
        user = await create_test_user(self.app, role)
        async with httpx.AsyncClient(base_url=self.http) as client:
            response = await client.post(
                "/api/v1/auth/login", json={"username": user.username, "password": TEST_PASSWORD}
            )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def world_with_agents(self, token: str, count: int, spec: dict[str, Any]) -> tuple[str, list[str]]:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=self.http, headers=headers, timeout=60) as client:
            world = await client.post("/api/v1/worlds", json={"name": "live", "spec": spec})
            assert world.status_code == 201, world.text
            world_id = world.json()["id"]
            agents = [
                {
                    "name": f"a{i}",
                    "world_id": world_id,
                    "template": "grid_explorer",
                    "parameters": {"seed": i},
                }
                for i in range(count)
            ]
            created = await client.post("/api/v1/agents/batch", json={"agents": agents})
            assert created.status_code == 201, created.text
        return world_id, [str(a) for a in created.json()["ids"]]


@pytest.fixture
async def live_server(settings_env: Callable[..., Any], tmp_path: Path) -> AsyncIterator[LiveServer]:
    from freeagentics.api.app import create_app
    from freeagentics.bootstrap import configure_process

    settings = settings_env(**FAST_ARGON2, config_dir=write_config_dir(tmp_path / "config", tick_rate_hz=20))
    configure_process(settings)
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="on", log_config=None, ws="websockets-sansio"
        )  # as `freeagentics serve` runs it
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started or task.done()

    await wait_for(started, bool, what="uvicorn to start")
    assert not task.done(), "uvicorn exited during start-up"
    yield LiveServer(app, port)
    server.should_exit = True
    await asyncio.wait_for(task, 30)


def _protocols(token: str) -> list[Any]:
    return ["freeagentics.v1", f"bearer.{token}"]


SPEC = {"height": 5, "width": 5, "walls": [[2, 2]], "resources": [], "goals": [[4, 4]]}


async def test_a_subscriber_gets_members_then_tick_updates(live_server: LiveServer) -> None:
    token = await live_server.token("observer")
    admin = await live_server.token("admin")
    world_id, ids = await live_server.world_with_agents(admin, 12, SPEC)
    async with connect(live_server.ws, subprotocols=_protocols(token), open_timeout=10) as ws:
        assert ws.subprotocol == "freeagentics.v1"
        await ws.send(json.dumps({"subscribe": {"world_id": world_id}}))
        members = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert members["type"] == "members"
        assert members["world_id"] == world_id
        assert sorted(members["agent_ids"]) == sorted(ids)
        ticks = []
        while len(ticks) < 3:
            message = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if message["type"] == "tick":
                ticks.append(message)
        assert [t["tick"] for t in ticks] == sorted({t["tick"] for t in ticks}), "ticks only move forward"
        for tick in ticks:
            assert len(tick["rows"]) == len(tick["cols"]) == len(ids)
            assert all(0 <= r < 5 for r in tick["rows"])
            assert tick["running"] == [1] * len(ids)

        await ws.send(json.dumps({"ignored": True}))  # the server keeps reading; nothing breaks


async def test_an_agent_subscription_gets_agent_figures(live_server: LiveServer) -> None:
    token = await live_server.token("admin")
    world_id, ids = await live_server.world_with_agents(token, 4, SPEC)
    async with connect(live_server.ws, subprotocols=_protocols(token), open_timeout=10) as ws:
        await ws.send(json.dumps({"subscribe": {"world_id": world_id, "agent_ids": ids[:2]}}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if message["type"] == "agents":
                break
        assert sorted(a["id"] for a in message["agents"]) == sorted(ids[:2])
        assert all(a["running"] for a in message["agents"])


@pytest.mark.parametrize("token", [None, "not-a-token"])
async def test_the_handshake_is_refused_without_a_valid_token(
    live_server: LiveServer, token: str | None
) -> None:
    protocols: list[Any] = ["freeagentics.v1"] + ([f"bearer.{token}"] if token else [])

    async def subscribe_without_credentials() -> None:
        async with connect(live_server.ws, subprotocols=protocols, open_timeout=10) as ws:
            await ws.send(json.dumps({"subscribe": {"world_id": str(uuid.uuid4())}}))
            await asyncio.wait_for(ws.recv(), 10)

    with pytest.raises((InvalidStatus, ConnectionClosed)) as refused:
        await subscribe_without_credentials()
    if isinstance(refused.value, InvalidStatus):
        assert refused.value.response.status_code in (401, 403)
    else:
        assert refused.value.rcvd is not None
        assert refused.value.rcvd.code in (4401, 1008)


async def test_a_bad_subscription_is_closed_with_1003(live_server: LiveServer) -> None:
    token = await live_server.token("admin")
    async with connect(live_server.ws, subprotocols=_protocols(token), open_timeout=10) as ws:
        await ws.send("{not json")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1003


async def test_a_consumer_that_never_reads_is_closed_with_1013(live_server: LiveServer) -> None:
    admin = await live_server.token("admin")
    world_id, ids = await live_server.world_with_agents(admin, 1000, SPEC)
    hub = live_server.app.state.live_hub
    subscriptions: list[Subscription] = []
    subscribe = hub.subscribe

    def recording(subscription: Subscription) -> None:
        subscriptions.append(subscription)
        subscribe(subscription)

    hub.subscribe = recording
    # A tiny kernel receive buffer and a one-message client queue: the client stops reading at once, so
    # the server's socket backs up and the subscription's bounded queue fills.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(live_server.http.rsplit(":", 1)[1])))
    async with connect(
        live_server.ws, sock=sock, subprotocols=_protocols(admin), open_timeout=10, max_queue=1, max_size=None
    ) as ws:
        # Subscribing to agents makes every message about 150 KB.
        await ws.send(json.dumps({"subscribe": {"world_id": world_id, "agent_ids": ids}}))

        async def dropped() -> bool:
            return bool(subscriptions) and subscriptions[0] not in hub._subscriptions

        await wait_for(dropped, bool, timeout_s=60, what="the hub to drop the slow consumer")
        subscription = subscriptions[0]
        assert subscription.slow.is_set()
        assert subscription.dropped_messages > 0
        assert subscription.queue.qsize() <= QUEUE_LIMIT

        # Now read what the kernel buffered: the stream ends with the server's close, code 1013.
        async def read_to_the_end() -> None:
            while True:
                await asyncio.wait_for(ws.recv(), 30)

        with pytest.raises(ConnectionClosed) as closed:
            await read_to_the_end()
    assert closed.value.rcvd is not None, "the server closed without a close frame"
    assert closed.value.rcvd.code == 1013
