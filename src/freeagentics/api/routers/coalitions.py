"""``/api/v1/objectives`` and ``/api/v1/coalitions`` (list, get with members, dissolve, form)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from freeagentics.api.dependencies import ContainerDep, SessionDep
from freeagentics.api.errors import ApiError
from freeagentics.api.permissions import Permission, Principal, require
from freeagentics.api.schemas.coalitions import (
    CoalitionOut,
    CoalitionPage,
    FormRequest,
    FormResult,
    ObjectiveCreate,
    ObjectiveOut,
    ObjectivePage,
    ObjectiveUpdate,
)
from freeagentics.bootstrap import build_coalition_service
from freeagentics.services.coalitions.records import (
    COALITION_STATES,
    OBJECTIVE_STATUSES,
    MembershipConflictError,
)
from freeagentics.services.coalitions.service import CoalitionService, NotLiveError
from freeagentics.services.runtime.records import Page

router = APIRouter(prefix="/api/v1", tags=["coalitions"])


async def get_coalition_service(container: ContainerDep, session: SessionDep) -> CoalitionService:
    return build_coalition_service(container, session)


ServiceDep = Annotated[CoalitionService, Depends(get_coalition_service)]
ObjectiveReader = Annotated[Principal, Depends(require(Permission.OBJECTIVES_READ))]
ObjectiveWriter = Annotated[Principal, Depends(require(Permission.OBJECTIVES_WRITE))]
CoalitionReader = Annotated[Principal, Depends(require(Permission.COALITIONS_READ))]
CoalitionWriter = Annotated[Principal, Depends(require(Permission.COALITIONS_WRITE))]
Former = Annotated[Principal, Depends(require(Permission.COALITIONS_WRITE, rate_class="expensive"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found (or not yours)"}}


@router.post("/objectives", status_code=201, response_model=ObjectiveOut)
async def create_objective(
    body: ObjectiveCreate, principal: ObjectiveWriter, service: ServiceDep, session: SessionDep
) -> ObjectiveOut:
    record = await service.create_objective(
        principal,
        body.world_id,
        body.name,
        body.region,
        body.required,
        body.value,
        body.priority,
        body.deadline_tick,
    )
    await session.commit()
    return ObjectiveOut.of(record)


@router.get("/objectives", response_model=ObjectivePage)
async def list_objectives(
    principal: ObjectiveReader,
    service: ServiceDep,
    world_id: uuid.UUID | None = None,
    status: Annotated[str | None, Query(description=f"One of {', '.join(OBJECTIVE_STATUSES)}")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ObjectivePage:
    if status is not None and status not in OBJECTIVE_STATUSES:
        raise ApiError(422, "validation_error", f"status must be one of {list(OBJECTIVE_STATUSES)}")
    records, total = await service.list_objectives(principal, world_id, status, Page(limit, offset))
    return ObjectivePage(items=[ObjectiveOut.of(r) for r in records], total=total, limit=limit, offset=offset)


@router.get("/objectives/{objective_id}", response_model=ObjectiveOut, responses=NOT_FOUND)
async def get_objective(
    objective_id: uuid.UUID, principal: ObjectiveReader, service: ServiceDep
) -> ObjectiveOut:
    return ObjectiveOut.of(await service.get_objective(principal, objective_id))


@router.patch("/objectives/{objective_id}", response_model=ObjectiveOut, responses=NOT_FOUND)
async def update_objective(
    objective_id: uuid.UUID,
    body: ObjectiveUpdate,
    principal: ObjectiveWriter,
    service: ServiceDep,
    session: SessionDep,
) -> ObjectiveOut:
    record = await service.update_objective(principal, objective_id, body.model_dump(exclude_unset=True))
    await session.commit()
    return ObjectiveOut.of(record)


@router.delete("/objectives/{objective_id}", status_code=204, responses=NOT_FOUND)
async def delete_objective(
    objective_id: uuid.UUID,
    principal: ObjectiveWriter,
    service: ServiceDep,
    session: SessionDep,
    container: ContainerDep,
) -> Response:
    released = await service.delete_objective(principal, objective_id)
    await session.commit()
    if released:
        container.coordinator.release(objective_id, released)
    return Response(status_code=204)


@router.get("/coalitions", response_model=CoalitionPage)
async def list_coalitions(
    principal: CoalitionReader,
    service: ServiceDep,
    world_id: uuid.UUID | None = None,
    state: Annotated[str | None, Query(description=f"One of {', '.join(COALITION_STATES)}")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CoalitionPage:
    if state is not None and state not in COALITION_STATES:
        raise ApiError(422, "validation_error", f"state must be one of {list(COALITION_STATES)}")
    records, total = await service.list_coalitions(principal, world_id, state, Page(limit, offset))
    return CoalitionPage(items=[CoalitionOut.of(r) for r in records], total=total, limit=limit, offset=offset)


@router.get("/coalitions/{coalition_id}", response_model=CoalitionOut, responses=NOT_FOUND)
async def get_coalition(
    coalition_id: uuid.UUID, principal: CoalitionReader, service: ServiceDep
) -> CoalitionOut:
    return CoalitionOut.of(await service.get_coalition(principal, coalition_id))


@router.post("/coalitions/{coalition_id}/dissolve", response_model=CoalitionOut, responses=NOT_FOUND)
async def dissolve_coalition(
    coalition_id: uuid.UUID,
    principal: CoalitionWriter,
    service: ServiceDep,
    session: SessionDep,
    container: ContainerDep,
) -> CoalitionOut:
    record = await service.dissolve(principal, coalition_id)
    await session.commit()
    container.coordinator.release(record.id, record.member_ids)
    return CoalitionOut.of(record)


@router.post(
    "/coalitions/form",
    response_model=FormResult,
    responses={
        409: {"description": "The world is not live in this process, or an agent was taken meanwhile"}
    },
)
async def form_coalitions(
    body: FormRequest, principal: Former, service: ServiceDep, session: SessionDep, container: ContainerDep
) -> FormResult:
    """Form coalitions for open objectives from the world's free running agents; returns the structure, its
    value, the upper bound where known, and the time taken."""
    try:
        outcome = await service.form(principal, body.world_id, body.algorithm, body.objective_ids, body.seed)
    except NotLiveError:
        raise ApiError(409, "not_live", "the world's runtime is owned by another process") from None
    except MembershipConflictError:
        raise ApiError(409, "conflict", "an agent joined another coalition meanwhile; form again") from None
    await session.commit()
    await container.coordinator.activate(outcome)
    return FormResult.of(outcome)
