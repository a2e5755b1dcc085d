"""``/api/v1/ws``: live world and agent updates over a WebSocket.

Authenticate at the handshake with the subprotocols ``freeagentics.v1, bearer.<access token>``. Then send
``{"subscribe": {"world_id": "...", "agent_ids": [...optional...], "max_hz": 10}}``. The server sends a
``members`` message (agent ids in order) whenever the world's membership changes, then ``tick`` messages
(positions as flat lists in that order) or ``agents`` messages for a subscription to given agents.

A client that stops reading is disconnected with close code 1013 once its small buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from freeagentics.api.permissions import (
    WEBSOCKET_SUBPROTOCOL,
    Permission,
    WebSocketPrincipal,
    guard_websocket,
    require_ws,
)
from freeagentics.bootstrap import Container
from freeagentics.services.live import Subscription

router = APIRouter(prefix="/api/v1", tags=["live"])

CLOSE_SLOW_CONSUMER = 1013
CLOSE_BAD_REQUEST = 1003
MAX_CLIENT_MESSAGE = 64 * 1024
SLOW_CLOSE_SECONDS = 30.0


async def _read_subscription(websocket: WebSocket, default_hz: float) -> Subscription | None:
    raw = await websocket.receive_text()
    if len(raw) > MAX_CLIENT_MESSAGE:
        return None
    try:
        message = json.loads(raw)
        request = message["subscribe"]
        world_id = uuid.UUID(str(request["world_id"]))
        agent_ids = request.get("agent_ids")
        ids = frozenset(uuid.UUID(str(a)) for a in agent_ids[:1000]) if agent_ids else None
        max_hz = float(request.get("max_hz", default_hz))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not 0 < max_hz <= default_hz:
        max_hz = default_hz
    return Subscription(world_id=world_id, max_hz=max_hz, agent_ids=ids)


@router.websocket("/ws")
async def live(
    websocket: WebSocket, who: Annotated[WebSocketPrincipal, Depends(require_ws(Permission.AGENTS_READ))]
) -> None:
    container: Container = websocket.app.state.container
    await websocket.accept(subprotocol=WEBSOCKET_SUBPROTOCOL)
    hub = websocket.app.state.live_hub
    async with guard_websocket(websocket, who):
        try:
            subscription = await _read_subscription(
                websocket, 1.0 / container.supervisor.options.period_seconds
            )
        except WebSocketDisconnect:
            return
        if subscription is None:
            await websocket.close(CLOSE_BAD_REQUEST, 'expected {"subscribe": {"world_id": ...}}')
            return
        hub.subscribe(subscription)
        try:
            slow = await _pump(websocket, subscription)
        finally:
            hub.unsubscribe(subscription)
        if slow:
            await _close_slow_consumer(websocket)


async def _close_slow_consumer(websocket: WebSocket) -> None:
    """Send 1013 once the client's socket takes data again; give up after ``SLOW_CLOSE_SECONDS``.

    The server cannot queue a close frame while the socket is backed up (ASGI sends wait for it), so a short
    timeout would drop every slow client without its close code. Nothing new is buffered meanwhile: the
    subscription has already left the hub.
    """
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(CLOSE_SLOW_CONSUMER, "slow consumer"), SLOW_CLOSE_SECONDS)


async def _pump(websocket: WebSocket, subscription: Subscription) -> bool:
    """Forward the subscription's messages until the client leaves or falls behind (returns True)."""

    async def send_all() -> None:
        while True:
            await websocket.send_text(await subscription.queue.get())

    async def drain_incoming() -> None:
        # Reading keeps the connection's close handshake working; clients have nothing more to say.
        while True:
            await websocket.receive_text()

    sender = asyncio.create_task(send_all())
    reader = asyncio.create_task(drain_incoming())
    slow = asyncio.create_task(subscription.slow.wait())
    try:
        done, _ = await asyncio.wait({sender, reader, slow}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, reader, slow):
            task.cancel()
    return slow in done
