"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from freeagentics import __version__
from freeagentics.api.errors import install_error_handlers
from freeagentics.api.middleware.metrics import MetricsMiddleware
from freeagentics.api.middleware.request_context import RequestContextMiddleware
from freeagentics.api.routers import health
from freeagentics.api.routers import metrics as metrics_router
from freeagentics.bootstrap import Container, build_container
from freeagentics.config import Settings, load_settings
from freeagentics.infra.logging import log_fields

logger = logging.getLogger(__name__)


def _install_sighup(container: Container) -> bool:
    try:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, container.reload)
    except (RuntimeError, NotImplementedError, ValueError):
        # Not the main thread (e.g. under a test client): reload is still reachable via the CLI.
        return False
    return True


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; adapters are connected in the lifespan, so importing this module is cheap."""
    resolved = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await build_container(resolved)
        app.state.container = container
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
    # Added first so it runs inside RequestContextMiddleware and sees the route the router matched.
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app
