"""``freeagentics backup``: create, verify, restore, list and prune backups of the database, config and keys.

PostgreSQL is dumped with pg_dump (plain SQL, gzip) inside an exported snapshot, SQLite is copied online with
sqlite3's backup API; both carry a ``.sha256`` and a manifest of per-table row counts and checksums.
``verify`` restores into a scratch database (``ON_ERROR_STOP``, one transaction) and compares the manifest.
Each successful ``create`` writes ``<data_dir>/backup_status.json`` for the backup-age alert.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from freeagentics.config import Settings, SettingsError, load_settings
from freeagentics.services.backup_policy import (
    BackupPolicyError,
    expired,
    parse_timestamp,
    select_at_or_before,
)

if TYPE_CHECKING:
    from freeagentics.infra import backup as backups


backup_app = typer.Typer(
    help="Back up, verify and restore the database, config dir and keys.", no_args_is_help=True
)
console = Console(stderr=True, log_path=False)
out = Console()

EnvFileOption = Annotated[
    Path | None,
    typer.Option("--env-file", help="Env file to read (default: .env or $FREEAGENTICS_ENV_FILE)."),
]
BackupDirOption = Annotated[
    Path | None,
    typer.Option(
        "--backup-dir",
        help="Backup root (default: $FREEAGENTICS_BACKUP_DIR, /backups in production, <data_dir>/backups).",
    ),
]


def operator_settings(env_file: Path | None) -> Settings:
    """Settings for an operator command; a bad setting exits 2 with one line, as every command does."""
    try:
        return load_settings(env_file)
    except SettingsError as exc:
        console.print(f"[red]configuration error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@contextmanager
def progress_status(title: str) -> Iterator[backups.Progress]:
    """A Rich spinner on stderr whose text follows the steps of a long-running command."""
    with console.status(title) as status:

        def update(step: str) -> None:
            status.update(f"{title}: {step}")
            console.log(step, highlight=False)

        yield update


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _resolve(settings: Settings, root: Path, which: str) -> Path:
    """A backup file from a path, a YYYYmmdd_HHMMSS timestamp (newest at or before it) or ``latest``."""
    from freeagentics.infra import backup as backups

    candidate = Path(which)
    if candidate.is_file():
        return candidate
    kind = backups.database_kind(settings.database_url)
    entries = backups.list_backups(root, kind)
    if not entries:
        raise _fail(f"no {kind} backups under {root / kind}")
    if which == "latest":
        return entries[-1][1]
    try:
        moment = parse_timestamp(which)
    except BackupPolicyError as exc:
        raise _fail(f"{exc} (give a file, a timestamp or 'latest')", 2) from None
    chosen = select_at_or_before([entry for entry, _ in entries], moment)
    if chosen is None:
        raise _fail(f"no {kind} backup taken at or before {which} under {root / kind}")
    return root / kind / chosen.name


@backup_app.command("create")
def create(
    env_file: EnvFileOption = None,
    backup_dir: BackupDirOption = None,
    keep_days: Annotated[
        int, typer.Option(min=1, help="Delete backups older than this many days (never the newest).")
    ] = 30,
    files: Annotated[
        bool, typer.Option("--files/--no-files", help="Also archive the config dir and keys.")
    ] = True,
) -> None:
    """Back up the database (and the config dir and keys), then apply retention."""
    from freeagentics.infra import backup as backups

    settings = operator_settings(env_file)
    root = backups.backup_root(settings, backup_dir)
    taken_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    kind = backups.database_kind(settings.database_url)
    try:
        with progress_status(f"backing up the {kind} database") as step:
            if kind == "postgresql":
                result = backups.backup_postgres(settings.database_url, root, taken_at, step)
            else:
                result = backups.backup_sqlite(
                    backups.sqlite_path(settings.database_url), root, taken_at, step
                )
            archive = None
            if files:
                step("archiving the config dir and keys")
                archive = backups.backup_files(settings.config_dir, settings.key_dir, root, taken_at)
    except (backups.BackupError, OSError) as exc:
        raise _fail(str(exc)) from None
    backups.write_backup_status(settings.data_dir, result)
    rows = sum(digest.rows for digest in result.tables.values())
    out.print(
        f"backup {result.path} ({result.size_bytes} bytes, {len(result.tables)} tables, {rows} rows) "
        f"sha256 {result.sha256}",
        highlight=False,
        soft_wrap=True,
    )
    if archive is not None:
        out.print(f"files {archive.path} ({archive.size_bytes} bytes)", highlight=False, soft_wrap=True)
    for removed in _prune(root, keep_days):
        out.print(f"removed expired {removed}", highlight=False, soft_wrap=True)


def _prune(root: Path, keep_days: int) -> list[Path]:
    from freeagentics.infra import backup as backups

    removed: list[Path] = []
    now = dt.datetime.now(dt.UTC)
    for kind in ("postgresql", "sqlite", "config"):
        entries = backups.list_backups(root, kind)
        paths = {entry.name: path for entry, path in entries}
        for entry in expired([entry for entry, _ in entries], now, keep_days):
            backups.delete_backup(paths[entry.name])
            removed.append(paths[entry.name])
    return removed


@backup_app.command("prune")
def prune(
    env_file: EnvFileOption = None,
    backup_dir: BackupDirOption = None,
    keep_days: Annotated[int, typer.Option(min=1, help="Keep backups taken within this many days.")] = 30,
) -> None:
    """Delete backups older than KEEP_DAYS (never the newest of each kind)."""
    from freeagentics.infra import backup as backups

    settings = operator_settings(env_file)
    removed = _prune(backups.backup_root(settings, backup_dir), keep_days)
    for path in removed:
        out.print(f"removed expired {path}", highlight=False, soft_wrap=True)
    out.print(f"{len(removed)} expired backups removed")


@backup_app.command("list")
def list_command(
    env_file: EnvFileOption = None,
    backup_dir: BackupDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List backups with their time, size and whether the sha256 still matches."""
    from freeagentics.infra import backup as backups

    settings = operator_settings(env_file)
    root = backups.backup_root(settings, backup_dir)
    rows = []
    for kind in ("postgresql", "sqlite", "config"):
        for entry, path in backups.list_backups(root, kind):
            problem = backups.check_sha256(path)
            rows.append(
                {
                    "kind": kind,
                    "taken_at": entry.taken_at.isoformat(),
                    "size_bytes": entry.size_bytes,
                    "path": str(path),
                    "sha256_ok": problem is None,
                }
            )
    if as_json:
        out.print_json(json.dumps({"backup_dir": str(root), "backups": rows}))
        return
    table = Table(title=f"backups under {root}")
    for column in ("kind", "taken at (UTC)", "size", "sha256", "path"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["kind"]),
            str(row["taken_at"]),
            str(row["size_bytes"]),
            "ok" if row["sha256_ok"] else "[red]MISMATCH[/red]",
            str(row["path"]),
        )
    out.print(table)


@backup_app.command("verify")
def verify(
    which: Annotated[
        str, typer.Argument(help="Backup file, YYYYmmdd_HHMMSS (newest at or before) or 'latest'.")
    ] = "latest",
    env_file: EnvFileOption = None,
    backup_dir: BackupDirOption = None,
    scratch_url: Annotated[
        str | None,
        typer.Option(
            "--scratch-url",
            envvar="FREEAGENTICS_BACKUP_SCRATCH_URL",
            help="PostgreSQL server (URL) where the scratch database is created; default the configured one.",
        ),
    ] = None,
) -> None:
    """Restore a backup into a scratch database and compare row counts and checksums; exit 1 on a problem."""
    from freeagentics.infra import backup as backups

    settings = operator_settings(env_file)
    root = backups.backup_root(settings, backup_dir)
    path = _resolve(settings, root, which)
    try:
        with progress_status(f"verifying {path.name}") as step:
            if path.name.endswith(".sql.gz"):
                result = backups.verify_postgres(path, settings.database_url, scratch_url, step)
            elif path.name.endswith(".sqlite.gz"):
                result = backups.verify_sqlite(path, step)
            else:
                raise _fail(f"{path.name} is not a database backup (.sql.gz or .sqlite.gz)", 2)
    except (backups.BackupError, OSError) as exc:
        raise _fail(f"{path}: {exc}") from None
    if not result.ok:
        for problem in result.problems:
            console.print(f"[red]FAILED[/red] {path.name}: {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    rows = sum(digest.rows for digest in result.tables.values())
    out.print(
        f"verified {path}: restored {len(result.tables)} tables, {rows} rows, all checksums match",
        highlight=False,
        soft_wrap=True,
    )


@backup_app.command("restore")
def restore(
    which: Annotated[
        str, typer.Argument(help="Backup file, YYYYmmdd_HHMMSS (newest at or before) or 'latest'.")
    ],
    env_file: EnvFileOption = None,
    backup_dir: BackupDirOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the configured database with a backup (atomically: a failed restore changes nothing)."""
    from freeagentics.infra import backup as backups

    settings = operator_settings(env_file)
    root = backups.backup_root(settings, backup_dir)
    path = _resolve(settings, root, which)
    _confirm(yes, f"Replace the database with {path}?")
    try:
        with progress_status(f"restoring {path.name}") as step:
            if path.name.endswith(".sql.gz"):
                result = backups.restore_postgres(path, settings.database_url, step)
            elif path.name.endswith(".sqlite.gz"):
                result = backups.restore_sqlite(path, backups.sqlite_path(settings.database_url), step)
            else:
                raise _fail(f"{path.name} is not a database backup (.sql.gz or .sqlite.gz)", 2)
    except (backups.BackupError, OSError) as exc:
        raise _fail(f"restore of {path} failed, database unchanged: {exc}") from None
    if not result.ok:
        for problem in result.problems:
            console.print(f"[red]MISMATCH[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    rows = sum(digest.rows for digest in result.tables.values())
    out.print(f"restored {path} ({len(result.tables)} tables, {rows} rows)", highlight=False, soft_wrap=True)


def _confirm(yes: bool, question: str) -> None:
    if not yes and not typer.confirm(question, default=False):
        raise _fail("cancelled", 1)


@backup_app.command("restore-files")
def restore_files(
    which: Annotated[
        str, typer.Argument(help="Config archive, YYYYmmdd_HHMMSS (newest at or before) or 'latest'.")
    ],
    env_file: EnvFileOption = None,
    backup_dir: BackupDirOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Restore the config dir files and the signing keys (mode 0600) from a config archive."""
    from freeagentics.infra import backup as backups

    settings = operator_settings(env_file)
    root = backups.backup_root(settings, backup_dir)
    archive = _resolve_archive(root, which)
    _confirm(yes, f"Overwrite {settings.config_dir} and {settings.key_dir} from {archive}?")
    try:
        written = backups.restore_files(archive, settings.config_dir, settings.key_dir)
    except (backups.BackupError, OSError) as exc:
        raise _fail(str(exc)) from None
    out.print(f"restored {len(written)} files from {archive}", highlight=False, soft_wrap=True)


def _resolve_archive(root: Path, which: str) -> Path:
    from freeagentics.infra import backup as backups

    candidate = Path(which)
    if candidate.is_file():
        return candidate
    entries = backups.list_backups(root, "config")
    if not entries:
        raise _fail(f"no config archives under {root / 'config'}")
    if which == "latest":
        return entries[-1][1]
    try:
        moment = parse_timestamp(which)
    except BackupPolicyError as exc:
        raise _fail(str(exc), 2) from None
    chosen = select_at_or_before([entry for entry, _ in entries], moment)
    if chosen is None:
        raise _fail(f"no config archive taken at or before {which}")
    return root / "config" / chosen.name


@backup_app.command("restore-system")
def restore_system(
    which: Annotated[
        str, typer.Argument(help="YYYYmmdd_HHMMSS (newest at or before) or 'latest'.")
    ] = "latest",
    env_file: EnvFileOption = None,
    backup_dir: BackupDirOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Full system restore: config dir, keys, then the database, from the backups at or before WHICH."""
    from freeagentics.infra import backup as backups

    settings = operator_settings(env_file)
    root = backups.backup_root(settings, backup_dir)
    database_path = _resolve(settings, root, which)
    archive = _resolve_archive(root, which)
    _confirm(yes, f"Restore {archive.name} and {database_path.name} over the running system?")
    try:
        with progress_status("full system restore") as step:
            written = backups.restore_files(archive, settings.config_dir, settings.key_dir, step)
            if database_path.name.endswith(".sql.gz"):
                result = backups.restore_postgres(database_path, settings.database_url, step)
            else:
                result = backups.restore_sqlite(
                    database_path, backups.sqlite_path(settings.database_url), step
                )
    except (backups.BackupError, OSError) as exc:
        raise _fail(f"full system restore failed: {exc}") from None
    if not result.ok:
        for problem in result.problems:
            console.print(f"[red]MISMATCH[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    out.print(
        f"restored {len(written)} config/key files from {archive} and the database from {database_path}",
        highlight=False,
        soft_wrap=True,
    )
