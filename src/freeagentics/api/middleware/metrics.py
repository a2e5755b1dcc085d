"""Pure ASGI middleware recording every HTTP request in the Prometheus metrics.

Per request: ``http_requests_in_progress`` while it runs, then ``http_requests_total{method,route,status}``
and ``http_request_duration_seconds{method,route}``. ``route`` is the matched route's template, read from
the scope after routing (so ``/api/v1/agents/7`` counts as ``/api/v1/agents/{agent_id}`` and the label set
stays bounded); requests that match no route count as ``unmatched``. An exception escaping the app counts
as a 500 (the request-context middleware outside turns it into that response).

The metrics object is the container's, looked up per request, because the container only exists once the
lifespan has started. On the first request the 200 and 500 series of every route are created at zero.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freeagentics.api.middleware.request_context import route_template
from freeagentics.infra.metrics import PrometheusMetrics

logger = logging.getLogger(__name__)


def _metrics_of(scope: Scope) -> PrometheusMetrics | None:
    app: Any = scope.get("app")
    container = getattr(getattr(app, "state", None), "container", None)
    metrics = getattr(container, "metrics", None)
    return metrics if isinstance(metrics, PrometheusMetrics) else None


def _served_routes(scope: Scope) -> list[tuple[str, list[str]]]:
    """(path template, methods) of every documented route, from the app's OpenAPI schema.

    The schema is the public, stable listing of routes (included routers are not flattened in
    ``app.routes``); routes hidden from it are still counted, their series just appear on first use.
    """
    app: Any = scope.get("app")
    try:
        paths = app.openapi().get("paths", {})
    except Exception:
        logger.warning("metrics_route_listing_failed", exc_info=True)
        return []
    return [(path, [method.upper() for method in operations]) for path, operations in paths.items()]


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = _metrics_of(scope) if scope["type"] == "http" else None
        if metrics is None:
            await self.app(scope, receive, send)
            return
        if not metrics.routes_preinitialised:
            metrics.preinitialise_routes(_served_routes(scope))
        status_code = 500
        started = time.perf_counter()
        metrics.request_started()

        async def send_recording_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            metrics.request_finished(
                scope.get("method", "GET"),
                route_template(scope),
                status_code,
                time.perf_counter() - started,
            )
