"""The one place that wires adapters (database, Redis, files, logs) to services.

``api`` and ``cli`` call :func:`build_container` and hand the services what they need; nothing else
constructs an adapter.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from freeagentics import __version__
from freeagentics.config import Settings
from freeagentics.domain.engine.config import Accelerator, accelerator_available
from freeagentics.infra.cache import (
    InProcessKeyValueStore,
    KeyValueStoreHealthProbe,
    RedisKeyValueStore,
    create_redis_client,
)
from freeagentics.infra.config_files import ConfigStore, OperatorConfig, seed_config_dir
from freeagentics.infra.db import migrate
from freeagentics.infra.db.engine import create_engine, create_session_factory
from freeagentics.infra.db.repositories.agents import SqlAgentRepository, SqlRuntimeStore, SqlWorldRepository
from freeagentics.infra.db.repositories.coalitions import SqlCoalitionRepository, coalition_unit_of_work
from freeagentics.infra.db.repositories.health import DatabaseHealthProbe
from freeagentics.infra.db.repositories.tokens import RefreshTokenRepository, TokenRevocationRepository
from freeagentics.infra.db.repositories.users import UserRepository
from freeagentics.infra.logging import configure_logging, log_fields, reopen_log_files
from freeagentics.infra.metrics import ErrorCountingKeyValueStore, PrometheusMetrics
from freeagentics.infra.runtime_lock import lock_for
from freeagentics.infra.security.revocation import MirroredRevocationStore
from freeagentics.infra.security.wiring import SecurityAdapters, build_security_adapters
from freeagentics.services.agents import AgentService
from freeagentics.services.auth.service import AuthService
from freeagentics.services.coalitions.coordinator import CoalitionCoordinator
from freeagentics.services.coalitions.service import CoalitionService
from freeagentics.services.health import CheckedProbe, ComponentHealth, HealthService, HealthStatus
from freeagentics.services.ports import KeyValueStore
from freeagentics.services.runtime.supervisor import RuntimeOptions, RuntimeSupervisor
from freeagentics.services.security_monitor import MonitorThresholds, SecurityMonitor

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
    security: SecurityAdapters
    security_monitor: SecurityMonitor
    metrics: PrometheusMetrics
    supervisor: RuntimeSupervisor
    coordinator: CoalitionCoordinator

    def reload(self) -> bool:
        """SIGHUP: reopen the log files and re-read the config dir (keeping the old config if invalid)."""
        reopen_log_files()
        return self.config.reload()

    async def aclose(self) -> None:
        await self.supervisor.stop()
        await self.security.aclose()
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
    session_factory = create_session_factory(engine)
    security = build_security_adapters(settings, session_factory, metrics)

    def thresholds() -> MonitorThresholds:
        rules = config.current.security_rules
        return MonitorThresholds(**rules.model_dump())

    protected = [*settings.security.trusted_networks, *settings.security.trusted_proxies]

    def never_block(ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in protected)

    security_monitor = SecurityMonitor(
        thresholds,
        security.audit,
        security.metrics,
        security.ip_blocks,
        never_block=never_block,
        counter=security.window_counter,
    )
    await security.ip_blocks.load()
    supervisor = build_supervisor(settings, config, engine, session_factory, metrics)
    coordinator = CoalitionCoordinator(
        supervisor,
        coalition_unit_of_work(session_factory),
        metrics,
        formation_interval_seconds=config.current.agent.coalition_formation_interval_seconds,
    )

    def apply_formation_interval(new: OperatorConfig) -> None:
        coordinator.formation_interval_seconds = new.agent.coalition_formation_interval_seconds

    config.subscribe(apply_formation_interval)
    supervisor.add_tick_listener(coordinator.on_tick)
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
        session_factory=session_factory,
        store=store,
        config=config,
        health=health,
        metrics=metrics,
        security=security,
        security_monitor=security_monitor,
        supervisor=supervisor,
        coordinator=coordinator,
    )


def runtime_options(settings: Settings, config: OperatorConfig) -> RuntimeOptions:
    return RuntimeOptions(
        tick_rate_hz=config.agent.tick_rate_hz,
        emergency_tick_rate_hz=config.agent.emergency_tick_rate_hz,
        checkpoint_every_ticks=config.agent.checkpoint_every_ticks,
        emergency_mode=settings.server.emergency_mode,
        enabled=settings.runtime.enabled,
        engine_workers=config.threading.pools["engine"].max_workers,
        io_workers=config.threading.pools["io"].max_workers,
        engine_accelerator=resolve_accelerator(config.agent.engine_accelerator),
    )


def resolve_accelerator(choice: str) -> Accelerator:
    """``auto`` is Numba where it is installed, else NumPy; an explicit choice must be installed."""
    if choice == "auto":
        return "numba" if accelerator_available("numba") else "numpy"
    if choice == "numba":
        if not accelerator_available("numba"):
            raise ValueError("agent_config.yaml asks for engine_accelerator: numba, which is not installed")
        return "numba"
    return "numpy"


def build_supervisor(
    settings: Settings,
    config: ConfigStore,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    metrics: PrometheusMetrics,
) -> RuntimeSupervisor:
    """The agent runtime of this process; it starts stepping once it holds the runtime-owner lock."""
    supervisor = RuntimeSupervisor(
        store=SqlRuntimeStore(session_factory),
        lock=lock_for(engine, settings.data_dir),
        options=runtime_options(settings, config.current),
        metrics=metrics,
    )
    config.subscribe(lambda new: supervisor.update_options(runtime_options(settings, new)))
    return supervisor


def build_coalition_service(container: Container, session: AsyncSession) -> CoalitionService:
    """Objective and coalition use cases bound to one request's session (the caller commits)."""
    return CoalitionService(
        SqlCoalitionRepository(session), SqlWorldRepository(session), container.coordinator.live_view
    )


def build_agent_service(container: Container, session: AsyncSession) -> AgentService:
    """Agent and world use cases bound to one request's session (the caller commits)."""
    agent_config = container.config.current.agent
    return AgentService(
        agents=SqlAgentRepository(session),
        worlds=SqlWorldRepository(session),
        supervisor=container.supervisor,
        max_agents=agent_config.max_agents,
        max_batch=agent_config.max_batch_create,
    )


def build_auth_service(container: Container, session: AsyncSession) -> AuthService:
    """The auth use cases bound to one request's or command's session (the caller commits)."""
    security = container.security
    return AuthService(
        users=UserRepository(session),
        refresh_tokens=RefreshTokenRepository(session),
        revocations=MirroredRevocationStore(security.revocations, TokenRevocationRepository(session)),
        codec=security.codec,
        hasher=security.hasher,
        audit=security.audit,
        metrics=security.metrics,
    )
