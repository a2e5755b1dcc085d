"""The measured figures behind ``GET /api/v1/system/metrics`` (nothing here is a fixed number)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from freeagentics.services.runtime.supervisor import WINDOW_SECONDS, RuntimeSupervisor

MAX_SAMPLES = 200_000


class ResponseTimeWindow:
    """API response times over the last minute (bounded), fed by the request middleware."""

    def __init__(self, window_seconds: float = WINDOW_SECONDS) -> None:
        self._window = window_seconds
        self._samples: deque[tuple[float, float]] = deque(maxlen=MAX_SAMPLES)
        self._lock = threading.Lock()

    def record(self, duration_seconds: float) -> None:
        with self._lock:
            self._samples.append((time.monotonic(), duration_seconds))

    def percentiles(self) -> dict[str, float | int]:
        cutoff = time.monotonic() - self._window
        with self._lock:
            while self._samples and self._samples[0][0] < cutoff:
                self._samples.popleft()
            values = sorted(d for _, d in self._samples)
        if not values:
            return {"count": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}

        def pick(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 3)

        return {"count": len(values), "p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


@dataclass(frozen=True)
class ProcessSample:
    cpu_percent: float
    memory_rss_bytes: int
    threads: int


class ProcessProbe:
    """CPU (since the previous sample) and memory of this process, via a psutil-like process object."""

    def __init__(self, process: Any) -> None:
        self._process = process
        self._process.cpu_percent(None)

    def sample(self) -> ProcessSample:
        with self._process.oneshot():
            return ProcessSample(
                cpu_percent=float(self._process.cpu_percent(None)),
                memory_rss_bytes=int(self._process.memory_info().rss),
                threads=int(self._process.num_threads()),
            )


def _array_bytes(value: Any, depth: int = 0) -> int:
    """Bytes of the NumPy arrays reachable from a (frozen dataclass) value through tuples and fields."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if depth > 3:
        return 0
    if isinstance(value, tuple | list):
        return sum(_array_bytes(item, depth + 1) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(_array_bytes(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    return 0


def memory_by_component(supervisor: RuntimeSupervisor) -> dict[str, Any]:
    """Bytes held by each population (per-agent state; the shared model tensors once per population)."""
    populations: dict[str, Any] = {}
    total_state = 0
    total_model = 0
    for world_id, view in supervisor.runtime.views().items():
        for index, population in enumerate(view.populations):
            state_bytes = int(population.state.nbytes)
            model_bytes = _array_bytes(population.model)
            total_state += state_bytes
            total_model += model_bytes
            agents = len(population.agent_ids)
            populations[f"{world_id}/{index}"] = {
                "template": population.template,
                "agents": agents,
                "state_bytes": state_bytes,
                "state_bytes_per_agent": round(state_bytes / agents, 1) if agents else 0.0,
                "model_bytes": model_bytes,
            }
    return {
        "population_state_bytes": total_state,
        "population_model_bytes": total_model,
        "populations": populations,
    }


def system_metrics(
    supervisor: RuntimeSupervisor,
    agent_counts: dict[str, int],
    response_times: ResponseTimeWindow,
    process: ProcessSample,
) -> dict[str, Any]:
    pools = supervisor.pool_stats()
    total_size = sum(p.size for p in pools if p.name != "tick")
    total_active = sum(p.active for p in pools if p.name != "tick")
    live = sum(len(view.population_of) for view in supervisor.runtime.views().values())
    stats = supervisor.stats
    return {
        "agent_count": {
            "total": sum(agent_counts.values()),
            "by_status": {
                status: agent_counts.get(status, 0) for status in ("created", "running", "stopped", "error")
            },
            "in_runtime": live,
        },
        "agent_processing_rate": round(stats.processing_rate(), 3),
        "response_time": response_times.percentiles(),
        "thread_pool_utilization": round(total_active / total_size, 4) if total_size else 0.0,
        "thread_pools": {
            p.name: {
                "size": p.size,
                "active": p.active,
                "queued": p.queued,
                "completed": p.completed,
                "utilization": round(p.utilization, 4),
            }
            for p in pools
        },
        "queue_length": supervisor.runtime.queue_length,
        "tick": {
            "configured_rate_hz": round(1.0 / supervisor.options.period_seconds, 3),
            "count": stats.ticks,
            "overruns": stats.overruns,
            "duration": stats.tick_duration_percentiles(),
            "checkpoints": stats.checkpoints,
        },
        "runtime": {
            "owner": supervisor.is_owner,
            "enabled": supervisor.options.enabled,
            "emergency_mode": supervisor.options.emergency_mode,
        },
        "memory": memory_by_component(supervisor),
        "process": {
            "pid": os.getpid(),
            "cpu_percent": process.cpu_percent,
            "memory_rss_bytes": process.memory_rss_bytes,
            "threads": process.threads,
        },
    }
