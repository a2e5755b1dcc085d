"""Send the API's one error shape from pure ASGI middleware (which runs outside FastAPI's handlers)."""

from __future__ import annotations

import json

from starlette.types import Scope, Send


async def send_json_error(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    state = scope.get("state") or {}
    body = json.dumps(
        {"error": {"code": code, "message": message}, "request_id": state.get("request_id")}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
