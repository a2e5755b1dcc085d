"""The report scripts against a real running server: live agent steps and process memory, not "unavailable"."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.test_server_process import REPO_ROOT, ServerProcess, start_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(tmp_path, sys.executable, str(REPO_ROOT / "main.py"))
    yield running
    running.process.terminate()
    try:
        running.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()


def run_script(server: ServerProcess, script: str, *args: str) -> dict:
    env = {
        "PATH": str(Path(sys.executable).parent),
        "FREEAGENTICS_DATA_DIR": str(server.data_dir),
        "FREEAGENTICS_PORT": server.base_url.rsplit(":", 1)[1],
        "FREEAGENTICS_LOG_STDOUT": "false",
        "FREEAGENTICS_ENV_FILE": "/dev/null",
    }
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / script), "--format", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_daily_report_reads_agent_steps_from_the_server(server: ServerProcess) -> None:
    payload = run_script(server, "monitoring/generate_daily_report.py")
    runtime = payload["runtime"]
    assert runtime["reachable"] is True, runtime
    assert runtime["source"] == f"{server.base_url}/metrics"
    assert runtime["agent_steps_total"] == 0.0  # the counter exists from the start; no demo world here
    assert set(runtime["agents_by_status"]) >= {"created", "running", "stopped", "error"}


def test_memory_profiler_reads_the_server_and_finds_its_process(server: ServerProcess) -> None:
    payload = run_script(server, "memory_profiler.py")
    assert payload["server"]["reachable"] is True
    assert payload["server"]["components"]["process.memory_rss_bytes"] > 0
    assert server.process.pid in {process["pid"] for process in payload["processes"]}
