"""Read the JSON-lines log files (``access.log``, ``security_audit.log``, ``error.log``) for a time window.

A log is read together with its logrotate siblings (``name.1``, ``name.2.gz``, ...), so a weekly or monthly
report still sees last week's lines after rotation. Lines that are not JSON objects with a parseable ``time``
are counted, not fatal: an operator's report must not die on one torn line.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

_ROTATED = re.compile(r"^\.(\d+)(\.gz)?$")


@dataclass
class LogScan:
    """The records of one log within a window, plus what could not be read."""

    name: str
    records: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    malformed_lines: int = 0


def log_files(log_dir: Path, name: str) -> list[Path]:
    """``name`` and its rotated copies, oldest first."""
    rotated: list[tuple[int, Path]] = []
    if log_dir.is_dir():
        for path in log_dir.iterdir():
            if path.name.startswith(name) and path.is_file():
                match = _ROTATED.fullmatch(path.name[len(name) :])
                if match:
                    rotated.append((int(match[1]), path))
    ordered = [path for _, path in sorted(rotated, reverse=True)]
    current = log_dir / name
    if current.is_file():
        ordered.append(current)
    return ordered


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def _lines(path: Path) -> Iterator[str]:
    with _open(path) as handle:
        yield from handle


def read_log(
    log_dir: Path,
    name: str,
    since: dt.datetime,
    until: dt.datetime,
    keep: frozenset[str] | None = None,
) -> LogScan:
    """Every record of ``name`` whose ``time`` is in ``[since, until)``, each with ``time`` as a datetime.

    ``keep`` names the fields a report needs; other fields are dropped as lines are read, so a month of a
    busy ``access.log`` costs a few small dicts per request rather than every field of every line.
    """
    scan = LogScan(name=name)
    for path in log_files(log_dir, name):
        scan.files.append(path)
        try:
            for line in _lines(path):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    scan.malformed_lines += 1
                    continue
                moment = parse_time(record.get("time")) if isinstance(record, dict) else None
                if moment is None:
                    scan.malformed_lines += 1
                    continue
                if since <= moment < until:
                    if keep is not None:
                        record = {key: value for key, value in record.items() if key in keep}
                    record["time"] = moment
                    scan.records.append(record)
        except (OSError, EOFError):
            scan.malformed_lines += 1
    scan.records.sort(key=lambda record: record["time"])
    return scan


def tail_records(log_dir: Path, name: str, limit: int, tail_bytes: int = 1 << 20) -> list[dict[str, Any]]:
    """The last ``limit`` JSON records of the current ``name`` log, newest first.

    Reads at most the last ``tail_bytes`` of the file, so a long log costs the same as a short one; the first
    (possibly partial) line of that window is skipped.
    """
    path = log_dir / name
    if not path.is_file():
        return []
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        start = max(0, size - tail_bytes)
        handle.seek(start)
        chunk = handle.read()
    lines = chunk.decode("utf-8", errors="replace").splitlines()
    if start > 0 and lines:
        lines = lines[1:]
    records: list[dict[str, Any]] = []
    for line in reversed(lines):
        if len(records) >= limit:
            break
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
