"""Blue-green end to end on loopback with the production scripts: blue and green app instances on one
PostgreSQL database behind nginx, traffic switched to green under a light bounded load with zero 5xx and
zero failed requests, then switched back to blue."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import free_port
from tests.deploy.nginx_support import Nginx, start_nginx

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts" / "deployment"
pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@dataclass
class Site:
    env: dict[str, str]
    nginx: Nginx
    state_dir: Path
    ports: dict[str, int]

    def run(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPTS / script), *args], env=self.env, capture_output=True, text=True, timeout=180
        )

    def ok(self, script: str, *args: str) -> str:
        result = self.run(script, *args)
        assert result.returncode == 0, f"{script} {args}: {result.stderr[-3000:]}"
        return result.stderr

    def live_requests_served(self, color: str) -> float:
        response = httpx.get(f"http://127.0.0.1:{self.ports[color]}/metrics", timeout=5)
        assert response.status_code == 200, response.text
        text = response.text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "http_requests_total" and sample.labels == {
                    "method": "GET",
                    "route": "/health/live",
                    "status": "200",
                }:
                    return sample.value
        return 0.0


@pytest.fixture
def site(tmp_path: Path, postgres_url: str) -> Iterator[Site]:
    ports = {"blue": free_port(), "green": free_port()}
    nginx = start_nginx(tmp_path, ports["blue"])
    state_dir = tmp_path / "deploy-state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREEAGENTICS_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(
        {
            "FREEAGENTICS_HOME": str(REPO_ROOT),
            "FREEAGENTICS_BIN": str(REPO_ROOT / ".venv" / "bin" / "freeagentics"),
            "FREEAGENTICS_ENV_FILE": os.devnull,
            "FREEAGENTICS_DEPLOY_MODE": "process",
            "FREEAGENTICS_DEPLOY_STATE_DIR": str(state_dir),
            "FREEAGENTICS_BLUE_PORT": str(ports["blue"]),
            "FREEAGENTICS_GREEN_PORT": str(ports["green"]),
            "FREEAGENTICS_NGINX_UPSTREAM": str(nginx.upstream_file),
            "NGINX_BIN": nginx.binary,
            "NGINX_ARGS": " ".join(nginx.control_args),
            "FREEAGENTICS_PUBLIC_URL": nginx.https_url,
            "FREEAGENTICS_CURL_CA": str(nginx.cert),
            "FREEAGENTICS_DATABASE_URL": postgres_url,
            "FREEAGENTICS_DATA_DIR": str(tmp_path / "data"),
            "FREEAGENTICS_LOG_STDOUT": "false",
            "FREEAGENTICS_DEMO_WORLD": "false",
            "FREEAGENTICS_SECURITY_TRUSTED_PROXIES": "127.0.0.1/32",
        }
    )
    yield Site(env, nginx, state_dir, ports)
    for pid_file in state_dir.glob("*.pid"):
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    nginx.stop()


@dataclass
class Load:
    """GET /health/live through nginx, one new TLS connection per request, until stopped (bounded).

    About 4 requests a second from one address, plus the test's own scrapes: light enough to stay under
    the app's per-address read limit (600 a minute), as a real client would.
    """

    url: str
    cafile: Path
    max_requests: int = 1500
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        context = ssl.create_default_context(cafile=str(self.cafile))
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(verify=context, limits=limits, timeout=10) as client:
            for _ in range(self.max_requests):
                if self.stop.is_set():
                    return
                try:
                    self.statuses[client.get(f"{self.url}/health/live").status_code] += 1
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                time.sleep(0.25)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + len(self.failures)


def wait_for_traffic(site: Site, color: str, more_than: float, load: Load) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not load.stop.is_set():
        if site.live_requests_served(color) > more_than:
            return
        time.sleep(1.0)
    raise AssertionError(f"{color} got no traffic after the switch")


def test_switch_to_green_and_back_under_load_without_errors(site: Site) -> None:
    site.ok("deploy-production.sh", "blue")
    site.ok("smoke-tests.sh", "blue")
    site.ok("switch-traffic.sh", "blue")
    site.ok("verify-deployment.sh")
    assert (site.state_dir / "active_color").read_text().strip() == "blue"

    load = Load(site.nginx.https_url, site.nginx.cert)
    worker = threading.Thread(target=load.run, daemon=True)
    worker.start()
    try:
        blue_before = site.live_requests_served("blue")
        wait_for_traffic(site, "blue", blue_before + 5, load)

        site.ok("deploy-production.sh", "green")
        site.ok("smoke-tests.sh", "green")
        green_before = site.live_requests_served("green")
        site.ok("switch-traffic.sh", "green")
        wait_for_traffic(site, "green", green_before + 10, load)
        site.ok("verify-deployment.sh")

        blue_after_switch = site.live_requests_served("blue")
        site.ok("switch-traffic.sh", "blue")
        wait_for_traffic(site, "blue", blue_after_switch + 10, load)
        site.ok("verify-deployment.sh")
    finally:
        load.stop.set()
        worker.join(timeout=30)

    assert load.failures == []
    assert load.total >= 30
    assert set(load.statuses) == {200}, load.statuses
    assert (site.state_dir / "active_color").read_text().strip() == "blue"
    upstream = site.nginx.upstream_file.read_text()
    assert f"server 127.0.0.1:{site.ports['blue']};" in upstream
    assert f"server 127.0.0.1:{site.ports['green']} backup;" in upstream


def test_the_scripts_refuse_unsafe_steps(site: Site) -> None:
    usage = site.run("switch-traffic.sh", "purple")
    assert usage.returncode == 1
    assert "usage: switch-traffic.sh <blue|green>" in usage.stderr

    not_ready = site.run("switch-traffic.sh", "green")
    assert not_ready.returncode == 1
    assert "is not ready" in not_ready.stderr
    assert not (site.state_dir / "active_color").exists()

    site.ok("deploy-production.sh", "blue")
    site.ok("switch-traffic.sh", "blue")
    onto_live = site.run("deploy-production.sh", "blue")
    assert onto_live.returncode == 1
    assert "blue serves traffic now" in onto_live.stderr

    failing_smoke = site.run("smoke-tests.sh", "green")
    assert failing_smoke.returncode == 1
    assert "green failed 6 smoke test(s)" in failing_smoke.stderr


def test_a_rejected_nginx_config_restores_the_previous_upstream(site: Site) -> None:
    site.ok("deploy-production.sh", "blue")
    site.ok("switch-traffic.sh", "blue")
    before = site.nginx.upstream_file.read_text()
    (site.nginx.prefix / "site.conf").write_text(
        (site.nginx.prefix / "site.conf").read_text() + "\nthis_is_not_a_directive;\n"
    )
    result = site.run("switch-traffic.sh", "blue")
    assert result.returncode == 1
    assert "previous one restored" in result.stderr
    assert site.nginx.upstream_file.read_text() == before
    with site.nginx.client() as client:
        assert client.get(f"{site.nginx.https_url}/health/live").status_code == 200
