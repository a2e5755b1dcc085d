"""Reading JSON-lines logs with their rotated copies, a time window and torn lines."""

from __future__ import annotations

import datetime as dt
import gzip
import json

from freeagentics.infra.log_reader import log_files, read_log

NOW = dt.datetime(2026, 1, 27, 12, 0, tzinfo=dt.UTC)


def line(minutes_ago: float, event: str) -> str:
    moment = NOW - dt.timedelta(minutes=minutes_ago)
    return json.dumps({"time": moment.isoformat(timespec="milliseconds"), "event": event}) + "\n"


def test_current_and_rotated_files_are_read_in_order_within_the_window(tmp_path) -> None:
    (tmp_path / "security_audit.log").write_text(
        line(1, "newest") + "not json\n" + '{"event": "no time"}\n' + "\n"
    )
    (tmp_path / "security_audit.log.1").write_text(line(60, "rotated-once"))
    with gzip.open(tmp_path / "security_audit.log.2.gz", "wt") as handle:
        handle.write(line(600, "compressed") + line(5000, "outside-window"))
    (tmp_path / "security_audit.log.bak").write_text(line(2, "not-a-rotation"))
    (tmp_path / "access.log").write_text(line(1, "other log"))

    assert [path.name for path in log_files(tmp_path, "security_audit.log")] == [
        "security_audit.log.2.gz",
        "security_audit.log.1",
        "security_audit.log",
    ]
    scan = read_log(tmp_path, "security_audit.log", NOW - dt.timedelta(hours=24), NOW)
    assert [record["event"] for record in scan.records] == ["compressed", "rotated-once", "newest"]
    assert scan.malformed_lines == 2
    assert all(record["time"].tzinfo is not None for record in scan.records)


def test_missing_log_dir_reads_as_empty(tmp_path) -> None:
    scan = read_log(tmp_path / "nope", "error.log", NOW - dt.timedelta(hours=1), NOW)
    assert scan.records == []
    assert scan.files == []


def test_damaged_gzip_rotation_is_counted_not_fatal(tmp_path) -> None:
    (tmp_path / "error.log.2.gz").write_bytes(gzip.compress(line(5, "x").encode())[:-8])
    (tmp_path / "error.log").write_text(line(1, "ok"))
    scan = read_log(tmp_path, "error.log", NOW - dt.timedelta(hours=1), NOW)
    assert [record["event"] for record in scan.records][-1] == "ok"
    assert scan.malformed_lines >= 1


def test_keep_drops_fields_a_report_does_not_use(tmp_path) -> None:
    record = {"time": NOW.isoformat(), "event": "http_request", "route": "/health", "headers": "x" * 1000}
    (tmp_path / "access.log").write_text(json.dumps(record) + "\n")
    scan = read_log(
        tmp_path,
        "access.log",
        NOW - dt.timedelta(hours=1),
        NOW + dt.timedelta(seconds=1),
        frozenset({"route"}),
    )
    assert scan.records == [{"route": "/health", "time": NOW}]
