"""Backup naming, retention and verification rules, as pure functions over plain values.

A backup is named by the UTC moment it was taken, ``freeagentics_<YYYYmmdd_HHMMSS>.<suffix>`` (the runbook's
``date +%Y%m%d_%H%M%S``), so an operator can ask for "the backup of one hour ago" and get the newest one taken
at or before that moment. Each backup carries a manifest of per-table row counts and content checksums taken
inside the same snapshot as the dump; verification restores the dump elsewhere and compares.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"
_TIMESTAMP = re.compile(r"^\d{8}_\d{6}$")
_BACKUP_NAME = re.compile(r"^freeagentics_(?:(?P<kind>config)_)?(?P<stamp>\d{8}_\d{6})\.(?P<suffix>[a-z.]+)$")


class BackupPolicyError(ValueError):
    """A timestamp or retention value an operator typed that cannot be used."""


def format_timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> dt.datetime:
    """``20260127_031500`` (UTC) → an aware datetime; anything else raises :class:`BackupPolicyError`."""
    if not _TIMESTAMP.fullmatch(text):
        raise BackupPolicyError(f"timestamp {text!r} is not YYYYmmdd_HHMMSS")
    try:
        return dt.datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise BackupPolicyError(f"timestamp {text!r} is not a real date and time: {exc}") from None


def backup_file_name(kind: str, moment: dt.datetime) -> str:
    """The file name of a ``postgresql``, ``sqlite`` or ``config`` backup taken at ``moment``."""
    stamp = format_timestamp(moment)
    suffixes = {"postgresql": "sql.gz", "sqlite": "sqlite.gz"}
    if kind == "config":
        return f"freeagentics_config_{stamp}.tar.gz"
    if kind not in suffixes:
        raise BackupPolicyError(f"unknown backup kind {kind!r}")
    return f"freeagentics_{stamp}.{suffixes[kind]}"


def taken_at_of(file_name: str) -> dt.datetime | None:
    """The moment encoded in a backup file name, or ``None`` for files that are not backups."""
    match = _BACKUP_NAME.fullmatch(file_name)
    if match is None or match["suffix"] not in ("sql.gz", "sqlite.gz", "tar.gz"):
        return None
    try:
        return parse_timestamp(match["stamp"])
    except BackupPolicyError:
        return None


@dataclass(frozen=True)
class BackupEntry:
    name: str
    taken_at: dt.datetime
    size_bytes: int

    def __post_init__(self) -> None:
        if self.taken_at.tzinfo is None:
            raise ValueError("taken_at must be timezone-aware")
        if self.size_bytes < 0:
            raise ValueError("size_bytes must not be negative")


def expired(entries: Iterable[BackupEntry], now: dt.datetime, keep_days: int) -> list[BackupEntry]:
    """Backups older than ``keep_days``; the newest backup is never expired, however old it is."""
    if keep_days < 1:
        raise BackupPolicyError("keep_days must be at least 1")
    ordered = sorted(entries, key=lambda entry: entry.taken_at)
    if not ordered:
        return []
    cutoff = now - dt.timedelta(days=keep_days)
    return [entry for entry in ordered[:-1] if entry.taken_at < cutoff]


def select_at_or_before(entries: Iterable[BackupEntry], moment: dt.datetime) -> BackupEntry | None:
    """The newest backup taken at or before ``moment`` (what "restore to one hour ago" means)."""
    candidates = [entry for entry in entries if entry.taken_at <= moment]
    return max(candidates, key=lambda entry: entry.taken_at, default=None)


@dataclass(frozen=True)
class TableDigest:
    """Row count and an order-independent checksum of one table's contents."""

    rows: int
    checksum: str

    def __post_init__(self) -> None:
        if self.rows < 0:
            raise ValueError("rows must not be negative")


def manifest_differences(expected: Mapping[str, TableDigest], actual: Mapping[str, TableDigest]) -> list[str]:
    """One line per table that is missing, extra, or differs in rows or checksum; empty when they match."""
    problems = [
        f"table {table} is missing after restore" for table in sorted(expected.keys() - actual.keys())
    ]
    problems.extend(
        f"table {table} appeared after restore but is not in the manifest"
        for table in sorted(actual.keys() - expected.keys())
    )
    for table in sorted(expected.keys() & actual.keys()):
        want, got = expected[table], actual[table]
        if want.rows != got.rows:
            problems.append(f"table {table}: {got.rows} rows restored, {want.rows} backed up")
        elif want.checksum != got.checksum:
            problems.append(f"table {table}: content checksum differs ({got.checksum} != {want.checksum})")
    return problems


def backup_age_hours(last_success: dt.datetime | None, now: dt.datetime) -> float | None:
    if last_success is None:
        return None
    return max(0.0, (now - last_success).total_seconds() / 3600)


def newest(entries: Sequence[BackupEntry]) -> BackupEntry | None:
    return max(entries, key=lambda entry: entry.taken_at, default=None)
