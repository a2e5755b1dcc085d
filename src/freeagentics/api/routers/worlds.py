"""``/api/v1/worlds`` and ``/api/v1/templates``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from freeagentics.api.dependencies import SessionDep
from freeagentics.api.permissions import Permission, Principal, require
from freeagentics.api.routers.agents import AgentServiceDep
from freeagentics.api.schemas.agents import WorldAgentState, WorldCreate, WorldOut, WorldPage, WorldStateOut
from freeagentics.domain.models import describe_templates
from freeagentics.services.runtime.catalog import RUNNABLE_TEMPLATES
from freeagentics.services.runtime.records import Page

router = APIRouter(prefix="/api/v1", tags=["worlds"])

Reader = Annotated[Principal, Depends(require(Permission.WORLDS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.WORLDS_WRITE))]
TemplateReader = Annotated[Principal, Depends(require(Permission.AGENTS_READ))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such world (or not yours)"}}


@router.post(
    "/worlds", status_code=201, response_model=WorldOut, responses={422: {"description": "Bad spec"}}
)
async def create_world(
    body: WorldCreate, principal: Writer, service: AgentServiceDep, session: SessionDep
) -> WorldOut:
    record = await service.create_world(principal, body.name, body.spec, body.seed)
    await session.commit()
    await service.applied()
    return WorldOut.of(record)


@router.get("/worlds", response_model=WorldPage)
async def list_worlds(
    principal: Reader,
    service: AgentServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> WorldPage:
    records, total = await service.list_worlds(principal, Page(limit=limit, offset=offset))
    return WorldPage(items=[WorldOut.of(r) for r in records], total=total, limit=limit, offset=offset)


@router.get("/worlds/{world_id}", response_model=WorldOut, responses=NOT_FOUND)
async def get_world(world_id: uuid.UUID, principal: Reader, service: AgentServiceDep) -> WorldOut:
    return WorldOut.of(await service.get_world(principal, world_id))


@router.delete("/worlds/{world_id}", status_code=204, responses=NOT_FOUND)
async def delete_world(
    world_id: uuid.UUID, principal: Writer, service: AgentServiceDep, session: SessionDep
) -> Response:
    """Delete a world and every agent in it."""
    await service.delete_world(principal, world_id)
    await session.commit()
    await service.applied()
    return Response(status_code=204)


@router.get("/worlds/{world_id}/state", response_model=WorldStateOut, responses=NOT_FOUND)
async def world_state(world_id: uuid.UUID, principal: Reader, service: AgentServiceDep) -> WorldStateOut:
    """Cells, resources left, and every agent's position (live when this process runs the world)."""
    record = await service.get_world(principal, world_id)
    spec = record.spec
    view = service.world_view(world_id)
    if view is None:
        return WorldStateOut(
            world_id=world_id,
            live=False,
            tick=0,
            height=spec["height"],
            width=spec["width"],
            walls=[tuple(c) for c in spec.get("walls", [])],
            goals=[tuple(c) for c in spec.get("goals", [])],
            resources=list(spec.get("resources", [])),
            populations=[],
            agents=[],
        )
    agents: list[WorldAgentState] = []
    populations: list[dict[str, Any]] = []
    for index, population in enumerate(view.populations):
        populations.append(
            {"index": index, "template": population.template, "size": len(population.agent_ids)}
        )
        rows = view.positions[population.slots]
        carrying = view.carrying[population.slots]
        agents.extend(
            WorldAgentState(
                id=agent_id,
                row=int(rows[i, 0]),
                col=int(rows[i, 1]),
                population=index,
                running=bool(population.running[i]),
                carrying=bool(carrying[i]),
            )
            for i, agent_id in enumerate(population.agent_ids)
        )
    resources = [
        {"cell": list(pile.cell), "amount": int(left)}
        for pile, left in zip(view.spec.resources, view.resources_left, strict=True)
    ]
    return WorldStateOut(
        world_id=world_id,
        live=True,
        tick=view.tick,
        height=view.spec.height,
        width=view.spec.width,
        walls=[tuple(c) for c in view.spec.walls],
        goals=[tuple(c) for c in view.spec.goals],
        resources=resources,
        populations=populations,
        agents=agents,
    )


@router.get("/templates")
async def list_templates(principal: TemplateReader) -> list[dict[str, Any]]:
    """Every model template with its parameters as JSON Schema, and whether it runs in a grid world."""
    return [
        {**template, "runnable_in_worlds": template["name"] in RUNNABLE_TEMPLATES}
        for template in describe_templates()
    ]
