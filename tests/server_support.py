"""Starting a real server process for end-to-end tests: its environment and the wait for health."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx


def embedded_server_env(data_dir: Path, port: int) -> dict[str, str]:
    """This process's environment minus any FreeAgentics settings, plus an embedded default in ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREEAGENTICS_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(
        {
            "FREEAGENTICS_DATA_DIR": str(data_dir),
            "FREEAGENTICS_PORT": str(port),
            "FREEAGENTICS_LOG_STDOUT": "false",
            "FREEAGENTICS_DEMO_WORLD": "false",
            "FREEAGENTICS_ENV_FILE": os.devnull,
        }
    )
    return env


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    """Poll ``/health`` until 200; fail at once if the process exits, and after ``timeout_s`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr is not None else b""
            raise AssertionError(f"server exited early with {process.returncode}: {stderr!r}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become healthy in time")


def wait_for_log_text(path: Path, text: str, timeout_s: float = 10.0) -> str:
    """The file's text once it contains ``text`` (or at the deadline): a server writes its access line after
    the response has gone out, so a client that got the response may read the log first."""
    deadline = time.monotonic() + timeout_s
    content = path.read_text() if path.exists() else ""
    while text not in content and time.monotonic() < deadline:
        time.sleep(0.05)
        content = path.read_text() if path.exists() else ""
    return content
