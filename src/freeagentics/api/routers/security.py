"""``/api/v1/security``: recent audit events, blocked client addresses (list, block, lift), signing keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from freeagentics.api.dependencies import ContainerDep, SessionDep
from freeagentics.api.errors import ApiError
from freeagentics.api.permissions import Permission, Principal, require
from freeagentics.infra.db.repositories.security import BlockedIpRepository
from freeagentics.infra.log_reader import tail_records

router = APIRouter(prefix="/api/v1/security", tags=["security"])


class BlockOut(BaseModel):
    ip: str
    blocked_until: dt.datetime
    reason: str


class BlockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    ip: Annotated[str, Field(max_length=45)]
    seconds: Annotated[float, Field(gt=0, le=30 * 86_400)]
    reason: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]

    @field_validator("ip")
    @classmethod
    def _an_address(cls, value: str) -> str:
        return str(ipaddress.ip_address(value))


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@router.get("/events", summary="Recent security audit events, newest first")
async def list_events(
    principal: Annotated[Principal, Depends(require(Permission.SECURITY_READ))],
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    event: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
) -> list[dict[str, Any]]:
    """The tail of ``security_audit.log`` (the records are already sanitised: no tokens, no passwords)."""
    scan_limit = limit if event is None else 5_000
    records = await asyncio.to_thread(
        tail_records, container.settings.log_dir, "security_audit.log", scan_limit
    )
    if event is not None:
        records = [r for r in records if r.get("event") == event]
    return records[:limit]


@router.get("/blocks", summary="Client addresses blocked now")
async def list_blocks(
    principal: Annotated[Principal, Depends(require(Permission.SECURITY_READ))], session: SessionDep
) -> list[BlockOut]:
    rows = await BlockedIpRepository(session).active(dt.datetime.now(dt.UTC))
    return [BlockOut(ip=ip, blocked_until=_utc(until), reason=reason) for ip, until, reason in rows]


@router.post("/blocks", status_code=201, summary="Block a client address for a time")
async def block(
    body: BlockRequest,
    principal: Annotated[Principal, Depends(require(Permission.SECURITY_MANAGE))],
    container: ContainerDep,
) -> BlockOut:
    await container.security.ip_blocks.block(body.ip, body.seconds, body.reason)
    container.security.audit.record(
        "ip_blocked",
        reason=body.reason,
        user=principal.username,
        target_ip=body.ip,
        block_seconds=body.seconds,
    )
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=body.seconds)
    return BlockOut(ip=body.ip, blocked_until=until, reason=body.reason)


@router.delete("/blocks/{ip}", status_code=204, summary="Lift a block")
async def lift_block(
    ip: str,
    principal: Annotated[Principal, Depends(require(Permission.SECURITY_MANAGE))],
    container: ContainerDep,
    session: SessionDep,
) -> Response:
    try:
        address = str(ipaddress.ip_address(ip))
    except ValueError:
        raise ApiError(404, "not_found", "No such block") from None
    if not await container.security.ip_blocks.lift(address, session):
        raise ApiError(404, "not_found", "No such block")
    container.security.audit.record(
        "ip_unblocked", reason="lifted by an administrator", user=principal.username, target_ip=address
    )
    return Response(status_code=204)


@router.get("/keys", summary="Signing key ids (newest signs; all verify)")
async def list_keys(
    principal: Annotated[Principal, Depends(require(Permission.KEYS_MANAGE))], container: ContainerDep
) -> dict[str, object]:
    keys = container.security.keys
    return {"signing_kid": keys.signing_key().kid, "kids": keys.kids}
