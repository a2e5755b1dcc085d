"""``/metrics``: every Prometheus metric of the service in the text exposition format.

All worker processes' values when ``PROMETHEUS_MULTIPROC_DIR`` is set (see ``infra.metrics``).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from freeagentics.api.dependencies import ContainerDep
from freeagentics.api.permissions import OperationalReadDep
from freeagentics.infra.metrics import METRICS_CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {METRICS_CONTENT_TYPE: {}}}},
)
async def metrics(container: ContainerDep, _caller: OperationalReadDep) -> Response:
    return Response(container.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)
