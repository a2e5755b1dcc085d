"""``freeagentics keys``: rotate and list the JWT signing keys in the key dir.

``rotate`` adds a new Ed25519 key (it signs from now on; running processes notice the key dir changed and
pick it up without a restart) and retires keys whose successor has signed for longer than the longest token
lifetime, so no token they signed can still be valid.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from freeagentics.cli.users import EnvFileOption, command_settings

keys_app = typer.Typer(help="JWT signing keys (key dir).", no_args_is_help=True)
console = Console(stderr=True)
out = Console()


@keys_app.command("rotate")
def rotate(
    env_file: EnvFileOption = None,
    key_dir: Annotated[Path | None, typer.Option("--key-dir", help="Override the settings' key dir.")] = None,
) -> None:
    """Add a signing key and retire keys no valid token can need any more."""
    from freeagentics.infra.logging import AUDIT_LOGGER, log_fields
    from freeagentics.infra.security.keys import add_key, retire_expired

    settings = command_settings(env_file)
    directory = key_dir or settings.key_dir
    keep_for = (
        dt.timedelta(days=settings.auth.refresh_token_days)
        + dt.timedelta(minutes=settings.auth.access_token_minutes)
        + dt.timedelta(seconds=settings.auth.leeway_seconds)
    )
    try:
        created = add_key(directory)
        retired = retire_expired(directory, keep_for)
    except OSError as exc:
        console.print(f"[red]cannot write the key dir {directory}:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    logging.getLogger(AUDIT_LOGGER).info(
        "key_rotated",
        extra=log_fields(
            reason="signing key rotated", user="cli", kid=created.kid, retired=retired, key_dir=str(directory)
        ),
    )
    typer.echo(f"new signing key {created.kid} in {directory}")
    for kid in retired:
        typer.echo(f"retired {kid}")


@keys_app.command("list")
def list_keys(
    env_file: EnvFileOption = None,
    key_dir: Annotated[Path | None, typer.Option("--key-dir", help="Override the settings' key dir.")] = None,
) -> None:
    """List the key ids; the newest signs, all verify."""
    from freeagentics.infra.security.keys import read_key_dir

    settings = command_settings(env_file)
    keys = read_key_dir(key_dir or settings.key_dir)
    if not keys:
        console.print(f"no keys in {key_dir or settings.key_dir}; create one with `freeagentics keys rotate`")
        raise typer.Exit(1)
    table = Table("kid", "created", "use")
    for key in keys:
        table.add_row(
            key.kid, key.created_at.isoformat(), "signs + verifies" if key is keys[-1] else "verifies"
        )
    out.print(table)
