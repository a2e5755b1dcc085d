"""The ``freeagentics`` command line: serve, db, config (more groups arrive with their features)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from freeagentics.cli.backup import backup_app
from freeagentics.cli.keys import keys_app
from freeagentics.cli.posture import posture_app
from freeagentics.cli.report import report_app
from freeagentics.cli.security import security_app
from freeagentics.cli.users import users_app
from freeagentics.cli.verify import verify_app
from freeagentics.config import ENV_FILE_VARIABLE, Settings, SettingsError, load_settings

app = typer.Typer(
    name="freeagentics", help="Run and operate FreeAgentics.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)
config_app = typer.Typer(help="Settings and config-dir files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(backup_app, name="backup")
app.add_typer(report_app, name="report")
app.add_typer(verify_app, name="verify")
app.add_typer(posture_app, name="posture")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(security_app, name="security")

console = Console(stderr=True)

EnvFileOption = Annotated[
    Path | None,
    typer.Option("--env-file", help="Env file to read (default: .env or $FREEAGENTICS_ENV_FILE)."),
]


def _settings(env_file: Path | None) -> Settings:
    try:
        settings = load_settings(env_file)
    except SettingsError as exc:
        console.print(f"[red]configuration error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if settings.is_embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


@app.command()
def serve(
    env_file: EnvFileOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Run the API server (and, on the embedded default, the demo world) until SIGTERM or Ctrl-C."""
    import os

    import uvicorn

    from freeagentics.bootstrap import configure_process

    settings = _settings(env_file)
    if env_file is not None:
        # The app factory reads the settings again in the same process; point it at the same file.
        os.environ[ENV_FILE_VARIABLE] = str(env_file)
    configure_process(settings)
    if settings.is_production:
        _require_signing_key(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            # By import string: the CLI and the API are sibling layers and never import each other.
            "freeagentics.api.app:create_app",
            factory=True,
            host=host or settings.server.host,
            port=port or settings.server.port,
            log_config=None,
            access_log=False,
            proxy_headers=False,  # client addresses come from our own trusted-proxy logic
            server_header=False,
            timeout_graceful_shutdown=int(settings.server.graceful_shutdown_seconds),
            ws="websockets-sansio",
        )
    )
    # uvicorn re-raises the signal that stopped it once it has drained; a no-op handler installed first is
    # what it restores, so a drained SIGTERM ends with exit status 0 instead of death by signal.
    signal.signal(signal.SIGTERM, lambda *_: None)
    server.run()
    if not server.started:
        sys.exit(1)


def _require_signing_key(settings: Settings) -> None:
    """Production never generates keys: refuse to start, in one line, without a usable signing key."""
    from freeagentics.infra.security.keys import KeyDirError, read_key_dir

    try:
        usable = bool(read_key_dir(settings.key_dir))
    except (KeyDirError, OSError) as exc:
        console.print(f"[red]configuration error:[/red] signing keys: {exc}", highlight=False)
        raise typer.Exit(2) from None
    if not usable:
        console.print(
            f"[red]configuration error:[/red] no signing key in {settings.key_dir}; "
            "create one with `freeagentics keys rotate`",
            highlight=False,
        )
        raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    env_file: EnvFileOption = None,
) -> None:
    """Migrate the database up to REVISION (default: head)."""
    from freeagentics.infra.db import migrate

    settings = _settings(env_file)
    migrate.upgrade(settings.database_url, revision)
    typer.echo(f"database at {migrate.current_revision(settings.database_url)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
    env_file: EnvFileOption = None,
) -> None:
    """Migrate the database down to REVISION."""
    from freeagentics.infra.db import migrate

    settings = _settings(env_file)
    migrate.downgrade(settings.database_url, revision)
    typer.echo(f"database at {migrate.current_revision(settings.database_url) or 'base'}")


@db_app.command("current")
def db_current(env_file: EnvFileOption = None) -> None:
    """Print the database's revision and the code's head revision."""
    from freeagentics.infra.db import migrate

    settings = _settings(env_file)
    current = migrate.current_revision(settings.database_url)
    head = migrate.head_revision()
    typer.echo(f"current: {current or 'base'}\nhead: {head}")
    if current != head:
        raise typer.Exit(1)


@config_app.command("validate")
def config_validate(env_file: EnvFileOption = None) -> None:
    """Check the environment settings and every YAML file in the config dir; exit 1 on any problem."""
    from freeagentics.infra.config_files import ConfigFileError, load_operator_config

    settings = _settings(env_file)
    try:
        load_operator_config(settings.config_dir)
    except ConfigFileError as exc:
        for problem in exc.problems:
            console.print(f"[red]invalid:[/red] {problem}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(f"settings ok ({settings.server.environment.value}); config dir {settings.config_dir} ok")


if __name__ == "__main__":
    app()
