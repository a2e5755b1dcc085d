"""The one place that wires adapters (database, Redis, files, logs) to services.

``api`` and ``cli`` call :func:`build_container` and hand the services what they need; nothing else
constructs an adapter.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from freeagentics import __version__
from freeagentics.config import Settings
from freeagentics.infra.cache import (
    InProcessKeyValueStore,
    KeyValueStoreHealthProbe,
    RedisKeyValueStore,
    create_redis_client,
)
from freeagentics.infra.config_files import ConfigStore, seed_config_dir
from freeagentics.infra.db import migrate
from freeagentics.infra.db.engine import create_engine, create_session_factory
from freeagentics.infra.db.repositories.health import DatabaseHealthProbe
from freeagentics.infra.logging import configure_logging, log_fields, reopen_log_files
from freeagentics.infra.metrics import ErrorCountingKeyValueStore, PrometheusMetrics
from freeagentics.services.health import CheckedProbe, ComponentHealth, HealthService, HealthStatus
from freeagentics.services.ports import KeyValueStore

logger = logging.getLogger(__name__)


@dataclass
class Container:
    """Everything one process shares: settings, adapters and the services built on them."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    store: KeyValueStore
    config: ConfigStore
    health: HealthService
    metrics: PrometheusMetrics

    def reload(self) -> bool:
        """SIGHUP: reopen the log files and re-read the config dir (keeping the old config if invalid)."""
        reopen_log_files()
        return self.config.reload()

    async def aclose(self) -> None:
        await self.store.close()
        await self.engine.dispose()
        self.metrics.close()


def configure_process(settings: Settings) -> None:
    """Create the data dir, seed the embedded config dir and install JSON logging."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.is_production and settings.server.config_dir is None:
        seed_config_dir(settings.config_dir)
    configure_logging(
        settings.log_dir, settings.logging.level, settings.logging.stdout, settings.logging.access_log
    )


async def build_container(settings: Settings) -> Container:
    """Connect the adapters. On the embedded default the SQLite schema is migrated to head first."""
    if settings.is_embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Alembic's env runs its own event loop, so it cannot run on this one.
        await asyncio.to_thread(migrate.upgrade, settings.database_url)
    config = ConfigStore.load(settings.config_dir)
    engine = create_engine(settings.database_url, settings.database)
    metrics = PrometheusMetrics(data_dir=settings.data_dir, engine=engine)
    probes = [CheckedProbe(DatabaseHealthProbe(engine), critical=True)]
    extra: list[ComponentHealth] = []
    store: KeyValueStore
    if settings.redis_url is not None:
        redis_store = RedisKeyValueStore(
            create_redis_client(settings.redis_url, settings.redis), settings.redis.key_prefix
        )
        store = ErrorCountingKeyValueStore(redis_store, metrics)
        probes.append(CheckedProbe(KeyValueStoreHealthProbe(redis_store), critical=False))
    else:
        store = InProcessKeyValueStore()
        extra.append(
            ComponentHealth(
                "redis",
                HealthStatus.HEALTHY,
                critical=False,
                details={"backend": "in-process (not configured)"},
            )
        )
    health = HealthService(probes, version=__version__, extra_components=extra)
    logger.info(
        "container_ready",
        extra=log_fields(
            database=settings.database_url.split(":", 1)[0],
            redis="configured" if settings.redis_url else "in-process",
            environment=settings.server.environment.value,
        ),
    )
    return Container(
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        store=store,
        config=config,
        health=health,
        metrics=metrics,
    )
