"""The real server process on the embedded default: health, SIGHUP with a broken YAML, SIGTERM -> exit 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port
from tests.server_support import embedded_server_env, wait_for_log_text, wait_until_healthy

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    data_dir: Path

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def config_dir(self) -> Path:
        return self.data_dir / "config"


def start_server(tmp_path: Path, *command: str) -> ServerProcess:
    port = free_port()
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [*command],
        cwd=tmp_path,
        env=embedded_server_env(data_dir, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", data_dir)
    try:
        wait_until_healthy(server.base_url, process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(tmp_path, sys.executable, str(REPO_ROOT / "main.py"))
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_health_then_sighup_with_broken_yaml_keeps_serving_then_sigterm_exits_0(
    server: ServerProcess,
) -> None:
    body = httpx.get(f"{server.base_url}/health").json()
    assert body["status"] == "healthy"
    assert body["components"]["database"]["dialect"] == "sqlite"

    (server.config_dir / "rate_limiting.yaml").write_text("classes: {auth: [not, a, rule]\n")
    server.process.send_signal(signal.SIGHUP)
    audit_log = server.log_dir / "security_audit.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "config_reload_failed" not in audit_log.read_text():
        time.sleep(0.1)
    events = [json.loads(line)["event"] for line in audit_log.read_text().splitlines()]
    assert "config_reload_failed" in events
    assert server.process.poll() is None
    assert httpx.get(f"{server.base_url}/health").status_code == 200

    (server.config_dir / "rate_limiting.yaml").unlink()
    server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "config_reloaded" not in audit_log.read_text():
        time.sleep(0.1)
    assert "config_reloaded" in [json.loads(line)["event"] for line in audit_log.read_text().splitlines()]

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0


def test_sighup_reopens_log_files_moved_by_logrotate(server: ServerProcess) -> None:
    access_log = server.log_dir / "access.log"
    httpx.get(f"{server.base_url}/health/live")
    rotated = server.log_dir / "access.log.1"
    access_log.rename(rotated)
    server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not access_log.exists():
        httpx.get(f"{server.base_url}/health/live")
        time.sleep(0.1)
    httpx.get(f"{server.base_url}/health/live", headers={"X-Request-ID": "after-rotation"})
    assert "after-rotation" in wait_for_log_text(access_log, "after-rotation")
    assert "after-rotation" not in rotated.read_text()


def test_cprofile_run_of_main_py_writes_stats_on_sigterm(tmp_path: Path) -> None:
    stats = tmp_path / "profile.stats"
    running = start_server(
        tmp_path, sys.executable, "-m", "cProfile", "-o", str(stats), str(REPO_ROOT / "main.py")
    )
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=30) == 0
    assert stats.stat().st_size > 0
