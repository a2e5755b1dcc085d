"""Database and file backups: pg_dump/psql subprocesses for PostgreSQL, the sqlite3 backup API for SQLite.

Layout under the backup root (``FREEAGENTICS_BACKUP_DIR``; ``/backups`` in production, ``<data_dir>/backups``
elsewhere)::

    postgresql/freeagentics_<YYYYmmdd_HHMMSS>.sql.gz          plain SQL (pg_dump --clean --if-exists), gzip
    sqlite/freeagentics_<YYYYmmdd_HHMMSS>.sqlite.gz           an online copy of the SQLite file, gzip
    config/freeagentics_config_<YYYYmmdd_HHMMSS>.tar.gz       the config dir and the key dir

Beside each file: ``<file>.sha256`` (``sha256sum -c`` format) and, for databases,
``<file>.manifest.json`` with per-table row counts and content checksums. On PostgreSQL the manifest is
computed inside the very snapshot pg_dump reads (``pg_export_snapshot`` + ``pg_dump --snapshot``), so a
verified restore must reproduce it exactly. Files are written under a ``.partial`` name and renamed,
mode 0600: a dump holds password hashes.

Passwords never appear on a command line (they go to the child through ``PGPASSWORD``), so ``ps`` shows none.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from freeagentics.config import Settings
from freeagentics.infra.db.repositories.integrity import pg_table_digests, quote_ident, sqlite_table_digests
from freeagentics.services.backup_policy import (
    BackupEntry,
    TableDigest,
    backup_file_name,
    manifest_differences,
    taken_at_of,
)

CHUNK_BYTES = 1024 * 1024
BACKUP_STATUS_FILE = "backup_status.json"
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class BackupError(RuntimeError):
    """A backup, verification or restore that did not succeed; the message says why."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    kind: str
    taken_at: dt.datetime
    size_bytes: int
    sha256: str
    tables: dict[str, TableDigest] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifyResult:
    path: Path
    ok: bool
    problems: tuple[str, ...]
    tables: dict[str, TableDigest] = field(default_factory=dict)


def backup_root(settings: Settings, override: Path | None = None) -> Path:
    if override is not None:
        return override
    if settings.server.backup_dir is not None:
        return settings.server.backup_dir
    if settings.is_production:
        return Path("/backups")
    return settings.data_dir / "backups"


def database_kind(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("the SQLite database is in memory; there is nothing on disk to back up")
    return Path(database)


# --- PostgreSQL connection details -------------------------------------------------------------------


@dataclass(frozen=True)
class PgTarget:
    """Where a PostgreSQL database is, as libpq environment variables (never on a command line)."""

    url: URL

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        parsed = make_url(url)
        if not parsed.drivername.startswith("postgresql"):
            raise BackupError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
        return cls(parsed.set(drivername="postgresql"))

    @property
    def database(self) -> str:
        return self.url.database or "postgres"

    def with_database(self, name: str) -> PgTarget:
        return PgTarget(self.url.set(database=name))

    def dsn(self) -> str:
        return self.url.render_as_string(hide_password=False)

    def display(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def libpq_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["PGHOST"] = self.url.host or "localhost"
        env["PGPORT"] = str(self.url.port or 5432)
        env["PGDATABASE"] = self.database
        if self.url.username:
            env["PGUSER"] = self.url.username
        if self.url.password:
            env["PGPASSWORD"] = str(self.url.password)
        ssl = self.url.query.get("sslmode") or self.url.query.get("ssl")
        if isinstance(ssl, str):
            env["PGSSLMODE"] = ssl
        env["PGAPPNAME"] = "freeagentics-backup"
        return env


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (PostgreSQL client tools are needed for backups)")
    return path


async def _pg_connect(target: PgTarget) -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(target.dsn(), timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise BackupError(f"cannot connect to {target.display()}: {exc}") from None


# --- files ---------------------------------------------------------------------------------------------


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _open_private(path: Path) -> Any:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(descriptor, "wb")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def _write_private_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    with _open_private(partial) as handle:
        handle.write(text.encode("utf-8"))
    os.replace(partial, path)


def _write_sidecars(result: BackupResult) -> None:
    _write_private_text(sha256_path(result.path), f"{result.sha256}  {result.path.name}\n")
    if result.kind != "config":
        manifest = {
            "kind": result.kind,
            "taken_at": result.taken_at.isoformat(),
            "tables": {name: {"rows": d.rows, "checksum": d.checksum} for name, d in result.tables.items()},
        }
        _write_private_text(manifest_path(result.path), json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(path: Path) -> dict[str, TableDigest]:
    try:
        payload = json.loads(manifest_path(path).read_text(encoding="utf-8"))
        return {
            str(name): TableDigest(rows=int(value["rows"]), checksum=str(value["checksum"]))
            for name, value in payload["tables"].items()
        }
    except FileNotFoundError:
        raise BackupError(f"manifest {manifest_path(path).name} is missing") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(f"manifest {manifest_path(path).name} is unreadable: {exc}") from None


def check_sha256(path: Path) -> str | None:
    """``None`` when the file matches its ``.sha256``; otherwise the problem."""
    sidecar = sha256_path(path)
    if not path.is_file():
        return f"{path} does not exist"
    if not sidecar.is_file():
        return f"{sidecar.name} is missing"
    recorded = sidecar.read_text(encoding="utf-8").split()
    if not recorded or len(recorded[0]) != 64:
        return f"{sidecar.name} is malformed"
    actual = file_sha256(path)
    if actual != recorded[0]:
        return f"sha256 mismatch: file is {actual}, {sidecar.name} records {recorded[0]}"
    return None


def check_gzip(path: Path) -> str | None:
    """``None`` when the whole gzip stream decompresses (a truncated or corrupted file does not)."""
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(CHUNK_BYTES):
                pass
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        return f"gzip stream is damaged: {exc}"
    return None


def _gzip_file(source: Path, destination: Path) -> None:
    with (
        source.open("rb") as raw,
        _open_private(destination) as out,
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as packed,
    ):
        shutil.copyfileobj(raw, packed, CHUNK_BYTES)


def _finish(
    partial: Path, final: Path, kind: str, taken_at: dt.datetime, tables: dict[str, TableDigest]
) -> BackupResult:
    os.replace(partial, final)
    result = BackupResult(
        path=final,
        kind=kind,
        taken_at=taken_at,
        size_bytes=final.stat().st_size,
        sha256=file_sha256(final),
        tables=tables,
    )
    _write_sidecars(result)
    return result


def write_backup_status(data_dir: Path, result: BackupResult, now_unix: float | None = None) -> Path:
    """Record the last successful backup for ``/metrics`` (the backup-age alert reads it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    status = {
        "last_success_unix": time.time() if now_unix is None else now_unix,
        "size_bytes": result.size_bytes,
        "path": str(result.path),
    }
    target = data_dir / BACKUP_STATUS_FILE
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(status) + "\n", encoding="utf-8")
    os.replace(partial, target)
    return target


def read_backup_status(data_dir: Path) -> dict[str, Any] | None:
    try:
        payload = json.loads((data_dir / BACKUP_STATUS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def list_backups(root: Path, kind: str) -> list[tuple[BackupEntry, Path]]:
    directory = root / kind
    if not directory.is_dir():
        return []
    found: list[tuple[BackupEntry, Path]] = []
    for path in directory.iterdir():
        taken_at = taken_at_of(path.name)
        if taken_at is None or not path.is_file():
            continue
        found.append((BackupEntry(name=path.name, taken_at=taken_at, size_bytes=path.stat().st_size), path))
    found.sort(key=lambda pair: pair[0].taken_at)
    return found


def delete_backup(path: Path) -> None:
    for candidate in (path, sha256_path(path), manifest_path(path)):
        candidate.unlink(missing_ok=True)


# --- PostgreSQL ----------------------------------------------------------------------------------------


def backup_postgres(url: str, root: Path, taken_at: dt.datetime, progress: Progress = _quiet) -> BackupResult:
    """pg_dump the database into ``root/postgresql`` with a sha256 and a same-snapshot manifest."""
    return asyncio.run(_backup_postgres(PgTarget.from_url(url), root / "postgresql", taken_at, progress))


async def _backup_postgres(
    target: PgTarget, directory: Path, taken_at: dt.datetime, progress: Progress
) -> BackupResult:
    pg_dump = _require_tool("pg_dump")
    _private_dir(directory)
    final = directory / backup_file_name("postgresql", taken_at)
    if final.exists():
        raise BackupError(f"{final} already exists; backups are never overwritten")
    partial = final.with_name(final.name + ".partial")
    connection = await _pg_connect(target)
    try:
        transaction = connection.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        snapshot = await connection.fetchval("SELECT pg_export_snapshot()")
        progress("counting rows and checksumming tables")
        tables = await pg_table_digests(connection)
        progress(f"pg_dump {target.display()}")
        try:
            await _run_pg_dump(pg_dump, target, snapshot, partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        await transaction.rollback()
    finally:
        await connection.close()
    progress("writing checksum and manifest")
    return _finish(partial, final, "postgresql", taken_at, tables)


async def _run_pg_dump(pg_dump: str, target: PgTarget, snapshot: str, destination: Path) -> None:
    with tempfile.TemporaryFile() as errors:
        process = await asyncio.create_subprocess_exec(
            pg_dump,
            "--format=plain",
            "--no-owner",
            "--no-privileges",
            "--clean",
            "--if-exists",
            "--encoding=UTF8",
            f"--snapshot={snapshot}",
            env=target.libpq_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
        assert process.stdout is not None
        with _open_private(destination) as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as packed:
            while chunk := await process.stdout.read(CHUNK_BYTES):
                packed.write(chunk)
        code = await process.wait()
        if code != 0:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip()
            raise BackupError(f"pg_dump exited {code}: {message[-2000:]}")


def _feed_psql(target: PgTarget, path: Path, preamble: str = "") -> None:
    """Run the gzip'd SQL through psql in one transaction that stops at the first error."""
    psql = _require_tool("psql")
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [psql, "--no-psqlrc", "--quiet", "--single-transaction", "--set", "ON_ERROR_STOP=1"],
            env=target.libpq_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        assert process.stdin is not None
        broken_pipe = False
        try:
            if preamble:
                process.stdin.write(preamble.encode("utf-8"))
            with gzip.open(path, "rb") as stream:
                while chunk := stream.read(CHUNK_BYTES):
                    process.stdin.write(chunk)
        except BrokenPipeError:
            broken_pipe = True  # psql stopped at an error; its exit status and stderr say which
        except (OSError, EOFError) as exc:
            process.kill()
            process.wait()
            raise BackupError(f"{path.name}: gzip stream is damaged: {exc}") from None
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        code = process.wait()
        errors.seek(0)
        message = errors.read().decode("utf-8", "replace").strip()
        if code != 0 or broken_pipe:
            raise BackupError(f"psql stopped with exit status {code}: {message[-2000:] or 'no message'}")


def verify_postgres(
    path: Path, url: str, scratch_server_url: str | None = None, progress: Progress = _quiet
) -> VerifyResult:
    """Restore the dump into a scratch database and compare every table with the manifest.

    The scratch database is created on ``scratch_server_url`` (default: the server of ``url``) and dropped
    afterwards, whatever happens.
    """
    problems = _file_problems(path, progress)
    if problems:
        return VerifyResult(path=path, ok=False, problems=tuple(problems))
    expected = read_manifest(path)
    server = PgTarget.from_url(scratch_server_url or url)
    scratch_name = f"freeagentics_verify_{uuid.uuid4().hex[:12]}"
    scratch = server.with_database(scratch_name)
    progress(f"creating scratch database {scratch_name}")
    asyncio.run(_admin(server, f"CREATE DATABASE {quote_ident(scratch_name)}"))
    try:
        progress("restoring into the scratch database (ON_ERROR_STOP, one transaction)")
        try:
            _feed_psql(scratch, path)
        except BackupError as exc:
            return VerifyResult(path=path, ok=False, problems=(str(exc),))
        progress("comparing row counts and checksums")
        actual = asyncio.run(_digests_of(scratch))
    finally:
        asyncio.run(_admin(server, f"DROP DATABASE IF EXISTS {quote_ident(scratch_name)} WITH (FORCE)"))
    differences = manifest_differences(expected, actual)
    return VerifyResult(path=path, ok=not differences, problems=tuple(differences), tables=actual)


async def _admin(server: PgTarget, statement: str) -> None:
    connection = await _pg_connect(server)
    try:
        await connection.execute(statement)
    except Exception as exc:
        raise BackupError(f"{statement.split(' ')[0].lower()} failed on {server.display()}: {exc}") from None
    finally:
        await connection.close()


async def _digests_of(target: PgTarget) -> dict[str, TableDigest]:
    connection = await _pg_connect(target)
    try:
        return await pg_table_digests(connection)
    finally:
        await connection.close()


def restore_postgres(path: Path, url: str, progress: Progress = _quiet) -> VerifyResult:
    """Replace the database's ``public`` schema with the dump, atomically; then compare with the manifest.

    The schema is dropped and the dump replayed in one transaction, so a failing restore leaves the
    database exactly as it was.
    """
    problems = _file_problems(path, progress)
    if problems:
        raise BackupError("; ".join(problems))
    expected = read_manifest(path)
    target = PgTarget.from_url(url)
    progress(f"restoring {path.name} into {target.display()}")
    _feed_psql(target, path, preamble="DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n")
    progress("comparing row counts and checksums")
    actual = asyncio.run(_digests_of(target))
    differences = manifest_differences(expected, actual)
    return VerifyResult(path=path, ok=not differences, problems=tuple(differences), tables=actual)


def _file_problems(path: Path, progress: Progress) -> list[str]:
    progress(f"checking sha256 of {path.name}")
    problem = check_sha256(path)
    if problem is not None:
        return [problem]
    progress("checking the gzip stream")
    problem = check_gzip(path)
    return [problem] if problem is not None else []


# --- SQLite --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _sqlite(path: Path, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    connection = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        yield connection
    finally:
        connection.close()


def backup_sqlite(
    database: Path, root: Path, taken_at: dt.datetime, progress: Progress = _quiet
) -> BackupResult:
    """Online copy through sqlite3's backup API (safe while the server writes), gzip'd, with a manifest."""
    if not database.is_file():
        raise BackupError(f"SQLite database {database} does not exist")
    directory = root / "sqlite"
    _private_dir(directory)
    final = directory / backup_file_name("sqlite", taken_at)
    if final.exists():
        raise BackupError(f"{final} already exists; backups are never overwritten")
    partial = final.with_name(final.name + ".partial")
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        copy = Path(scratch) / "copy.db"
        progress(f"copying {database} (sqlite3 online backup)")
        with _sqlite(database, read_only=True) as source, _sqlite(copy) as destination:
            source.backup(destination)
        with _sqlite(copy, read_only=True) as snapshot:
            progress("counting rows and checksumming tables")
            tables = sqlite_table_digests(snapshot)
        progress("compressing")
        try:
            _gzip_file(copy, partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return _finish(partial, final, "sqlite", taken_at, tables)


@contextlib.contextmanager
def _unpacked_sqlite(path: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as scratch:
        unpacked = Path(scratch) / "restore.db"
        try:
            with gzip.open(path, "rb") as stream, unpacked.open("wb") as out:
                shutil.copyfileobj(stream, out, CHUNK_BYTES)
        except (OSError, EOFError) as exc:
            raise BackupError(f"{path.name}: gzip stream is damaged: {exc}") from None
        yield unpacked


def _check_sqlite_copy(
    unpacked: Path, expected: dict[str, TableDigest]
) -> tuple[list[str], dict[str, TableDigest]]:
    try:
        with _sqlite(unpacked, read_only=True) as connection:
            integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            if integrity != ["ok"]:
                return [f"integrity_check: {'; '.join(integrity[:5])}"], {}
            actual = sqlite_table_digests(connection)
    except sqlite3.DatabaseError as exc:
        return [f"not a usable SQLite database: {exc}"], {}
    return manifest_differences(expected, actual), actual


def verify_sqlite(path: Path, progress: Progress = _quiet) -> VerifyResult:
    problems = _file_problems(path, progress)
    if problems:
        return VerifyResult(path=path, ok=False, problems=tuple(problems))
    expected = read_manifest(path)
    with _unpacked_sqlite(path) as unpacked:
        progress("integrity check and comparison with the manifest")
        differences, actual = _check_sqlite_copy(unpacked, expected)
    return VerifyResult(path=path, ok=not differences, problems=tuple(differences), tables=actual)


def restore_sqlite(path: Path, database: Path, progress: Progress = _quiet) -> VerifyResult:
    """Check the copy, then write it over the live database through the backup API (atomic for readers)."""
    problems = _file_problems(path, progress)
    if problems:
        raise BackupError("; ".join(problems))
    expected = read_manifest(path)
    with _unpacked_sqlite(path) as unpacked:
        differences, _ = _check_sqlite_copy(unpacked, expected)
        if differences:
            raise BackupError("; ".join(differences))
        progress(f"restoring into {database}")
        database.parent.mkdir(parents=True, exist_ok=True)
        with _sqlite(unpacked, read_only=True) as source, _sqlite(database) as destination:
            source.backup(destination)
    with _sqlite(database, read_only=True) as restored:
        actual = sqlite_table_digests(restored)
    differences = manifest_differences(expected, actual)
    return VerifyResult(path=path, ok=not differences, problems=tuple(differences), tables=actual)


# --- config dir and keys -------------------------------------------------------------------------------


def backup_files(config_dir: Path, key_dir: Path, root: Path, taken_at: dt.datetime) -> BackupResult:
    """``config/`` and ``keys/`` in one tar.gz (in production the key dir lives inside the config dir)."""
    directory = root / "config"
    _private_dir(directory)
    final = directory / backup_file_name("config", taken_at)
    if final.exists():
        raise BackupError(f"{final} already exists; backups are never overwritten")
    partial = final.with_name(final.name + ".partial")
    key_inside_config = key_dir.resolve().is_relative_to(config_dir.resolve())
    with _open_private(partial) as out, tarfile.open(fileobj=out, mode="w:gz") as archive:
        if config_dir.is_dir():
            archive.add(
                config_dir,
                arcname="config",
                filter=None if not key_inside_config else _skip_under(config_dir, key_dir),
            )
        if key_dir.is_dir():
            archive.add(key_dir, arcname="keys")
    return _finish(partial, final, "config", taken_at, {})


def _skip_under(config_dir: Path, key_dir: Path) -> Callable[[tarfile.TarInfo], tarfile.TarInfo | None]:
    relative = key_dir.resolve().relative_to(config_dir.resolve()).as_posix()
    prefix = f"config/{relative}"

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if info.name == prefix or info.name.startswith(prefix + "/") else info

    return keep


def restore_files(
    archive_path: Path, config_dir: Path, key_dir: Path, progress: Progress = _quiet
) -> list[Path]:
    """Put the archived config files and keys back (keys mode 0600); returns the files written."""
    problem = check_sha256(archive_path)
    if problem is not None:
        raise BackupError(problem)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(archive_path, "r:gz") as archive:
        try:
            archive.extractall(scratch, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise BackupError(f"{archive_path.name}: {exc}") from None
        for member, destination, mode in (("config", config_dir, 0o644), ("keys", key_dir, 0o600)):
            source = Path(scratch) / member
            if not source.is_dir():
                continue
            progress(f"restoring {member} into {destination}")
            _private_dir(destination)
            for file in sorted(source.rglob("*")):
                if not file.is_file():
                    continue
                target = destination / file.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".partial")
                shutil.copyfile(file, partial)
                os.chmod(partial, mode)
                os.replace(partial, target)
                written.append(target)
    return written
