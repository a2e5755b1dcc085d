"""Fixtures for the attack catalogue: the app on real PostgreSQL + Redis (or the embedded default)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from freeagentics.config import Settings

FAST_ARGON2 = {"auth_argon2_time_cost": 2, "auth_argon2_memory_kib": 19456}


@pytest.fixture
def pg_redis_settings(settings_env, postgres_url, redis_url, redis_prefix) -> Callable[..., Settings]:
    """Settings on a fresh migrated PostgreSQL database and this test's Redis prefix."""
    from freeagentics.infra.db import migrate

    asyncio.run(asyncio.to_thread(migrate.upgrade, postgres_url))

    def make(**variables: Any) -> Settings:
        return settings_env(
            database_url=postgres_url,
            redis_url=redis_url,
            redis_key_prefix=redis_prefix,
            **{**FAST_ARGON2, **variables},
        )

    return make


@pytest.fixture
def embedded_settings(settings_env) -> Callable[..., Settings]:
    def make(**variables: Any) -> Settings:
        return settings_env(**{**FAST_ARGON2, **variables})

    return make


def audit_records(settings: Settings, event: str | None = None) -> list[dict[str, Any]]:
    path: Path = settings.log_dir / "security_audit.log"
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [record for record in records if event is None or record["event"] == event]


def forge(settings: Settings, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """A token signed with the deployment's own newest key, with exactly these claims and header fields."""
    import jwt

    from freeagentics.infra.security.keys import read_key_dir

    key = read_key_dir(settings.key_dir)[-1]
    headers = {"kid": key.kid, "typ": "at+jwt", **(header or {})}
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers=headers)


def valid_claims(settings: Settings, user_id: Any, **overrides: Any) -> dict[str, Any]:
    import time
    import uuid

    now = int(time.time())
    claims = {
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "ver": 0,
        "fam": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def config_dir_with(path: Path, **yaml_overrides: str) -> Path:
    """A config dir with the packaged defaults, where ``name=text`` replaces ``<name>.yaml``."""
    from freeagentics.config import CONFIG_FILE_NAMES
    from freeagentics.infra.config_files import default_text

    path.mkdir(parents=True, exist_ok=True)
    for file_name in CONFIG_FILE_NAMES:
        (path / file_name).write_text(default_text(file_name))
    for stem, text in yaml_overrides.items():
        (path / f"{stem}.yaml").write_text(text)
    return path


def rate_limits(
    auth: int = 1000, read: int = 1000, write: int = 1000, expensive: int = 1000, window: int = 60
) -> str:
    return (
        "enabled: true\nclasses:\n"
        f"  auth: {{requests: {auth}, window_seconds: {window}}}\n"
        f"  read: {{requests: {read}, window_seconds: {window}}}\n"
        f"  write: {{requests: {write}, window_seconds: {window}}}\n"
        f"  expensive: {{requests: {expensive}, window_seconds: {window}}}\n"
    )
