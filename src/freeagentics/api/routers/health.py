"""``/health`` (dependencies, version, status), ``/health/live`` and ``/health/ready`` for Kubernetes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from freeagentics.api.dependencies import ContainerDep
from freeagentics.api.permissions import OperationalReadDep
from freeagentics.services.health import HealthReport

router = APIRouter(tags=["health"])


def _report_body(report: HealthReport) -> dict[str, Any]:
    return {
        "status": report.status.value,
        "version": report.version,
        "uptime_seconds": report.uptime_seconds,
        "components": {
            component.name: {
                "status": component.status.value,
                "critical": component.critical,
                "latency_ms": component.latency_ms,
                **({"error": component.error} if component.error else {}),
                **component.details,
            }
            for component in report.components
        },
    }


@router.get(
    "/health",
    summary="Health of the service and its dependencies",
    responses={503: {"description": "A critical dependency (the database) is down"}},
)
async def health(container: ContainerDep, _access: OperationalReadDep) -> JSONResponse:
    report = await container.health.check()
    return JSONResponse(_report_body(report), status_code=report.http_status)


@router.get("/health/live", summary="Liveness: the process serves requests")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/health/ready",
    summary="Readiness: the database answers",
    responses={503: {"description": "Not ready to take traffic"}},
)
async def ready(container: ContainerDep, _access: OperationalReadDep) -> JSONResponse:
    report = await container.health.check()
    return JSONResponse({"status": "ready" if report.http_status == 200 else "not_ready"}, report.http_status)
