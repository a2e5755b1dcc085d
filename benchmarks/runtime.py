"""The largest population of 10x10-world explorers a running server keeps at 10 ticks/s with a p99 of
``GET /api/v1/agents/{id}/status`` below 50 ms under a steady light load.

Run: ``.venv/bin/python benchmarks/runtime.py`` (``--quick`` for a short run; ``--sizes 1000,5000``,
``--window``, ``--database-url postgresql+asyncpg://...`` for PostgreSQL instead of the embedded default;
``--in-process`` times the runtime's tick alone, without a server, to show the engine's share).

What it does: starts ``main.py`` in a temporary data dir (demo world off; rate limits off, since the
benchmark creates agents in batches of 10,000 that the ``expensive`` class would throttle; tick rate 10 Hz,
checkpoints every 50 ticks as shipped), creates an admin with the CLI, one 10x10 world without walls and
explorer agents through ``POST /api/v1/agents/batch``. For each size it waits until the runtime holds every
agent, lets it settle, then for ``--window`` seconds reads ``GET /api/v1/agents/{id}/status`` of random
agents at ``--rps`` requests per second (client-side latency) while reading the tick count and RSS from
``/api/v1/system/metrics`` and the tick-duration histogram from ``/metrics`` at both ends of the window
(percentiles interpolated within the histogram's buckets, so they cover exactly the window). It stops after
the first size whose tick rate falls below 98 % of 10 Hz or whose API p99 reaches 50 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
TICK_RATE_HZ = 10.0
API_P99_LIMIT_MS = 50.0
PASSWORD = "benchmark password 1"
WORLD = {"height": 10, "width": 10, "walls": [], "resources": [], "goals": [[9, 9]]}


@dataclass
class Row:
    agents: int
    tick_rate_hz: float
    tick_p50_ms: float
    tick_p99_ms: float
    api_p50_ms: float
    api_p99_ms: float
    api_requests: int
    rss_mb: float

    @property
    def keeps_up(self) -> bool:
        return self.tick_rate_hz >= 0.98 * TICK_RATE_HZ and self.api_p99_ms < API_P99_LIMIT_MS


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_config(config_dir: Path) -> None:
    from freeagentics.infra.config_files import default_text

    config_dir.mkdir(parents=True, exist_ok=True)
    for name in ("threading_config.yaml", "security_rules.yaml", "security_policies.yaml"):
        (config_dir / name).write_text(default_text(name))
    (config_dir / "rate_limiting.yaml").write_text(
        default_text("rate_limiting.yaml").replace("enabled: true", "enabled: false")
    )
    (config_dir / "agent_config.yaml").write_text(
        f"tick_rate_hz: {TICK_RATE_HZ}\nemergency_tick_rate_hz: 1.0\ncheckpoint_every_ticks: 50\n"
        "max_agents: 1000000\nmax_batch_create: 10000\n"
    )


class BenchServer:
    def __init__(self, workdir: Path, database_url: str | None) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config_dir = workdir / "config"
        _write_config(config_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FREEAGENTICS_")}
        env.pop("DATABASE_URL", None)
        env.update(
            {
                "FREEAGENTICS_DATA_DIR": str(workdir / "data"),
                "FREEAGENTICS_CONFIG_DIR": str(config_dir),
                "FREEAGENTICS_PORT": str(self.port),
                "FREEAGENTICS_LOG_STDOUT": "false",
                "FREEAGENTICS_DEMO_WORLD": "false",
                "FREEAGENTICS_ENV_FILE": os.devnull,
            }
        )
        if database_url:
            env["DATABASE_URL"] = database_url
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.headers: dict[str, str] = {}

    def cli(self, *args: str, stdin: str | None = None) -> None:
        cli = str(Path(sys.executable).parent / "freeagentics")
        result = subprocess.run([cli, *args], env=self.env, input=stdin, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"freeagentics {' '.join(args)} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        if "DATABASE_URL" in self.env:
            self.cli("db", "upgrade")
        self.process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "main.py")],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "server.stderr").open("wb"),
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited: {(self.workdir / 'server.stderr').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/health/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("server did not start")
        self.cli("users", "create", "bench", "--role", "admin", "--password-stdin", stdin=PASSWORD)
        token = httpx.post(
            f"{self.base_url}/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}, timeout=30
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def metrics(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.base_url}/api/v1/system/metrics", timeout=60).json())


def _create_agents(client: httpx.Client, world_id: str, start: int, count: int) -> list[str]:
    ids: list[str] = []
    for first in range(start, start + count, 10_000):
        batch = [
            {"name": f"e{i}", "world_id": world_id, "template": "grid_explorer", "parameters": {"seed": i}}
            for i in range(first, min(first + 10_000, start + count))
        ]
        response = client.post("/api/v1/agents/batch", json={"agents": batch}, timeout=600)
        if response.status_code != 201:
            raise SystemExit(f"batch create failed: {response.status_code} {response.text[:500]}")
        ids.extend(response.json()["ids"])
    return ids


class StatusLoad:
    """A steady light load: ``rps`` status reads a second of random agents; client-side latencies."""

    def __init__(self, server: BenchServer, ids: list[str], rps: float) -> None:
        self._client = httpx.Client(base_url=server.base_url, headers=server.headers, timeout=10)
        self._ids = ids
        self._period = 1.0 / rps
        self._stop = threading.Event()
        self.latencies_ms: list[float] = []
        self.errors = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            agent_id = random.choice(self._ids)
            started = time.perf_counter()
            try:
                ok = self._client.get(f"/api/v1/agents/{agent_id}/status").status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                self.errors += 1
            next_at += self._period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> StatusLoad:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()


def _tick_histogram(server: BenchServer) -> dict[float, float]:
    """Cumulative counts of ``freeagentics_tick_duration_seconds`` by upper bound, from ``/metrics``."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=60).text
    counts: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("freeagentics_tick_duration_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            counts[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return counts


def _histogram_percentile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The ``q`` quantile in ms of the ticks between two histogram readings (linear within a bucket)."""
    bounds = sorted(after)
    cumulative = [after[b] - before.get(b, 0.0) for b in bounds]
    total = cumulative[-1] if cumulative else 0.0
    if total <= 0:
        return float("nan")
    target = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= target:
            if bound == float("inf"):
                return lower_bound * 1000
            share = (target - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return (lower_bound + share * (bound - lower_bound)) * 1000
        lower_bound, lower_count = bound, count
    return float("nan")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(server: BenchServer, ids: list[str], settle_s: float, window_s: float, rps: float) -> Row:
    deadline = time.monotonic() + 600
    while server.metrics()["agent_count"]["in_runtime"] < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit("the runtime did not take every agent in 10 minutes")
        time.sleep(0.5)
    time.sleep(settle_s)
    with StatusLoad(server, ids, rps) as load:
        before = server.metrics()
        histogram_before = _tick_histogram(server)
        started = time.monotonic()
        time.sleep(window_s)
        after = server.metrics()
        histogram_after = _tick_histogram(server)
        elapsed = time.monotonic() - started
    return Row(
        agents=len(ids),
        tick_rate_hz=(after["tick"]["count"] - before["tick"]["count"]) / elapsed,
        tick_p50_ms=_histogram_percentile(histogram_before, histogram_after, 0.5),
        tick_p99_ms=_histogram_percentile(histogram_before, histogram_after, 0.99),
        api_p50_ms=_percentile(load.latencies_ms, 0.5),
        api_p99_ms=_percentile(load.latencies_ms, 0.99),
        api_requests=len(load.latencies_ms),
        rss_mb=after["process"]["memory_rss_bytes"] / 2**20,
    )


def in_process(sizes: list[int], ticks: int) -> None:
    """The runtime alone (no server, no HTTP): tick durations of one 10x10 explorer population; CPU is the
    process's CPU time per tick (all threads), which a shared machine does not stretch."""
    import uuid

    from freeagentics.bootstrap import resolve_accelerator
    from freeagentics.domain.world import spec_from_mapping
    from freeagentics.services.runtime.catalog import blueprint
    from freeagentics.services.runtime.core import AgentRuntime

    accelerator = resolve_accelerator("auto")  # as the server's default agent_config.yaml
    print(f"engine accelerator: {accelerator}")

    spec = spec_from_mapping(WORLD)
    print(
        f"{'agents':>8} {'tick p50 ms':>12} {'tick max ms':>12} {'CPU ms':>8} {'max Hz':>8} "
        f"{'bytes/agent':>12}"
    )
    for size in sizes:
        runtime = AgentRuntime(accelerator=accelerator)
        world = uuid.uuid4()
        runtime.add_world(world, spec, 0)
        blueprints = [blueprint("grid_explorer", {"seed": i}, spec) for i in range(size)]
        runtime.add_agents(world, [uuid.uuid4() for _ in range(size)], blueprints, running=True)
        runtime.tick()
        cpu_started = time.process_time()
        durations = sorted(runtime.tick().duration_s for _ in range(ticks))
        cpu_ms = (time.process_time() - cpu_started) / ticks * 1000
        view = runtime.view(world)
        assert view is not None
        per_agent = view.populations[0].state.nbytes_per_agent
        p50 = durations[len(durations) // 2]
        print(
            f"{size:>8} {p50 * 1000:>12.1f} {durations[-1] * 1000:>12.1f} {cpu_ms:>8.1f} {1 / p50:>8.1f} "
            f"{per_agent:>12.0f}"
        )


def print_table(rows: list[Row]) -> None:
    print(
        f"{'agents':>8} {'tick Hz':>8} {'tick p50':>9} {'tick p99':>9} {'API p50':>8} {'API p99':>8} "
        f"{'reqs':>5} {'RSS MB':>7}  keeps 10 Hz + p99<50ms"
    )
    for r in rows:
        print(
            f"{r.agents:>8} {r.tick_rate_hz:>8.2f} {r.tick_p50_ms:>9.1f} {r.tick_p99_ms:>9.1f} "
            f"{r.api_p50_ms:>8.1f} {r.api_p99_ms:>8.1f} {r.api_requests:>5} {r.rss_mb:>7.0f}  "
            f"{'yes' if r.keeps_up else 'no'}"
        )
    passing = [r.agents for r in rows if r.keeps_up]
    print(f"largest population at 10 Hz with API p99 < 50 ms: {max(passing) if passing else 'none measured'}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="sizes 100,500,1000; 10 s windows")
    parser.add_argument("--sizes", default="250,500,1000,2000,5000,10000,20000,50000")
    parser.add_argument("--window", type=float, default=None, help="seconds measured per size")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds between growing and measuring")
    parser.add_argument("--rps", type=float, default=20.0, help="status requests per second")
    parser.add_argument("--database-url", default=None, help="PostgreSQL instead of the embedded default")
    parser.add_argument(
        "--keep-going", action="store_true", help="measure every size even after one falls below 10 Hz"
    )
    parser.add_argument(
        "--in-process", action="store_true", help="time AgentRuntime.tick alone (no server) for --sizes"
    )
    args = parser.parse_args()
    if args.in_process:
        in_process([int(s) for s in args.sizes.split(",")], 3 if args.quick else 10)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick and args.sizes == parser.get_default("sizes"):
        sizes = [100, 500, 1000]
    window = args.window if args.window is not None else (10.0 if args.quick else 30.0)

    with tempfile.TemporaryDirectory(prefix="fa-bench-runtime-") as tmp:
        server = BenchServer(Path(tmp), args.database_url)
        rows: list[Row] = []
        try:
            server.start()
            with httpx.Client(base_url=server.base_url, headers=server.headers) as client:
                world = client.post("/api/v1/worlds", json={"name": "bench", "spec": WORLD}, timeout=60)
                world_id = world.json()["id"]
                ids: list[str] = []
                for size in sizes:
                    ids += _create_agents(client, world_id, len(ids), size - len(ids))
                    row = measure(server, ids, args.settle, window, args.rps)
                    rows.append(row)
                    print_table([row])
                    if not row.keeps_up and not args.keep_going:
                        break
        finally:
            server.stop()
        print()
        print_table(rows)


if __name__ == "__main__":
    main()
