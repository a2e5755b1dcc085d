"""Backup names, retention and manifest comparison (pure rules)."""

from __future__ import annotations

import datetime as dt

import pytest

from freeagentics.services.backup_policy import (
    BackupEntry,
    BackupPolicyError,
    TableDigest,
    backup_file_name,
    expired,
    manifest_differences,
    parse_timestamp,
    select_at_or_before,
    taken_at_of,
)

NOW = dt.datetime(2026, 1, 27, 3, 0, 0, tzinfo=dt.UTC)


def entry(days_ago: float, name: str | None = None) -> BackupEntry:
    moment = NOW - dt.timedelta(days=days_ago)
    return BackupEntry(name=name or backup_file_name("postgresql", moment), taken_at=moment, size_bytes=10)


def test_names_round_trip_through_the_runbook_timestamp() -> None:
    name = backup_file_name("postgresql", NOW)
    assert name == "freeagentics_20260127_030000.sql.gz"
    assert taken_at_of(name) == NOW
    assert taken_at_of(backup_file_name("sqlite", NOW)) == NOW
    assert taken_at_of(backup_file_name("config", NOW)) == NOW
    assert backup_file_name("config", NOW) == "freeagentics_config_20260127_030000.tar.gz"


@pytest.mark.parametrize(
    "name",
    [
        "freeagentics_20260127_030000.sql.gz.sha256",
        "freeagentics_20260127_030000.sql.gz.partial",
        "freeagentics_20261327_030000.sql.gz",
        "other_20260127_030000.sql.gz",
        "freeagentics_20260127_0300.sql.gz",
    ],
)
def test_files_that_are_not_backups_have_no_time(name: str) -> None:
    assert taken_at_of(name) is None


@pytest.mark.parametrize("text", ["2026-01-27", "20260132_000000", "20260127_250000", "", "20260127_030000x"])
def test_bad_timestamps_are_refused(text: str) -> None:
    with pytest.raises(BackupPolicyError):
        parse_timestamp(text)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(BackupPolicyError):
        backup_file_name("mysql", NOW)


def test_retention_expires_old_backups_but_never_the_newest() -> None:
    old, middle, recent = entry(40), entry(31), entry(1)
    assert expired([recent, old, middle], NOW, keep_days=30) == [old, middle]
    assert expired([recent, old, middle], NOW, keep_days=35) == [old]
    only_old = entry(100)
    assert expired([only_old], NOW, keep_days=30) == []
    assert expired([], NOW, keep_days=30) == []
    with pytest.raises(BackupPolicyError):
        expired([recent], NOW, keep_days=0)


def test_restore_point_is_the_newest_at_or_before_the_moment() -> None:
    two_hours, one_hour, now = entry(2 / 24), entry(1 / 24), entry(0)
    entries = [now, two_hours, one_hour]
    assert select_at_or_before(entries, NOW - dt.timedelta(minutes=30)) == one_hour
    assert select_at_or_before(entries, NOW - dt.timedelta(hours=1)) == one_hour
    assert select_at_or_before(entries, NOW) == now
    assert select_at_or_before(entries, NOW - dt.timedelta(hours=3)) is None


def test_manifest_differences_name_every_mismatch() -> None:
    expected = {"users": TableDigest(3, "a"), "agents": TableDigest(2, "b"), "worlds": TableDigest(1, "c")}
    assert manifest_differences(expected, dict(expected)) == []
    actual = {"users": TableDigest(2, "a"), "agents": TableDigest(2, "x"), "extra": TableDigest(0, "")}
    problems = manifest_differences(expected, actual)
    assert problems == [
        "table worlds is missing after restore",
        "table extra appeared after restore but is not in the manifest",
        "table agents: content checksum differs (x != b)",
        "table users: 2 rows restored, 3 backed up",
    ]


def test_entries_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError):
        BackupEntry(name="x", taken_at=dt.datetime(2026, 1, 1), size_bytes=1)
