"""Security posture, system integrity and data integrity as pure rules over facts gathered elsewhere.

``infra.system_probe`` and ``infra.db.repositories.integrity`` collect facts (file modes, certificate dates,
settings, foreign-key violations, ...) into the frozen dataclasses below; the functions here turn them into
:class:`CheckResult` lines. A check with ``severity="error"`` that does not pass makes the command exit
non-zero; ``warning`` is reported but does not fail (e.g. a development box without a TLS certificate).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]
CERT_WARNING_DAYS = 30
BACKUP_MAX_AGE_HOURS = 26.0
PRIVATE_MODE_MASK = 0o077


@dataclass(frozen=True)
class CheckResult:
    area: str
    name: str
    passed: bool
    detail: str
    severity: Severity = "error"


def _check(area: str, name: str, passed: bool, detail: str, severity: Severity = "error") -> CheckResult:
    return CheckResult(area=area, name=name, passed=passed, detail=detail, severity=severity)


@dataclass(frozen=True)
class KeyFile:
    name: str
    mode: int


@dataclass(frozen=True)
class CertificateFacts:
    path: str
    exists: bool
    not_after: dt.datetime | None = None
    subject: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class SystemFacts:
    """What posture validation and the system-integrity check look at."""

    environment: str
    debug: bool
    database_password_default: bool
    redis_password_default: bool
    key_dir: str
    key_dir_exists: bool
    key_dir_mode: int | None
    key_files: tuple[KeyFile, ...]
    certificate: CertificateFacts
    config_dir: str
    config_problems: tuple[str, ...]
    rate_limiting_enabled: bool | None
    rate_limit_classes: tuple[str, ...]
    trusted_proxies: tuple[str, ...]
    trusted_networks: tuple[str, ...]
    log_dir: str
    log_dir_writable: bool
    data_dir: str
    data_dir_writable: bool
    backup_last_success: dt.datetime | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def strict(self) -> bool:
        """Production and staging get every check as an error; development gets warnings for TLS and debug."""
        return self.environment in ("production", "staging")


def _world_open(networks: Sequence[str]) -> list[str]:
    open_ones = []
    for text in networks:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if network.prefixlen == 0:
            open_ones.append(text)
    return open_ones


def key_checks(facts: SystemFacts) -> list[CheckResult]:
    area = "keys"
    if not facts.key_dir_exists:
        return [_check(area, "signing keys present", False, f"key dir {facts.key_dir} does not exist")]
    results = [
        _check(
            area,
            "signing keys present",
            bool(facts.key_files),
            f"{len(facts.key_files)} private key file(s) in {facts.key_dir}"
            if facts.key_files
            else f"no *.pem private key in {facts.key_dir}",
        )
    ]
    loose = [f"{key.name} is {key.mode:04o}" for key in facts.key_files if key.mode & PRIVATE_MODE_MASK]
    results.append(
        _check(
            area,
            "key files mode 0600",
            not loose,
            "; ".join(loose) + " (chmod 600)" if loose else "every key file is readable by its owner only",
        )
    )
    if facts.key_dir_mode is not None:
        open_dir = facts.key_dir_mode & PRIVATE_MODE_MASK
        results.append(
            _check(
                area,
                "key dir private",
                not open_dir,
                f"{facts.key_dir} is {facts.key_dir_mode:04o}" + (" (chmod 700)" if open_dir else ""),
            )
        )
    return results


def config_checks(facts: SystemFacts) -> list[CheckResult]:
    area = "config"
    return [
        _check(
            area,
            "config files valid",
            not facts.config_problems,
            "; ".join(facts.config_problems)
            if facts.config_problems
            else f"every YAML in {facts.config_dir} is valid",
        )
    ]


def posture_checks(facts: SystemFacts) -> list[CheckResult]:
    """Keys, secrets, TLS, debug, rate limiting and proxy trust; see ``docs/operations/RUNBOOK.md``."""
    results = key_checks(facts)
    secrets_ok = not facts.database_password_default and not facts.redis_password_default
    defaults = [
        name
        for name, is_default in (
            ("database", facts.database_password_default),
            ("redis", facts.redis_password_default),
        )
        if is_default
    ]
    results.append(
        _check(
            "secrets",
            "no default secrets",
            secrets_ok,
            "database and Redis passwords are not well-known defaults"
            if secrets_ok
            else f"missing or well-known default password for: {', '.join(defaults)}",
            "error" if facts.strict else "warning",
        )
    )
    results.append(_certificate_check(facts))
    results.append(
        _check(
            "server",
            "debug off",
            not facts.debug,
            "FREEAGENTICS_DEBUG is false" if not facts.debug else "FREEAGENTICS_DEBUG is true",
            "error" if facts.strict else "warning",
        )
    )
    if facts.rate_limiting_enabled is None:
        results.append(
            _check("rate limiting", "rate limiting enabled", False, "rate_limiting.yaml is invalid")
        )
    else:
        results.append(
            _check(
                "rate limiting",
                "rate limiting enabled",
                facts.rate_limiting_enabled and bool(facts.rate_limit_classes),
                f"enabled for {', '.join(facts.rate_limit_classes)}"
                if facts.rate_limiting_enabled and facts.rate_limit_classes
                else "rate_limiting.yaml has enabled: false or no classes",
            )
        )
    trust_all = _world_open(facts.trusted_proxies)
    if trust_all:
        results.append(
            _check(
                "proxies",
                "trusted proxies set",
                False,
                f"FREEAGENTICS_SECURITY_TRUSTED_PROXIES trusts every address ({', '.join(trust_all)}): "
                "any client could forge X-Forwarded-For",
            )
        )
    elif facts.is_production:
        results.append(
            _check(
                "proxies",
                "trusted proxies set",
                bool(facts.trusted_proxies),
                f"X-Forwarded-For believed from {', '.join(facts.trusted_proxies)}"
                if facts.trusted_proxies
                else "FREEAGENTICS_SECURITY_TRUSTED_PROXIES is empty: behind Nginx every client would look "
                "like the proxy (rate limits and IP blocks would hit everyone at once)",
            )
        )
    else:
        results.append(
            _check(
                "proxies",
                "trusted proxies set",
                True,
                f"{facts.environment}: "
                + (
                    ", ".join(facts.trusted_proxies) if facts.trusted_proxies else "none (direct connections)"
                ),
            )
        )
    open_networks = _world_open(facts.trusted_networks)
    results.append(
        _check(
            "proxies",
            "operational endpoints not public",
            not open_networks,
            f"anonymous /metrics and /health for {', '.join(facts.trusted_networks) or 'nobody'}"
            if not open_networks
            else f"FREEAGENTICS_SECURITY_TRUSTED_NETWORKS includes {', '.join(open_networks)}: "
            "metrics are readable by anyone",
        )
    )
    results.extend(config_checks(facts))
    return results


def _certificate_check(facts: SystemFacts) -> CheckResult:
    cert = facts.certificate
    severity: Severity = "error" if facts.strict else "warning"
    if not cert.exists:
        return _check("tls", "certificate valid > 30 days", False, f"{cert.path} does not exist", severity)
    if cert.error is not None or cert.not_after is None:
        return _check("tls", "certificate valid > 30 days", False, f"{cert.path}: {cert.error}", "error")
    days_left = (cert.not_after - facts.now).total_seconds() / 86_400
    if days_left < 0:
        detail = f"{cert.path} expired on {cert.not_after.date().isoformat()}"
    else:
        detail = f"{cert.path} expires {cert.not_after.date().isoformat()} ({days_left:.0f} days)"
    return _check("tls", "certificate valid > 30 days", days_left >= CERT_WARNING_DAYS, detail, "error")


def system_checks(facts: SystemFacts) -> list[CheckResult]:
    """Key files and modes, config files, writable log and data dirs, backup freshness."""
    results = key_checks(facts)
    results.extend(config_checks(facts))
    results.append(
        _check(
            "files",
            "log dir writable",
            facts.log_dir_writable,
            f"{facts.log_dir} is writable" if facts.log_dir_writable else f"cannot write to {facts.log_dir}",
        )
    )
    results.append(
        _check(
            "files",
            "data dir writable",
            facts.data_dir_writable,
            f"{facts.data_dir} is writable"
            if facts.data_dir_writable
            else f"cannot write to {facts.data_dir}",
        )
    )
    if facts.backup_last_success is None:
        results.append(_check("backups", "recent backup", False, "no successful backup recorded", "warning"))
    else:
        age = (facts.now - facts.backup_last_success).total_seconds() / 3600
        results.append(
            _check(
                "backups",
                "recent backup",
                age <= BACKUP_MAX_AGE_HOURS,
                f"last successful backup {age:.1f} h ago (alert above {BACKUP_MAX_AGE_HOURS:g} h)",
                "warning",
            )
        )
    return results


@dataclass(frozen=True)
class ForeignKeyViolation:
    table: str
    columns: tuple[str, ...]
    parent: str
    rows: int


@dataclass(frozen=True)
class CheckpointFacts:
    world_id: str
    tick: int
    agent_count: int
    payload_bytes: int
    world_agents: int
    saved_at: dt.datetime | None


@dataclass(frozen=True)
class DataFacts:
    current_revision: str | None
    head_revision: str | None
    tables: tuple[str, ...]
    foreign_key_violations: tuple[ForeignKeyViolation, ...]
    foreign_keys_checked: int
    agents_without_owner: int | None
    agents_without_world: int | None
    checkpoints: tuple[CheckpointFacts, ...] | None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def data_checks(facts: DataFacts) -> list[CheckResult]:
    at_head = facts.current_revision == facts.head_revision
    results = [
        _check(
            "schema",
            "migration at head",
            at_head,
            f"database at {facts.current_revision or 'base'}, code head {facts.head_revision}"
            + ("" if at_head else " (run: freeagentics db upgrade)"),
        )
    ]
    violations = facts.foreign_key_violations
    results.append(
        _check(
            "foreign keys",
            "no dangling references",
            not violations,
            "; ".join(
                f"{v.rows} {v.table}.({', '.join(v.columns)}) rows point at missing {v.parent}"
                for v in violations
            )
            if violations
            else f"{facts.foreign_keys_checked} foreign keys checked across {len(facts.tables)} tables",
        )
    )
    if facts.agents_without_owner is not None:
        results.append(
            _check(
                "orphans",
                "agents with an owner",
                facts.agents_without_owner == 0,
                f"{facts.agents_without_owner} agents have no owner (their user was deleted)",
                "warning",
            )
        )
    if facts.agents_without_world is not None:
        results.append(
            _check(
                "orphans",
                "agents in a world",
                facts.agents_without_world == 0,
                f"{facts.agents_without_world} agents belong to no world",
                "warning",
            )
        )
    if facts.checkpoints is None:
        results.append(
            _check("checkpoints", "checkpoints consistent", True, "no checkpoint table in this schema")
        )
    else:
        results.extend(_checkpoint_checks(facts.checkpoints, facts.now))
    return results


def _checkpoint_checks(checkpoints: Sequence[CheckpointFacts], now: dt.datetime) -> list[CheckResult]:
    broken: list[str] = []
    drift: list[str] = []
    for checkpoint in checkpoints:
        if checkpoint.tick < 0:
            broken.append(f"world {checkpoint.world_id}: negative tick {checkpoint.tick}")
        if checkpoint.payload_bytes == 0:
            broken.append(f"world {checkpoint.world_id}: empty checkpoint payload")
        if checkpoint.saved_at is not None and checkpoint.saved_at > now + dt.timedelta(minutes=5):
            broken.append(
                f"world {checkpoint.world_id}: saved_at {checkpoint.saved_at.isoformat()} is in the future"
            )
        if checkpoint.agent_count != checkpoint.world_agents:
            drift.append(
                f"world {checkpoint.world_id}: checkpoint of {checkpoint.agent_count} agents, "
                f"{checkpoint.world_agents} agents now"
            )
    return [
        _check(
            "checkpoints",
            "checkpoints consistent",
            not broken,
            "; ".join(broken) if broken else f"{len(checkpoints)} world checkpoints readable",
        ),
        _check(
            "checkpoints",
            "checkpoint agent counts current",
            not drift,
            "; ".join(drift[:10])
            + (" (agents created or deleted since the last checkpoint)" if drift else "")
            if drift
            else "every checkpoint covers its world's current agents",
            "warning",
        ),
    ]
