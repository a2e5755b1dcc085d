"""Backups on real PostgreSQL and SQLite: dump, verify by restoring, detect damage, restore atomically."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from freeagentics.infra import backup as backups
from freeagentics.infra.db import migrate

TAKEN_AT = dt.datetime(2026, 1, 27, 3, 15, 0, tzinfo=dt.UTC)


def _libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _pg(url: str, *statements: str) -> list[list[tuple]]:
    import asyncpg

    connection = await asyncpg.connect(_libpq(url))
    try:
        return [[tuple(record) for record in await connection.fetch(statement)] for statement in statements]
    finally:
        await connection.close()


def seed_postgres(url: str, users: int = 3) -> None:
    migrate.upgrade(url)
    statements = [
        "INSERT INTO users (id, username, password_hash, role, is_active, token_version, created_at, updated_at) "
        f"VALUES ('{uuid.uuid4()}', 'user{index}', 'hash-{index}', 'researcher', true, 0, now(), now())"
        for index in range(users)
    ]
    statements.append(
        "INSERT INTO worlds (id, owner_id, name, spec, seed, created_at) "
        f"SELECT '{uuid.uuid4()}', id, 'grid', '{{\"w\": 5, \"note\": \"tab\\there\"}}', 7, now() "
        "FROM users WHERE username = 'user0'"
    )
    asyncio.run(_pg(url, *statements))


def rewrite_dump(path: Path, transform) -> None:
    """Change the SQL inside a dump and write a matching sha256, as a careless edit or a bad copy might."""
    sql = gzip.decompress(path.read_bytes()).decode("utf-8")
    path.write_bytes(gzip.compress(transform(sql).encode("utf-8")))
    backups.sha256_path(path).write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")


@pytest.fixture
def pg_backup(postgres_url: str, tmp_path: Path) -> tuple[str, backups.BackupResult]:
    seed_postgres(postgres_url)
    return postgres_url, backups.backup_postgres(postgres_url, tmp_path / "backups", TAKEN_AT)


def test_postgres_backup_is_named_checksummed_private_and_has_a_manifest(pg_backup, tmp_path) -> None:
    _, result = pg_backup
    assert result.path == tmp_path / "backups" / "postgresql" / "freeagentics_20260127_031500.sql.gz"
    assert result.path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "backups" / "postgresql").stat().st_mode & 0o777 == 0o700
    sidecar = backups.sha256_path(result.path).read_text().split()
    assert sidecar == [hashlib.sha256(result.path.read_bytes()).hexdigest(), result.path.name]
    manifest = json.loads(backups.manifest_path(result.path).read_text())
    assert manifest["tables"]["users"]["rows"] == 3
    assert manifest["tables"]["worlds"]["rows"] == 1
    assert manifest["tables"]["alembic_version"]["rows"] == 1
    assert "CREATE TABLE public.users" in gzip.decompress(result.path.read_bytes()).decode()
    assert not list(result.path.parent.glob("*.partial"))


def test_postgres_backup_never_overwrites(pg_backup, tmp_path) -> None:
    url, _ = pg_backup
    with pytest.raises(backups.BackupError, match="already exists"):
        backups.backup_postgres(url, tmp_path / "backups", TAKEN_AT)


def test_verify_restores_into_a_scratch_database_and_matches(pg_backup) -> None:
    url, result = pg_backup
    steps: list[str] = []
    verified = backups.verify_postgres(result.path, url, progress=steps.append)
    assert verified.ok, verified.problems
    assert verified.tables == result.tables
    assert any("scratch database" in step for step in steps)
    leftovers = asyncio.run(
        _pg(url, "SELECT datname FROM pg_database WHERE datname LIKE 'freeagentics_verify_%'")
    )
    assert leftovers == [[]]


def test_truncated_dump_fails_verification(pg_backup) -> None:
    url, result = pg_backup
    data = result.path.read_bytes()
    result.path.write_bytes(data[: len(data) // 2])
    verified = backups.verify_postgres(result.path, url)
    assert not verified.ok
    assert "sha256 mismatch" in verified.problems[0]


def test_truncated_dump_with_a_rewritten_checksum_still_fails(pg_backup) -> None:
    url, result = pg_backup
    data = result.path.read_bytes()
    result.path.write_bytes(data[: len(data) // 2])
    backups.sha256_path(result.path).write_text(
        f"{hashlib.sha256(result.path.read_bytes()).hexdigest()}  x\n"
    )
    verified = backups.verify_postgres(result.path, url)
    assert not verified.ok
    assert "gzip stream is damaged" in verified.problems[0]


def test_corrupted_bytes_fail_verification(pg_backup) -> None:
    url, result = pg_backup
    data = bytearray(result.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    result.path.write_bytes(bytes(data))
    verified = backups.verify_postgres(result.path, url)
    assert not verified.ok


def test_a_sql_error_in_the_dump_stops_the_restore(pg_backup) -> None:
    url, result = pg_backup
    rewrite_dump(
        result.path, lambda sql: sql.replace("CREATE TABLE public.worlds", "CREATE TABLE public.worlds_", 1)
    )
    verified = backups.verify_postgres(result.path, url)
    assert not verified.ok
    assert "psql stopped" in verified.problems[0]


def test_a_dump_missing_rows_fails_the_row_count_comparison(pg_backup) -> None:
    url, result = pg_backup
    rewrite_dump(
        result.path, lambda sql: "\n".join(line for line in sql.splitlines() if "hash-1" not in line)
    )
    verified = backups.verify_postgres(result.path, url)
    assert not verified.ok
    assert verified.problems == ("table users: 2 rows restored, 3 backed up",)


def test_a_dump_with_changed_values_fails_the_checksum_comparison(pg_backup) -> None:
    url, result = pg_backup
    rewrite_dump(result.path, lambda sql: sql.replace("hash-2", "hash-X"))
    verified = backups.verify_postgres(result.path, url)
    assert not verified.ok
    assert "users: content checksum differs" in verified.problems[0]


def test_missing_manifest_is_an_error(pg_backup) -> None:
    url, result = pg_backup
    backups.manifest_path(result.path).unlink()
    with pytest.raises(backups.BackupError, match="manifest"):
        backups.verify_postgres(result.path, url)


def test_restore_brings_back_the_backed_up_state(pg_backup) -> None:
    url, result = pg_backup
    asyncio.run(
        _pg(
            url,
            "DELETE FROM worlds",
            "DELETE FROM users WHERE username = 'user1'",
            "CREATE TABLE stray (x int)",
        )
    )
    restored = backups.restore_postgres(result.path, url)
    assert restored.ok, restored.problems
    users, tables = asyncio.run(
        _pg(
            url,
            "SELECT username FROM users ORDER BY username",
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = 'stray'",
        )
    )
    assert users == [("user0",), ("user1",), ("user2",)]
    assert tables == []
    assert migrate.current_revision(url) == migrate.head_revision()


def test_a_failing_restore_leaves_the_database_unchanged(pg_backup) -> None:
    url, result = pg_backup
    asyncio.run(_pg(url, "DELETE FROM users WHERE username = 'user2'"))
    rewrite_dump(result.path, lambda sql: sql + "\nSELECT * FROM no_such_table;\n")
    # The rewritten dump still matches its manifest's tables, but psql stops at the bad statement.
    with pytest.raises(backups.BackupError, match="psql stopped"):
        backups.restore_postgres(result.path, url)
    (users,) = asyncio.run(_pg(url, "SELECT username FROM users ORDER BY username"))
    assert users == [("user0",), ("user1",)]


def test_restore_refuses_a_damaged_file(pg_backup) -> None:
    url, result = pg_backup
    result.path.write_bytes(result.path.read_bytes()[:-10])
    with pytest.raises(backups.BackupError, match="sha256"):
        backups.restore_postgres(result.path, url)


def test_unreachable_database_is_a_clear_error(tmp_path) -> None:
    from tests.conftest import closed_port

    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/nothing"
    with pytest.raises(backups.BackupError, match="cannot connect"):
        backups.backup_postgres(url, tmp_path, TAKEN_AT)
    assert not list(tmp_path.rglob("*.sql.gz*"))


def test_password_goes_to_the_environment_not_the_command_line() -> None:
    target = backups.PgTarget.from_url("postgresql+asyncpg://app:s3cret@db.internal:6543/fa?ssl=require")
    env = target.libpq_env()
    assert env["PGPASSWORD"] == "s3cret"
    assert env["PGHOST"] == "db.internal"
    assert env["PGPORT"] == "6543"
    assert env["PGDATABASE"] == "fa"
    assert env["PGSSLMODE"] == "require"
    assert "s3cret" not in target.display()


# --- SQLite ---------------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "freeagentics.db"
    path.parent.mkdir()
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    with sqlite3.connect(path) as connection:
        for index in range(4):
            connection.execute(
                "INSERT INTO users (id, username, password_hash, role, is_active, token_version, created_at, "
                "updated_at) VALUES (?, ?, 'h', 'observer', 1, 0, '2026-01-01', '2026-01-01')",
                (uuid.uuid4().hex, f"u{index}"),
            )
    return path


def test_sqlite_online_backup_verifies_while_a_writer_holds_the_database(sqlite_db, tmp_path) -> None:
    writer = sqlite3.connect(sqlite_db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("UPDATE users SET role = 'admin' WHERE username = 'u0'")
    writer.commit()
    writer.execute("BEGIN")
    writer.execute(
        "UPDATE users SET role = 'researcher' WHERE username = 'u1'"
    )  # uncommitted: not in the backup
    try:
        result = backups.backup_sqlite(sqlite_db, tmp_path / "backups", TAKEN_AT)
    finally:
        writer.rollback()
        writer.close()
    assert result.path.name == "freeagentics_20260127_031500.sqlite.gz"
    assert result.tables["users"].rows == 4
    verified = backups.verify_sqlite(result.path)
    assert verified.ok, verified.problems


def test_sqlite_damage_fails_verification(sqlite_db, tmp_path) -> None:
    result = backups.backup_sqlite(sqlite_db, tmp_path / "backups", TAKEN_AT)
    result.path.write_bytes(result.path.read_bytes()[:200])
    assert "sha256" in backups.verify_sqlite(result.path).problems[0]
    backups.sha256_path(result.path).write_text(
        f"{hashlib.sha256(result.path.read_bytes()).hexdigest()}  x\n"
    )
    assert "gzip" in backups.verify_sqlite(result.path).problems[0]


def test_sqlite_restore_is_online_and_exact(sqlite_db, tmp_path) -> None:
    result = backups.backup_sqlite(sqlite_db, tmp_path / "backups", TAKEN_AT)
    with sqlite3.connect(sqlite_db) as connection:
        connection.execute("DELETE FROM users WHERE username IN ('u1', 'u2')")
    restored = backups.restore_sqlite(result.path, sqlite_db)
    assert restored.ok, restored.problems
    with sqlite3.connect(sqlite_db) as connection:
        names = [row[0] for row in connection.execute("SELECT username FROM users ORDER BY username")]
    assert names == ["u0", "u1", "u2", "u3"]


def test_backup_status_file_has_the_agreed_shape(sqlite_db, tmp_path) -> None:
    result = backups.backup_sqlite(sqlite_db, tmp_path / "backups", TAKEN_AT)
    status_path = backups.write_backup_status(tmp_path / "data", result, now_unix=1234.5)
    assert json.loads(status_path.read_text()) == {
        "last_success_unix": 1234.5,
        "size_bytes": result.size_bytes,
        "path": str(result.path),
    }


# --- config dir and keys --------------------------------------------------------------------------------


def test_files_archive_round_trip_restores_keys_private(tmp_path) -> None:
    config_dir = tmp_path / "etc"
    key_dir = config_dir / "keys"
    key_dir.mkdir(parents=True)
    (config_dir / "rate_limiting.yaml").write_text("enabled: true\n")
    (key_dir / "key-1.pem").write_text("PRIVATE")
    (key_dir / "key-1.pem").chmod(0o600)
    result = backups.backup_files(config_dir, key_dir, tmp_path / "backups", TAKEN_AT)
    assert result.path.name == "freeagentics_config_20260127_031500.tar.gz"

    new_config, new_keys = tmp_path / "new" / "etc", tmp_path / "new" / "etc" / "keys"
    written = backups.restore_files(result.path, new_config, new_keys)
    assert sorted(path.relative_to(tmp_path / "new").as_posix() for path in written) == [
        "etc/keys/key-1.pem",
        "etc/rate_limiting.yaml",
    ]
    assert (new_keys / "key-1.pem").read_text() == "PRIVATE"
    assert (new_keys / "key-1.pem").stat().st_mode & 0o777 == 0o600

    result.path.write_bytes(result.path.read_bytes() + b"x")
    with pytest.raises(backups.BackupError, match="sha256"):
        backups.restore_files(result.path, new_config, new_keys)
