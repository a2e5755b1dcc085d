"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psutil
from fastapi import FastAPI

from freeagentics import __version__
from freeagentics.api.errors import install_error_handlers
from freeagentics.api.middleware.metrics import MetricsMiddleware
from freeagentics.api.middleware.request_context import RequestContextMiddleware
from freeagentics.api.middleware.security_stack import install_security_middleware
from freeagentics.api.routers import agents as agents_router
from freeagentics.api.routers import auth as auth_router
from freeagentics.api.routers import coalitions as coalitions_router
from freeagentics.api.routers import dashboard as dashboard_router
from freeagentics.api.routers import health
from freeagentics.api.routers import jwks as jwks_router
from freeagentics.api.routers import metrics as metrics_router
from freeagentics.api.routers import security as security_router
from freeagentics.api.routers import system as system_router
from freeagentics.api.routers import users as users_router
from freeagentics.api.routers import worlds as worlds_router
from freeagentics.api.routers import ws as ws_router
from freeagentics.bootstrap import Container, build_agent_service, build_container
from freeagentics.config import Settings, load_settings
from freeagentics.infra.logging import log_fields
from freeagentics.services.demo import ensure_demo_world
from freeagentics.services.live import LiveHub
from freeagentics.services.system_metrics import ProcessProbe, ResponseTimeWindow

logger = logging.getLogger(__name__)


def _install_sighup(container: Container) -> bool:
    try:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, container.reload)
    except (RuntimeError, ValueError):
        # Not the main thread (e.g. under a test client): reload is still reachable via the CLI.
        return False
    return True


async def _ensure_demo_world(container: Container) -> None:
    async with container.session_factory() as session:
        if await ensure_demo_world(build_agent_service(container, session)):
            await session.commit()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; adapters are connected in the lifespan, so importing this module is cheap."""
    resolved = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await build_container(resolved)
        app.state.container = container
        await users_router.security_startup_checks(container)
        app.state.live_hub = LiveHub()
        app.state.process_probe = ProcessProbe(psutil.Process())
        container.supervisor.add_tick_listener(app.state.live_hub.publish)
        container.coordinator.events = app.state.live_hub.broadcast
        if resolved.demo_world_enabled:
            await _ensure_demo_world(container)
        await container.supervisor.start()
        handles_sighup = _install_sighup(container)
        logger.info(
            "service_started",
            extra=log_fields(version=__version__, environment=resolved.server.environment.value),
        )
        try:
            yield
        finally:
            if handles_sighup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await container.aclose()
            logger.info("service_stopped")

    app = FastAPI(
        title="FreeAgentics",
        version=__version__,
        summary="Populations of discrete Active Inference agents",
        lifespan=lifespan,
        docs_url="/docs" if not resolved.is_production else None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics_router.router)
    app.include_router(auth_router.router)
    app.include_router(users_router.router)
    app.include_router(security_router.router)
    app.include_router(jwks_router.router)
    app.include_router(agents_router.router)
    app.include_router(worlds_router.router)
    app.include_router(system_router.router)
    app.include_router(ws_router.router)
    app.include_router(coalitions_router.router)
    app.include_router(dashboard_router.router)
    app.state.response_times = ResponseTimeWindow()
    install_security_middleware(app, resolved)
    # Added first so it runs inside RequestContextMiddleware and sees the route the router matched.
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app
