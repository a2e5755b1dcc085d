"""Real server processes: checkpoints survive SIGTERM and SIGKILL, and exactly one process steps the agents
of a database (PostgreSQL advisory lock, or the file lock of the embedded default), with take-over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import TEST_PASSWORD, free_port
from tests.services.runtime.runtime_api_helpers import SMALL_WORLD, wait_for_sync, write_config_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "freeagentics")
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    token: str = ""
    log: Path = field(default_factory=Path)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", headers=self.headers(), timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.base_url}{path}", headers=self.headers(), timeout=60, **kwargs)

    def metrics(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/api/v1/system/metrics", timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def status(self, agent_id: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/agents/{agent_id}/status")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def login(self, username: str) -> None:
        response = httpx.post(
            f"{self.base_url}/api/v1/auth/login",
            json={"username": username, "password": TEST_PASSWORD},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]


class Cluster:
    """Server processes sharing one data dir or database; stops whatever is left at the end."""

    def __init__(self, tmp_path: Path, database_url: str | None) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.config_dir = write_config_dir(tmp_path / "config", checkpoint_every_ticks=5)
        self.servers: list[Server] = []

    def env(self, data_dir: Path, port: int | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FREEAGENTICS_")}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        env.update(
            {
                "FREEAGENTICS_DATA_DIR": str(data_dir),
                "FREEAGENTICS_CONFIG_DIR": str(self.config_dir),
                "FREEAGENTICS_LOG_STDOUT": "false",
                "FREEAGENTICS_DEMO_WORLD": "false",
                "FREEAGENTICS_ENV_FILE": os.devnull,
                "FREEAGENTICS_AUTH_ARGON2_TIME_COST": "2",
                "FREEAGENTICS_AUTH_ARGON2_MEMORY_KIB": "19456",
            }
        )
        if port is not None:
            env["FREEAGENTICS_PORT"] = str(port)
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        return env

    def cli(self, data_dir: Path, *args: str, stdin: str | None = None) -> None:
        result = subprocess.run(
            [CLI, *args], env=self.env(data_dir), input=stdin, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self, data_dir: Path) -> Server:
        port = free_port()
        log = self.tmp_path / f"server-{len(self.servers)}.stderr"
        process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "main.py")],
            cwd=self.tmp_path,
            env=self.env(data_dir, port),
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        server = Server(process, f"http://127.0.0.1:{port}", log=log)
        self.servers.append(server)

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}: {log.read_text()[-3000:]}")
            try:
                return httpx.get(f"{server.base_url}/health/live", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for_sync(healthy, bool, timeout_s=120, what="server to become healthy")
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()


@pytest.fixture
def sqlite_cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, None)
    yield cluster
    cluster.stop_all()


@pytest.fixture
def postgres_cluster(tmp_path: Path, postgres_url: str) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, postgres_url)
    cluster.cli(tmp_path / "data-migrate", "db", "upgrade")
    yield cluster
    cluster.stop_all()


def _create_agents(server: Server, running: int, stopped: int) -> tuple[str, list[str], list[str]]:
    world = server.post("/api/v1/worlds", json={"name": "persist", "spec": SMALL_WORLD, "seed": 3})
    assert world.status_code == 201, world.text
    world_id = world.json()["id"]
    agents = [
        {"name": f"a{i}", "world_id": world_id, "template": "grid_explorer", "parameters": {"seed": i}}
        for i in range(running + stopped)
    ]
    created = server.post("/api/v1/agents/batch", json={"agents": agents})
    assert created.status_code == 201, created.text
    ids = [str(a) for a in created.json()["ids"]]
    return world_id, ids[:running], ids[running:]


def _beliefs(server: Server, agent_id: str) -> dict[str, Any]:
    response = server.get(f"/api/v1/agents/{agent_id}/beliefs")
    assert response.status_code == 200, response.text
    body = dict(response.json())
    return {"factors": body["factors"], "policy": body["policy_posterior"], "tick": body["tick"]}


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_agents_come_back_from_their_checkpoint_after_a_restart(
    sqlite_cluster: Cluster, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    data_dir = tmp_path / "data"
    server = sqlite_cluster.start(data_dir)
    sqlite_cluster.cli(
        data_dir, "users", "create", "root", "--role", "admin", "--password-stdin", stdin=TEST_PASSWORD
    )
    server.login("root")
    _, running, to_stop = _create_agents(server, running=3, stopped=2)
    wait_for_sync(
        lambda: min(server.status(a)["ticks"] or 0 for a in running + to_stop), lambda t: t >= 6, what="ticks"
    )
    for agent_id in to_stop:
        response = server.post(f"/api/v1/agents/{agent_id}/stop")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "stopped"
    frozen = {agent_id: _beliefs(server, agent_id) for agent_id in to_stop}
    ticks_at_stop = {agent_id: server.status(agent_id)["ticks"] for agent_id in running}
    checkpoints_at_stop = server.metrics()["tick"]["checkpoints"]
    # A checkpoint taken after the stop holds the frozen beliefs (SIGKILL leaves no final checkpoint).
    wait_for_sync(
        lambda: server.metrics()["tick"]["checkpoints"],
        lambda n: n >= checkpoints_at_stop + 2,
        what="checkpoints",
    )

    server.process.send_signal(stop_signal)
    code = server.process.wait(timeout=60)
    assert code == (0 if stop_signal == signal.SIGTERM else -signal.SIGKILL)

    again = sqlite_cluster.start(data_dir)
    again.login("root")
    listed = again.get("/api/v1/agents", params={"limit": 50})
    assert listed.json()["total"] == 5
    statuses = {a["id"]: a["status"] for a in listed.json()["items"]}
    assert statuses == {**dict.fromkeys(running, "running"), **dict.fromkeys(to_stop, "stopped")}
    first_seen = {
        agent_id: wait_for_sync(
            lambda a=agent_id: again.status(a), lambda s: s["live"], what="live after restart"
        )
        for agent_id in running + to_stop
    }
    for agent_id in to_stop:
        assert _beliefs(again, agent_id) == frozen[agent_id]
        assert first_seen[agent_id]["state"] == "stopped"
    for agent_id in running:
        # Restored from a checkpoint taken after the stop, not from the priors ...
        assert first_seen[agent_id]["ticks"] >= ticks_at_stop[agent_id]
        # ... and running on from there.
        wait_for_sync(
            lambda a=agent_id: again.status(a)["ticks"],
            lambda t, a=agent_id: t > first_seen[a]["ticks"] + 2,
            what="running agents to resume",
        )
    for agent_id in to_stop:
        assert _beliefs(again, agent_id) == frozen[agent_id], "stopped agents stay frozen"


def _owners(servers: list[Server]) -> list[bool]:
    return [server.metrics()["runtime"]["owner"] for server in servers]


def _take_over(first: Server, second: Server, username: str) -> None:
    """Exactly one of two servers steps; kill -9 it; the other takes over and steps the agents."""
    owners = wait_for_sync(
        lambda: _owners([first, second]), lambda o: sum(o) == 1, timeout_s=60, what="one owner"
    )
    for _ in range(5):
        assert _owners([first, second]) == owners, "ownership is stable while both live"
    owner, standby = (first, second) if owners[0] else (second, first)
    for server in (owner, standby):
        server.login(username)
    # Created through the standby: the owner applies it from the database.
    _, running, _ = _create_agents(standby, running=3, stopped=0)
    wait_for_sync(
        lambda: owner.status(running[0]), lambda s: s["live"] and s["ticks"] >= 3, what="owner steps"
    )
    assert standby.status(running[0])["live"] is False, "the standby does not step"
    assert standby.metrics()["tick"]["count"] == 0

    owner.process.kill()
    owner.process.wait(timeout=30)
    wait_for_sync(lambda: standby.metrics()["runtime"]["owner"], bool, timeout_s=60, what="take-over")
    first_seen = wait_for_sync(
        lambda: standby.status(running[0]), lambda s: s["live"], what="live on new owner"
    )
    wait_for_sync(
        lambda: standby.status(running[0])["ticks"],
        lambda t: t > (first_seen["ticks"] or 0) + 3,
        what="the new owner to step the agents",
    )
    assert standby.metrics()["agent_processing_rate"] > 0


def test_two_processes_on_one_postgresql_database_one_steps_and_the_other_takes_over(
    postgres_cluster: Cluster, tmp_path: Path
) -> None:
    first = postgres_cluster.start(tmp_path / "data-a")
    second = postgres_cluster.start(tmp_path / "data-b")
    postgres_cluster.cli(
        tmp_path / "data-a",
        "users",
        "create",
        "ops",
        "--role",
        "admin",
        "--password-stdin",
        stdin=TEST_PASSWORD,
    )
    _take_over(first, second, "ops")


def test_two_processes_on_one_sqlite_data_dir_one_steps_and_the_other_takes_over(
    sqlite_cluster: Cluster, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = sqlite_cluster.start(data_dir)
    second = sqlite_cluster.start(data_dir)
    sqlite_cluster.cli(
        data_dir, "users", "create", "root", "--role", "admin", "--password-stdin", stdin=TEST_PASSWORD
    )
    _take_over(first, second, "root")
