"""``/api/v1/agents``: create (one or many), list, read, rename, delete, start/stop/restart, status, beliefs.

Writes commit at the end of the handler (the request boundary), and only then does the runtime apply them,
so a 201 means the definition is durable.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from freeagentics.api.dependencies import ContainerDep, SessionDep
from freeagentics.api.errors import ApiError
from freeagentics.api.permissions import Permission, Principal, require
from freeagentics.api.schemas.agents import (
    AgentBatchCreate,
    AgentBatchOut,
    AgentCreate,
    AgentOut,
    AgentPage,
    AgentStatusOut,
    AgentUpdate,
    BeliefsOut,
)
from freeagentics.bootstrap import build_agent_service
from freeagentics.services.agents import AgentService, NewAgent
from freeagentics.services.runtime.records import AGENT_STATUSES, AgentFilter, AgentStatus, Page

router = APIRouter(prefix="/api/v1", tags=["agents"])

MAX_PAGE = 500


async def get_agent_service(container: ContainerDep, session: SessionDep) -> AgentService:
    return build_agent_service(container, session)


AgentServiceDep = Annotated[AgentService, Depends(get_agent_service)]
Reader = Annotated[Principal, Depends(require(Permission.AGENTS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.AGENTS_WRITE))]
BulkWriter = Annotated[Principal, Depends(require(Permission.AGENTS_WRITE, rate_class="expensive"))]
Controller = Annotated[Principal, Depends(require(Permission.AGENTS_CONTROL))]

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such agent (or not yours)"}}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid template, spec or parameters; nothing was written"}
}


def _new(body: AgentCreate) -> NewAgent:
    return NewAgent(
        name=body.name,
        world_id=body.world_id,
        template=body.template,
        model_spec=body.model_spec,
        parameters=body.parameters,
        start=body.start,
    )


@router.post("/agents", status_code=201, response_model=AgentOut, responses=INVALID)
async def create_agent(
    body: AgentCreate, principal: Writer, service: AgentServiceDep, session: SessionDep
) -> AgentOut:
    """Create one agent from a template or a model spec, in a world."""
    [record] = await service.create_agents(principal, [_new(body)])
    await session.commit()
    await service.applied()
    return AgentOut.of(record)


@router.post("/agents/batch", status_code=201, response_model=AgentBatchOut, responses=INVALID)
async def create_agents(
    body: AgentBatchCreate, principal: BulkWriter, service: AgentServiceDep, session: SessionDep
) -> AgentBatchOut:
    """Create up to 10,000 agents at once: all valid and written, or none."""
    records = await service.create_agents(principal, [_new(item) for item in body.agents])
    await session.commit()
    await service.applied()
    return AgentBatchOut(created=len(records), ids=[r.id for r in records])


@router.get("/agents", response_model=AgentPage)
async def list_agents(
    principal: Reader,
    service: AgentServiceDep,
    status: Annotated[AgentStatus | None, Query(description=f"One of {', '.join(AGENT_STATUSES)}")] = None,
    world_id: uuid.UUID | None = None,
    template: Annotated[str | None, Query(max_length=64)] = None,
    search: Annotated[str | None, Query(max_length=128, description="Part of the name")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AgentPage:
    records, total = await service.list(
        principal,
        AgentFilter(status=status, world_id=world_id, template=template, name_contains=search),
        Page(limit=limit, offset=offset),
    )
    return AgentPage(items=[AgentOut.of(r) for r in records], total=total, limit=limit, offset=offset)


@router.get("/agents/{agent_id}", response_model=AgentOut, responses=NOT_FOUND)
async def get_agent(agent_id: uuid.UUID, principal: Reader, service: AgentServiceDep) -> AgentOut:
    return AgentOut.of(await service.get(principal, agent_id))


@router.patch("/agents/{agent_id}", response_model=AgentOut, responses=NOT_FOUND)
async def update_agent(
    agent_id: uuid.UUID, body: AgentUpdate, principal: Writer, service: AgentServiceDep, session: SessionDep
) -> AgentOut:
    record = await service.rename(principal, agent_id, body.name)
    await session.commit()
    return AgentOut.of(record)


@router.delete("/agents/{agent_id}", status_code=204, responses=NOT_FOUND)
async def delete_agent(
    agent_id: uuid.UUID, principal: Writer, service: AgentServiceDep, session: SessionDep
) -> Response:
    await service.delete(principal, agent_id)
    await session.commit()
    await service.applied()
    return Response(status_code=204)


async def _control(
    action: str, agent_id: uuid.UUID, principal: Principal, service: AgentService, session: SessionDep
) -> AgentStatusOut:
    await service.set_status(principal, agent_id, action)
    await session.commit()
    await service.applied()
    return AgentStatusOut.of(await service.status(principal, agent_id))


@router.post("/agents/{agent_id}/start", response_model=AgentStatusOut, responses=NOT_FOUND)
async def start_agent(
    agent_id: uuid.UUID, principal: Controller, service: AgentServiceDep, session: SessionDep
) -> AgentStatusOut:
    return await _control("start", agent_id, principal, service, session)


@router.post("/agents/{agent_id}/stop", response_model=AgentStatusOut, responses=NOT_FOUND)
async def stop_agent(
    agent_id: uuid.UUID, principal: Controller, service: AgentServiceDep, session: SessionDep
) -> AgentStatusOut:
    return await _control("stop", agent_id, principal, service, session)


@router.post("/agents/{agent_id}/restart", response_model=AgentStatusOut, responses=NOT_FOUND)
async def restart_agent(
    agent_id: uuid.UUID, principal: Controller, service: AgentServiceDep, session: SessionDep
) -> AgentStatusOut:
    """Beliefs back to the priors (learned counts kept), then running."""
    return await _control("restart", agent_id, principal, service, session)


@router.get("/agents/{agent_id}/status", response_model=AgentStatusOut, responses=NOT_FOUND)
async def agent_status(agent_id: uuid.UUID, principal: Reader, service: AgentServiceDep) -> AgentStatusOut:
    """State, ticks, last action, position, belief entropy, free energy and last error."""
    return AgentStatusOut.of(await service.status(principal, agent_id))


@router.get(
    "/agents/{agent_id}/beliefs",
    response_model=BeliefsOut,
    responses={**NOT_FOUND, 409: {"description": "Not live in this process (runtime owned elsewhere)"}},
)
async def agent_beliefs(agent_id: uuid.UUID, principal: Reader, service: AgentServiceDep) -> BeliefsOut:
    """Posterior per hidden-state factor, the policy posterior and the free energy."""
    view = await service.beliefs(principal, agent_id)
    if view is None:
        raise ApiError(409, "not_live", "the agent is not in this process's running runtime")
    return BeliefsOut.of(view)
