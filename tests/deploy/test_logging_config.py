"""deploy/logging and deploy/curl-format.txt: logrotate accepts the file and, forced against a running server,
rotates its logs without losing a line; Filebeat reads the three JSON logs with the app's field names."""

from __future__ import annotations

import grp
import json
import logging
import os
import pwd
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from tests.conftest import missing_service
from tests.e2e.test_server_process import ServerProcess, start_server
from tests.server_support import wait_for_log_text

from freeagentics.infra.logging import JsonFormatter, request_id_var

REPO_ROOT = Path(__file__).resolve().parents[2]
LOGROTATE_CONF = REPO_ROOT / "deploy" / "logging" / "logrotate.conf"
FILEBEAT_CONF = REPO_ROOT / "deploy" / "logging" / "filebeat.yml"
CURL_FORMAT = REPO_ROOT / "deploy" / "curl-format.txt"
POSTROTATE = "systemctl reload freeagentics.service 'freeagentics@*.service' >/dev/null 2>&1 || true"


def logrotate() -> str:
    found = shutil.which("logrotate") or shutil.which("logrotate", path="/usr/sbin")
    if found is None:
        missing_service("logrotate is not installed")
    assert found is not None
    return found


def render_logrotate(log_dir: Path, postrotate: str = POSTROTATE) -> str:
    """The production file for a test log dir, owned by the current user (no freeagentics user here)."""
    text = LOGROTATE_CONF.read_text()
    assert text.count(POSTROTATE) == 2
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    return (
        text.replace("/var/log/freeagentics", str(log_dir))
        .replace("freeagentics freeagentics", f"{user} {group}")
        .replace(POSTROTATE, postrotate)
    )


def test_logrotate_debug_run_accepts_the_file(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir(mode=0o755)
    for name in ("error.log", "agents.log", "access.log", "security_audit.log"):
        (log_dir / name).write_text('{"event": "x"}\n')
    conf = tmp_path / "freeagentics"
    conf.write_text(render_logrotate(log_dir))
    result = subprocess.run(
        [logrotate(), "-d", "-s", str(tmp_path / "state"), str(conf)], capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "error:" not in output.lower(), output
    assert "rotating pattern: " in output
    assert "14 rotations" in output
    assert "52 rotations" in output


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(tmp_path, sys.executable, str(REPO_ROOT / "main.py"))
    yield running
    running.process.kill()
    running.process.wait()


@pytest.mark.e2e
def test_forced_rotation_against_a_running_server_keeps_every_line(
    server: ServerProcess, tmp_path: Path
) -> None:
    httpx.get(f"{server.base_url}/health/live", headers={"X-Request-ID": "before-rotation"})
    assert "before-rotation" in wait_for_log_text(server.log_dir / "access.log", "before-rotation")
    conf = tmp_path / "freeagentics-logrotate"
    # The postrotate command is the only substitution: no systemd here, so signal the process directly.
    conf.write_text(render_logrotate(server.log_dir, f"kill -HUP {server.process.pid}"))
    result = subprocess.run(
        [logrotate(), "-f", "-s", str(tmp_path / "state"), str(conf)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rotated = sorted(server.log_dir.glob("access.log-*"))
    assert len(rotated) == 1
    assert "before-rotation" in rotated[0].read_text()
    httpx.get(f"{server.base_url}/health/live", headers={"X-Request-ID": "after-rotation"})
    current = server.log_dir / "access.log"
    assert "after-rotation" in wait_for_log_text(current, "after-rotation")
    assert "after-rotation" not in rotated[0].read_text()
    assert oct(current.stat().st_mode & 0o777) == "0o640"


def test_filebeat_ships_the_three_logs_as_json() -> None:
    config = yaml.safe_load(FILEBEAT_CONF.read_text())
    inputs = {item["id"]: item for item in config["filebeat.inputs"]}
    paths = {item["paths"][0] for item in inputs.values()}
    assert paths == {
        "/var/log/freeagentics/error.log",
        "/var/log/freeagentics/agents.log",
        "/var/log/freeagentics/security_audit.log",
    }
    for item in inputs.values():
        assert item["type"] == "filestream"
        ndjson = item["parsers"][0]["ndjson"]
        assert ndjson["target"] == ""
        assert ndjson["message_key"] == "event"
    assert {item["fields"]["log.type"] for item in inputs.values()} == {"error", "agents", "security_audit"}


def test_filebeat_field_mapping_matches_the_app_log_lines() -> None:
    config = yaml.safe_load(FILEBEAT_CONF.read_text())
    processors = {next(iter(p)): next(iter(p.values())) for p in config["processors"]}
    token = request_id_var.set("req-1")
    try:
        record = logging.LogRecord(
            "freeagentics.audit", logging.WARNING, __file__, 1, "login_failed", None, None
        )
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert processors["timestamp"]["field"] in line
    # Go layout "2006-01-02T15:04:05.000Z07:00" is exactly this shape.
    assert processors["timestamp"]["layouts"] == ["2006-01-02T15:04:05.000Z07:00"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", processors["timestamp"]["test"][0])
    renamed = {item["from"] for item in processors["rename"]["fields"]}
    assert renamed <= set(line)
    assert line["event"] == "login_failed"


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


def test_curl_format_file_prints_the_timings() -> None:
    curl = shutil.which("curl")
    if curl is None:
        missing_service("curl is not installed")
    assert curl is not None
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = subprocess.run(
            [
                curl,
                "-w",
                f"@{CURL_FORMAT}",
                "-s",
                "-o",
                "/dev/null",
                f"http://127.0.0.1:{server.server_address[1]}/health",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        server.shutdown()
    timings = {
        key.strip(): value.strip()
        for key, value in (line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    }
    assert set(timings) >= {
        "time_connect",
        "time_starttransfer",
        "time_total",
        "http_code",
    }
    assert float(timings["time_total"].rstrip("s")) >= 0
    assert timings["http_code"] == "200"
