"""Pure ASGI middleware recording every HTTP request in the Prometheus metrics.

Per request: ``http_requests_in_progress`` while it runs, then ``http_requests_total{method,route,status}``
and ``http_request_duration_seconds{method,route}``. ``route`` is the matched route's template, read from
the scope after routing (so ``/api/v1/agents/7`` counts as ``/api/v1/agents/{agent_id}`` and the label set
stays bounded). A request answered before routing (rate limited, blocked address, body too large) is
matched against the app's route table so it still counts under its template; one that matches no route
counts as ``unmatched``. An exception escaping the app counts as a 500 (the request-context middleware
outside turns it into that response).

The metrics object is the container's, looked up per request, because the container only exists once the
lifespan has started. On the first request the 200 and 500 series of every route are created at zero.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freeagentics.api.middleware.request_context import route_template
from freeagentics.api.permissions import declared_routes
from freeagentics.infra.metrics import UNMATCHED_ROUTE, PrometheusMetrics

_ROUTE_TABLE_ATTRIBUTE = "_freeagentics_metrics_route_table"


@dataclass(frozen=True, slots=True)
class _HttpRoute:
    template: str
    methods: frozenset[str]
    regex: re.Pattern[str]


def _metrics_of(scope: Scope) -> PrometheusMetrics | None:
    app: Any = scope.get("app")
    container = getattr(getattr(app, "state", None), "container", None)
    metrics = getattr(container, "metrics", None)
    return metrics if isinstance(metrics, PrometheusMetrics) else None


def _route_table(scope: Scope) -> list[_HttpRoute]:
    """The app's HTTP routes (through included routers), built once: routes are fixed once it serves."""
    app: Any = scope["app"]
    table: list[_HttpRoute] | None = getattr(app.state, _ROUTE_TABLE_ATTRIBUTE, None)
    if table is None:
        table = [
            _HttpRoute(route.path, route.methods, route.regex)
            for route in declared_routes(app)
            if route.methods and route.regex is not None and not route.is_websocket
        ]
        setattr(app.state, _ROUTE_TABLE_ATTRIBUTE, table)
    return table


def _template_of(scope: Scope) -> str:
    routed = route_template(scope)
    if routed != UNMATCHED_ROUTE:
        return routed
    path, method = scope.get("path", ""), scope.get("method", "")
    for route in _route_table(scope):
        if method in route.methods and route.regex.match(path):
            return route.template
    return UNMATCHED_ROUTE


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = _metrics_of(scope) if scope["type"] == "http" else None
        if metrics is None:
            await self.app(scope, receive, send)
            return
        if not metrics.routes_preinitialised:
            metrics.preinitialise_routes((route.template, route.methods) for route in _route_table(scope))
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
                scope.get("method", "GET"), _template_of(scope), status_code, time.perf_counter() - started
            )
