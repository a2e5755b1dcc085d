"""The operator-edited YAML files in the config dir, validated, with reload that keeps the old on error.

Each file has a strict schema (unknown keys are errors, so a typo is reported rather than ignored). A
missing file falls back to the packaged default of that name, which is also what the embedded default
copies into its config dir on first start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from freeagentics.config import CONFIG_FILE_NAMES
from freeagentics.infra.logging import AUDIT_LOGGER, log_fields

logger = logging.getLogger(__name__)
audit = logging.getLogger(AUDIT_LOGGER)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RateLimitRule(_Strict):
    requests: int = Field(ge=1, le=1_000_000)
    window_seconds: float = Field(gt=0, le=86_400)


class RateLimitingConfig(_Strict):
    enabled: bool = True
    classes: dict[Literal["auth", "read", "write", "expensive"], RateLimitRule]


class AgentConfig(_Strict):
    tick_rate_hz: float = Field(default=10.0, gt=0, le=1000)
    emergency_tick_rate_hz: float = Field(default=1.0, gt=0, le=1000)
    checkpoint_every_ticks: int = Field(default=50, ge=1, le=1_000_000)
    max_agents: int = Field(default=200_000, ge=1, le=10_000_000)
    max_batch_create: int = Field(default=10_000, ge=1, le=100_000)
    coalition_formation_interval_seconds: float = Field(default=10.0, ge=0, le=86_400)
    """How often the coordinator forms coalitions for open objectives by itself; 0 turns that off."""
    engine_accelerator: Literal["auto", "numpy", "numba"] = "auto"
    """The inference engine's compiled kernels: ``auto`` uses Numba when it is installed (read at start)."""


class PoolConfig(_Strict):
    max_workers: int = Field(ge=1, le=256)


class ThreadingConfig(_Strict):
    pools: dict[Literal["engine", "io"], PoolConfig]


class SecurityRulesConfig(_Strict):
    authentication_failures_per_minute: int = Field(default=10, ge=1)
    rate_limit_violations_per_minute: int = Field(default=50, ge=1)
    block_after_alerts: int = Field(default=3, ge=1)
    block_window_seconds: float = Field(default=600, gt=0)
    block_seconds: float = Field(default=900, gt=0)


class RegistrationPolicy(_Strict):
    enabled: bool = False
    default_role: Literal["observer", "researcher"] = "observer"


class PasswordPolicy(_Strict):
    min_length: int = Field(default=12, ge=8, le=256)


class SecurityPoliciesConfig(_Strict):
    registration: RegistrationPolicy = RegistrationPolicy()
    password: PasswordPolicy = PasswordPolicy()


class OperatorConfig(_Strict):
    """Everything read from the config dir, one attribute per file."""

    rate_limiting: RateLimitingConfig
    agent: AgentConfig
    threading: ThreadingConfig
    security_rules: SecurityRulesConfig
    security_policies: SecurityPoliciesConfig


_SCHEMAS: dict[str, tuple[str, type[_Strict]]] = {
    "rate_limiting.yaml": ("rate_limiting", RateLimitingConfig),
    "agent_config.yaml": ("agent", AgentConfig),
    "threading_config.yaml": ("threading", ThreadingConfig),
    "security_rules.yaml": ("security_rules", SecurityRulesConfig),
    "security_policies.yaml": ("security_policies", SecurityPoliciesConfig),
}
assert tuple(_SCHEMAS) == CONFIG_FILE_NAMES


class ConfigFileError(ValueError):
    """One or more config files are invalid; ``problems`` lists ``file: where: what`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def default_text(file_name: str) -> str:
    return resources.files("freeagentics.resources.config").joinpath(file_name).read_text(encoding="utf-8")


def seed_config_dir(config_dir: Path) -> None:
    """Write the packaged defaults for any file missing from ``config_dir`` (embedded default only)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in CONFIG_FILE_NAMES:
        target = config_dir / name
        if not target.exists():
            target.write_text(default_text(name), encoding="utf-8")


def load_operator_config(config_dir: Path) -> OperatorConfig:
    """Read and validate every file; raises :class:`ConfigFileError` naming each problem."""
    values: dict[str, _Strict] = {}
    problems: list[str] = []
    for file_name, (attribute, schema) in _SCHEMAS.items():
        path = config_dir / file_name
        try:
            text = path.read_text(encoding="utf-8") if path.is_file() else default_text(file_name)
            document = yaml.safe_load(text)
            if document is None:
                document = {}
            if not isinstance(document, dict):
                problems.append(f"{file_name}: the top level must be a mapping")
                continue
            values[attribute] = schema.model_validate(document)
        except yaml.YAMLError as exc:
            problems.append(f"{file_name}: not valid YAML ({str(exc).splitlines()[0]})")
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "(top level)"
                problems.append(f"{file_name}: {where}: {error['msg']}")
        except OSError as exc:
            problems.append(f"{file_name}: cannot read ({exc.strerror})")
    if problems:
        raise ConfigFileError(problems)
    return OperatorConfig.model_validate(values)


Listener = Callable[[OperatorConfig], None]


class ConfigStore:
    """Holds the current operator config; :meth:`reload` swaps it only when every file is valid."""

    def __init__(self, config_dir: Path, initial: OperatorConfig) -> None:
        self.config_dir = config_dir
        self._current = initial
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    @classmethod
    def load(cls, config_dir: Path) -> ConfigStore:
        return cls(config_dir, load_operator_config(config_dir))

    @property
    def current(self) -> OperatorConfig:
        return self._current

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def reload(self) -> bool:
        """Re-read the files. On error keep the old config, log ``config_reload_failed`` and return False."""
        with self._lock:
            try:
                new = load_operator_config(self.config_dir)
            except ConfigFileError as exc:
                fields = log_fields(reason="invalid config file", problems=exc.problems)
                logger.error("config_reload_failed: keeping the previous configuration", extra=fields)
                audit.warning("config_reload_failed", extra=fields)
                return False
            self._current = new
        for listener in self._listeners:
            try:
                listener(new)
            except Exception:
                logger.exception("config listener failed")
        audit.info("config_reloaded", extra=log_fields(config_dir=str(self.config_dir)))
        logger.info("config_reloaded", extra=log_fields(config_dir=str(self.config_dir)))
        return True
