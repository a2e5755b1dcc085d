"""Bounded thread pools that report their size, active and queued work, and completed tasks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class PoolStats:
    name: str
    size: int
    active: int
    queued: int
    completed: int

    @property
    def utilization(self) -> float:
        return self.active / self.size if self.size else 0.0


class InstrumentedPool:
    def __init__(self, name: str, max_workers: int) -> None:
        self.name = name
        self.size = max_workers
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix=f"freeagentics-{name}"
        )
        self._lock = threading.Lock()
        self._submitted = 0
        self._active = 0
        self._completed = 0

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        def run() -> T:
            with self._lock:
                self._active += 1
            try:
                return fn(*args)
            finally:
                with self._lock:
                    self._active -= 1
                    self._completed += 1

        with self._lock:
            self._submitted += 1
        return self._executor.submit(run)

    def stats(self) -> PoolStats:
        with self._lock:
            queued = self._submitted - self._completed - self._active
            return PoolStats(self.name, self.size, self._active, max(queued, 0), self._completed)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)
