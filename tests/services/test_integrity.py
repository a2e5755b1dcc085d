"""Posture, system and data checks from literal facts."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from freeagentics.services import integrity
from freeagentics.services.integrity import (
    CertificateFacts,
    CheckpointFacts,
    DataFacts,
    ForeignKeyViolation,
    KeyFile,
    SystemFacts,
)

NOW = dt.datetime(2026, 1, 27, 12, 0, tzinfo=dt.UTC)


def good_production() -> SystemFacts:
    return SystemFacts(
        environment="production",
        debug=False,
        database_password_default=False,
        redis_password_default=False,
        key_dir="/etc/freeagentics/keys",
        key_dir_exists=True,
        key_dir_mode=0o700,
        key_files=(KeyFile("k1.pem", 0o600),),
        certificate=CertificateFacts(
            path="/etc/ssl/certs/freeagentics.crt", exists=True, not_after=NOW + dt.timedelta(days=90)
        ),
        config_dir="/etc/freeagentics",
        config_problems=(),
        rate_limiting_enabled=True,
        rate_limit_classes=("auth", "read"),
        trusted_proxies=("10.0.0.5/32",),
        trusted_networks=("127.0.0.0/8",),
        log_dir="/var/log/freeagentics",
        log_dir_writable=True,
        data_dir="/var/lib/freeagentics",
        data_dir_writable=True,
        backup_last_success=NOW - dt.timedelta(hours=2),
        now=NOW,
    )


def failures(checks: list[integrity.CheckResult]) -> dict[str, str]:
    return {check.name: check.detail for check in checks if not check.passed and check.severity == "error"}


def test_a_good_production_setup_passes_every_posture_check() -> None:
    checks = integrity.posture_checks(good_production())
    assert all(check.passed for check in checks), [c for c in checks if not c.passed]


@pytest.mark.parametrize(
    ("change", "failed_check", "reason"),
    [
        ({"key_files": ()}, "signing keys present", "no *.pem"),
        ({"key_dir_exists": False, "key_files": ()}, "signing keys present", "does not exist"),
        ({"key_files": (KeyFile("k1.pem", 0o644),)}, "key files mode 0600", "k1.pem is 0644"),
        ({"key_dir_mode": 0o755}, "key dir private", "0755"),
        ({"database_password_default": True}, "no default secrets", "database"),
        ({"debug": True}, "debug off", "FREEAGENTICS_DEBUG is true"),
        ({"rate_limiting_enabled": False}, "rate limiting enabled", "enabled: false"),
        ({"rate_limit_classes": ()}, "rate limiting enabled", "no classes"),
        ({"rate_limiting_enabled": None}, "rate limiting enabled", "invalid"),
        ({"trusted_proxies": ()}, "trusted proxies set", "is empty"),
        ({"trusted_proxies": ("0.0.0.0/0",)}, "trusted proxies set", "every address"),
        ({"trusted_networks": ("::/0",)}, "operational endpoints not public", "anyone"),
        ({"config_problems": ("agent_config.yaml: bad",)}, "config files valid", "agent_config.yaml"),
        (
            {
                "certificate": CertificateFacts(
                    path="/c.crt", exists=True, not_after=NOW + dt.timedelta(days=29)
                )
            },
            "certificate valid > 30 days",
            "29 days",
        ),
        (
            {
                "certificate": CertificateFacts(
                    path="/c.crt", exists=True, not_after=NOW - dt.timedelta(days=1)
                )
            },
            "certificate valid > 30 days",
            "expired",
        ),
        (
            {"certificate": CertificateFacts(path="/c.crt", exists=False)},
            "certificate valid > 30 days",
            "does not exist",
        ),
        (
            {"certificate": CertificateFacts(path="/c.crt", exists=True, error="not a certificate")},
            "certificate valid > 30 days",
            "not a certificate",
        ),
    ],
)
def test_each_bad_production_setting_fails_with_its_reason(change, failed_check, reason) -> None:
    facts = dataclasses.replace(good_production(), **change)
    failed = failures(integrity.posture_checks(facts))
    assert failed_check in failed
    assert reason in failed[failed_check]


def test_development_gets_warnings_for_tls_debug_and_default_secrets() -> None:
    facts = dataclasses.replace(
        good_production(),
        environment="development",
        debug=True,
        database_password_default=True,
        trusted_proxies=(),
        certificate=CertificateFacts(path="/c.crt", exists=False),
    )
    checks = integrity.posture_checks(facts)
    assert failures(checks) == {}
    warned = {check.name for check in checks if not check.passed}
    assert warned == {"no default secrets", "debug off", "certificate valid > 30 days"}
    # An unreadable or expiring certificate that does exist is an error everywhere.
    expiring = dataclasses.replace(
        facts, certificate=CertificateFacts(path="/c.crt", exists=True, not_after=NOW + dt.timedelta(days=3))
    )
    assert "certificate valid > 30 days" in failures(integrity.posture_checks(expiring))


def test_system_checks_cover_files_and_backup_age() -> None:
    assert failures(integrity.system_checks(good_production())) == {}
    stale = dataclasses.replace(
        good_production(), backup_last_success=NOW - dt.timedelta(hours=27), log_dir_writable=False
    )
    checks = integrity.system_checks(stale)
    assert failures(checks) == {"log dir writable": "cannot write to /var/log/freeagentics"}
    backup = next(check for check in checks if check.name == "recent backup")
    assert not backup.passed
    assert backup.severity == "warning"
    assert "27.0 h ago" in backup.detail


def data_facts(**change) -> DataFacts:
    base = DataFacts(
        current_revision="0003",
        head_revision="0003",
        tables=("agents", "users", "world_checkpoints", "worlds"),
        foreign_key_violations=(),
        foreign_keys_checked=4,
        agents_without_owner=0,
        agents_without_world=0,
        checkpoints=(CheckpointFacts("w1", 10, 2, 100, 2, NOW),),
        now=NOW,
    )
    return dataclasses.replace(base, **change)


def test_clean_data_passes() -> None:
    checks = integrity.data_checks(data_facts())
    assert all(check.passed for check in checks), checks


def test_data_problems_are_named() -> None:
    behind = failures(integrity.data_checks(data_facts(current_revision="0002")))
    assert "freeagentics db upgrade" in behind["migration at head"]
    dangling = failures(
        integrity.data_checks(
            data_facts(foreign_key_violations=(ForeignKeyViolation("agents", ("world_id",), "worlds", 3),))
        )
    )
    assert dangling == {"no dangling references": "3 agents.(world_id) rows point at missing worlds"}
    broken = failures(
        integrity.data_checks(
            data_facts(
                checkpoints=(
                    CheckpointFacts("w1", -1, 2, 0, 2, NOW + dt.timedelta(hours=1)),
                    CheckpointFacts("w2", 5, 3, 10, 1, NOW),
                )
            )
        )
    )
    detail = broken["checkpoints consistent"]
    assert "negative tick" in detail
    assert "empty checkpoint payload" in detail
    assert "in the future" in detail
    drift = next(
        c
        for c in integrity.data_checks(data_facts(checkpoints=(CheckpointFacts("w2", 5, 3, 10, 1, NOW),)))
        if c.name == "checkpoint agent counts current"
    )
    assert not drift.passed
    assert drift.severity == "warning"


def test_orphans_are_warnings_and_missing_tables_are_not_failures() -> None:
    checks = integrity.data_checks(data_facts(agents_without_owner=2, checkpoints=None))
    assert failures(checks) == {}
    orphan = next(check for check in checks if check.name == "agents with an owner")
    assert not orphan.passed
    assert "2 agents" in orphan.detail
    assert any(check.detail == "no checkpoint table in this schema" for check in checks)
