"""Interfaces the services need from the outside world; ``bootstrap`` supplies the adapters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class HealthProbe(Protocol):
    """One dependency that ``/health`` checks. ``check`` raises when the dependency is unusable."""

    name: str

    async def check(self) -> Mapping[str, str]: ...


class KeyValueStore(Protocol):
    """The small part of Redis the services use; an in-process implementation serves the embedded default.

    Keys are plain strings; a store may prepend its configured prefix. ``ttl_seconds`` is always given for
    writes so nothing lives forever.
    """

    backend: str

    async def ping(self) -> None: ...

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl_seconds: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def close(self) -> None: ...
