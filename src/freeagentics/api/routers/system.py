"""``GET /api/v1/system/metrics``: agent counts, processing rate, response times, pools, ticks, process."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from freeagentics.api.dependencies import ContainerDep, SessionDep
from freeagentics.api.permissions import OperationalReadDep
from freeagentics.infra.db.repositories.agents import SqlAgentRepository
from freeagentics.services.system_metrics import system_metrics

router = APIRouter(prefix="/api/v1/system", tags=["operations"])


@router.get("/metrics")
async def metrics(
    request: Request, container: ContainerDep, session: SessionDep, _caller: OperationalReadDep
) -> dict[str, Any]:
    """Everything measured: over the last minute for rates and percentiles, now for counts and sizes."""
    counts = await SqlAgentRepository(session).count_by_status()
    return system_metrics(
        container.supervisor,
        counts,
        request.app.state.response_times,
        request.app.state.process_probe.sample(),
    )
