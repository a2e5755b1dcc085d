"""Several uvicorn worker processes with ``PROMETHEUS_MULTIPROC_DIR``: whichever worker answers the scrape,
``/metrics`` reports the requests of all of them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import free_port
from tests.server_support import wait_until_healthy

pytestmark = pytest.mark.e2e
WORKERS = 2


@pytest.fixture
def multiworker_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREEAGENTICS_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(
        {
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
            "FREEAGENTICS_DATA_DIR": str(tmp_path / "data"),
            "FREEAGENTICS_LOG_STDOUT": "false",
            "FREEAGENTICS_DEMO_WORLD": "false",
            "FREEAGENTICS_ENV_FILE": os.devnull,
        }
    )
    # Migrate once up front so the workers do not race each other creating the SQLite schema.
    subprocess.run(
        [sys.executable, "-m", "freeagentics.cli.main", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "freeagentics.api.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
            "--no-access-log",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, process, timeout_s=60)
        yield base_url, multiproc_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def live_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels == {
                "method": "GET",
                "route": "/health/live",
                "status": "200",
            }:
                return sample.value
    return 0.0


def live_count_per_worker(multiproc_dir: Path) -> dict[str, float]:
    """The /health/live counter as each worker process wrote it to its own file."""
    counts = {}
    for path in multiproc_dir.glob("counter_*.db"):
        counts[path.stem.removeprefix("counter_")] = sum(
            value
            for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(str(path))
            if '"/health/live"' in key and '"http_requests_total"' in key and '"200"' in key
        )
    return counts


def test_every_scrape_sums_all_workers(multiworker_server: tuple[str, Path]) -> None:
    base_url, multiproc_dir = multiworker_server
    requests = 60
    for _ in range(requests):
        # A new connection each time, so the kernel spreads them over the workers.
        with httpx.Client() as client:
            response = client.get(f"{base_url}/health/live")
        assert response.status_code == 200
    scrapes = []
    for _ in range(6):
        with httpx.Client() as client:
            response = client.get(f"{base_url}/metrics")
        scrapes.append(response.text)
    per_worker = live_count_per_worker(multiproc_dir)
    assert len(per_worker) == WORKERS
    assert sum(per_worker.values()) == requests
    assert {live_count(text) for text in scrapes} == {requests}
    in_flight = [
        sample.value
        for family in text_string_to_metric_families(scrapes[-1])
        for sample in family.samples
        if sample.name == "http_requests_in_progress"
    ]
    assert in_flight == [1.0]  # the scrape itself, summed over live workers
