"""Process settings, read from ``FREEAGENTICS_*`` environment variables and an optional env file.

Settings are grouped (server, database, redis, auth, logging, runtime, security). Each group reads variables
with its own prefix, e.g. ``FREEAGENTICS_DATABASE_URL`` or ``FREEAGENTICS_LOG_DIR``; the conventional
``DATABASE_URL`` and ``REDIS_URL`` are accepted too. An env file (``.env`` in the working directory, or the
file named by ``FREEAGENTICS_ENV_FILE``) may hold the same variables, with or without ``export`` in front,
so the runbook's ``source .env.production`` and the service's own loading read one file.

With no configuration at all the service runs on the *embedded default*: a SQLite file and logs under the
data dir, in-process cache and limiter, no Redis. ``FREEAGENTICS_ENVIRONMENT=production`` turns on the
production checks in :func:`validate_for_environment`.
"""

from __future__ import annotations

import ipaddress
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_FILE_VARIABLE = "FREEAGENTICS_ENV_FILE"
DEFAULT_ENV_FILE = ".env"

#: Passwords that ship in examples, tutorials and images; production refuses all of them.
KNOWN_DEFAULT_PASSWORDS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "password",
        "secret",
        "freeagentics",
        "postgres",
        "admin",
        "redis",
        "example",
    }
)

#: The YAML files operators edit in the config dir (the runbook's /etc/freeagentics).
CONFIG_FILE_NAMES = (
    "rate_limiting.yaml",
    "agent_config.yaml",
    "threading_config.yaml",
    "security_rules.yaml",
    "security_policies.yaml",
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


def _group_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=None,
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )


class ServerSettings(BaseSettings):
    model_config = _group_config("FREEAGENTICS_")

    environment: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    debug: bool = False
    data_dir: Path = Path("var")
    config_dir: Path | None = None
    emergency_mode: bool = False
    graceful_shutdown_seconds: float = Field(default=30.0, gt=0, le=600)
    demo_world: bool | None = None
    """Start the demo world of agents; defaults to on for the embedded default and off elsewhere."""
    backup_dir: Path | None = None
    """Where ``freeagentics backup`` writes: ``/backups`` in production, else ``<data_dir>/backups``."""


class DatabaseSettings(BaseSettings):
    model_config = _group_config("FREEAGENTICS_DATABASE_")

    url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("FREEAGENTICS_DATABASE_URL", "DATABASE_URL")
    )
    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)
    pool_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    pool_recycle_seconds: int = Field(default=1800, ge=30)
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    statement_timeout_ms: int = Field(default=30_000, ge=100, le=3_600_000)
    echo: bool = False


class RedisSettings(BaseSettings):
    model_config = _group_config("FREEAGENTICS_REDIS_")

    url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("FREEAGENTICS_REDIS_URL", "REDIS_URL")
    )
    connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    socket_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    key_prefix: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_.:-]*$")
    """Prepended to every key; empty in production so the runbook's ``rate_limit:*`` patterns match."""


class AuthSettings(BaseSettings):
    model_config = _group_config("FREEAGENTICS_AUTH_")

    key_dir: Path | None = None
    issuer: str = "freeagentics"
    audience: str = "freeagentics-api"
    access_token_minutes: int = Field(default=15, ge=1, le=60)
    refresh_token_days: int = Field(default=7, ge=1, le=30)
    leeway_seconds: int = Field(default=10, ge=0, le=10)
    argon2_time_cost: int = Field(default=3, ge=2, le=20)
    argon2_memory_kib: int = Field(default=65536, ge=19456, le=4 * 1024 * 1024)
    """Argon2id cost; the floor is OWASP's minimum (19 MiB, 2 passes)."""


class LoggingSettings(BaseSettings):
    model_config = _group_config("FREEAGENTICS_LOG_")

    level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    dir: Path | None = None
    stdout: bool = True
    access_log: bool = True


class RuntimeSettings(BaseSettings):
    model_config = _group_config("FREEAGENTICS_RUNTIME_")

    enabled: bool = True
    """Whether this process may step agents; false makes an API-only replica (never takes the lock)."""


def _parse_networks(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class SecuritySettings(BaseSettings):
    model_config = _group_config("FREEAGENTICS_SECURITY_")

    trusted_networks: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = Field(
        default_factory=lambda: [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    )
    """Networks whose anonymous requests may read /health, /metrics and /api/v1/system/metrics."""
    trusted_proxies: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = Field(
        default_factory=list
    )
    """Peers whose X-Forwarded-For header is believed; empty means the header is ignored."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    tls_cert_file: Path = Path("/etc/ssl/certs/freeagentics.crt")
    """The certificate Nginx serves; posture validation checks its expiry."""

    @field_validator("trusted_networks", "trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: Any) -> Any:
        return _parse_networks(value)


class Settings(BaseModel):
    """All settings of one process; build with :func:`load_settings`."""

    model_config = {"frozen": True}

    server: ServerSettings
    database: DatabaseSettings
    redis: RedisSettings
    auth: AuthSettings
    logging: LoggingSettings
    runtime: RuntimeSettings
    security: SecuritySettings

    @property
    def is_production(self) -> bool:
        return self.server.environment is Environment.PRODUCTION

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def log_dir(self) -> Path:
        if self.logging.dir is not None:
            return self.logging.dir
        if self.is_production:
            return Path("/var/log/freeagentics")
        return self.server.data_dir / "logs"

    @property
    def config_dir(self) -> Path:
        if self.server.config_dir is not None:
            return self.server.config_dir
        if self.is_production:
            return Path("/etc/freeagentics")
        return self.server.data_dir / "config"

    @property
    def key_dir(self) -> Path:
        if self.auth.key_dir is not None:
            return self.auth.key_dir
        if self.is_production:
            return Path("/etc/freeagentics/keys")
        return self.server.data_dir / "keys"

    @property
    def database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.server.data_dir / 'freeagentics.db').resolve()}"

    @property
    def redis_url(self) -> str | None:
        return self.redis.url.get_secret_value() if self.redis.url is not None else None

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def demo_world_enabled(self) -> bool:
        if self.server.demo_world is not None:
            return self.server.demo_world
        return self.is_embedded and not self.is_production


class SettingsError(ValueError):
    """Settings that must not be used; the message is one line naming the variable."""


def _resolve_env_file(env_file: Path | str | None) -> Path | None:
    if env_file is not None:
        return Path(env_file)
    named = os.environ.get(ENV_FILE_VARIABLE)
    if named:
        return Path(named)
    default = Path(DEFAULT_ENV_FILE)
    return default if default.is_file() else None


def load_settings(env_file: Path | str | None = None) -> Settings:
    """Read every settings group from the environment and the env file (environment wins).

    Raises :class:`SettingsError` with one line per problem when a value is malformed or when production
    would start with a missing or default secret.
    """
    from pydantic import ValidationError

    resolved = _resolve_env_file(env_file)
    if resolved is not None and not resolved.exists():
        raise SettingsError(f"{ENV_FILE_VARIABLE}: env file {resolved} does not exist")
    groups: dict[str, type[BaseSettings]] = {
        "server": ServerSettings,
        "database": DatabaseSettings,
        "redis": RedisSettings,
        "auth": AuthSettings,
        "logging": LoggingSettings,
        "runtime": RuntimeSettings,
        "security": SecuritySettings,
    }
    values: dict[str, BaseSettings] = {}
    for name, group in groups.items():
        try:
            values[name] = group(_env_file=resolved)
        except ValidationError as exc:
            raise SettingsError(_describe_validation_error(group, exc)) from None
    settings = Settings.model_validate(values)
    validate_for_environment(settings)
    return settings


def _describe_validation_error(group: type[BaseSettings], exc: Any) -> str:
    prefix = str(group.model_config.get("env_prefix", ""))
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "?"
        variable = field if field.upper().startswith("FREEAGENTICS_") else f"{prefix}{field}".upper()
        problems.append(f"{variable}: {error['msg']}")
    return "invalid setting " + "; ".join(problems)


def _password_of(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def validate_for_environment(settings: Settings) -> None:
    """Refuse production settings that would run with a missing or well-known secret, or with debug on."""
    if not settings.is_production:
        return
    if settings.database.url is None:
        raise SettingsError("FREEAGENTICS_DATABASE_URL (or DATABASE_URL) must be set in production")
    database_url = settings.database.url.get_secret_value()
    if not database_url.startswith("postgresql"):
        raise SettingsError("FREEAGENTICS_DATABASE_URL must be a postgresql+asyncpg:// URL in production")
    password = _password_of(database_url)
    if password is None or password.lower() in KNOWN_DEFAULT_PASSWORDS:
        raise SettingsError(
            "FREEAGENTICS_DATABASE_URL has a missing or default password; set a unique secret in production"
        )
    if settings.redis.url is None:
        raise SettingsError("FREEAGENTICS_REDIS_URL (or REDIS_URL) must be set in production")
    redis_password = _password_of(settings.redis.url.get_secret_value())
    if redis_password is not None and redis_password.lower() in KNOWN_DEFAULT_PASSWORDS:
        raise SettingsError(
            "FREEAGENTICS_REDIS_URL has a default password; set a unique secret in production"
        )
    if settings.server.debug:
        raise SettingsError("FREEAGENTICS_DEBUG must be false in production")
