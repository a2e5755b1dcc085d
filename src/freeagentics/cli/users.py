"""``freeagentics users``: create (bootstraps the first admin), list, set-role, deactivate.

Passwords are never command-line arguments (they would land in shell history and ``ps``): they are prompted
for without echo, or read from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from freeagentics.config import Settings, SettingsError, load_settings
from freeagentics.services.auth.ports import UsernameTakenError
from freeagentics.services.auth.rbac import Role
from freeagentics.services.auth.service import AuthService, UserInputError, UserNotFoundError

users_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
console = Console(stderr=True)
out = Console()

T = TypeVar("T")

EnvFileOption = Annotated[
    Path | None,
    typer.Option("--env-file", help="Env file to read (default: .env or $FREEAGENTICS_ENV_FILE)."),
]
CLI_ACTOR = "cli"


def command_settings(env_file: Path | None) -> Settings:
    try:
        settings = load_settings(env_file)
    except SettingsError as exc:
        console.print(f"[red]configuration error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _audit_to_file(settings)
    return settings


def _audit_to_file(settings: Settings) -> None:
    """Commands that change users or keys leave audit records in the same file as the service."""
    from freeagentics.infra.logging import configure_logging

    try:
        configure_logging(settings.log_dir, settings.logging.level, stdout=False)
    except OSError as exc:
        console.print(f"[yellow]warning:[/yellow] cannot write logs to {settings.log_dir}: {exc}")
    logging.getLogger("freeagentics").setLevel(logging.INFO)


def run_with_auth(settings: Settings, action: Callable[[AuthService, int], Awaitable[T]]) -> T:
    """Run ``action(auth service, password min length)`` in one committed transaction."""
    from freeagentics.bootstrap import build_auth_service, build_container

    async def main() -> T:
        container = await build_container(settings)
        try:
            async with container.session_factory() as session:
                min_length = container.config.current.security_policies.password.min_length
                result = await action(build_auth_service(container, session), min_length)
                await session.commit()
                return result
        finally:
            await container.aclose()

    return asyncio.run(main())


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("create")
def create(
    username: Annotated[
        str | None, typer.Argument(help="Login name (3-64 of letters, digits, . _ -); prompted if omitted.")
    ] = None,
    *,
    role: Annotated[Role, typer.Option("--role", help="admin, operator, researcher or observer.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    env_file: EnvFileOption = None,
) -> None:
    """Create a user. ``freeagentics users create alice --role admin`` bootstraps the first admin."""
    settings = command_settings(env_file)
    name = username if username is not None else str(typer.prompt("Username"))
    password = _read_password(password_stdin)

    async def action(service: AuthService, min_length: int) -> str:
        user = await service.create_user(
            name, password, role, min_password_length=min_length, actor=CLI_ACTOR
        )
        return str(user.id)

    try:
        user_id = run_with_auth(settings, action)
    except UserInputError as exc:
        console.print(f"[red]invalid:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except UsernameTakenError:
        console.print(f"[red]exists:[/red] a user named {name!r} exists already", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(f"created {role.value} {name} ({user_id})")


@users_app.command("list")
def list_users(env_file: EnvFileOption = None) -> None:
    """List users with their role and state."""
    settings = command_settings(env_file)

    async def action(service: AuthService, _min: int) -> list[tuple[str, str, str, str]]:
        users = await service.users.list(10_000, 0)
        return [
            (str(u.id), u.username, u.role.value, "active" if u.is_active else "deactivated") for u in users
        ]

    rows = run_with_auth(settings, action)
    table = Table("id", "username", "role", "state")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _resolve(service: AuthService, who: str) -> Awaitable[uuid.UUID]:
    async def resolve() -> uuid.UUID:
        user = await service.users.by_username(who)
        if user is not None:
            return user.id
        try:
            return uuid.UUID(who)
        except ValueError:
            raise UserNotFoundError(who) from None

    return resolve()


@users_app.command("set-role")
def set_role(
    user: Annotated[str, typer.Argument(help="Username or user id.")],
    role: Annotated[Role, typer.Argument(help="admin, operator, researcher or observer.")],
    env_file: EnvFileOption = None,
) -> None:
    """Change a user's role; their existing tokens stop working at once."""
    settings = command_settings(env_file)

    async def action(service: AuthService, _min: int) -> str:
        updated = await service.set_role(await _resolve(service, user), role, actor=CLI_ACTOR)
        return updated.username

    try:
        name = run_with_auth(settings, action)
    except UserNotFoundError:
        console.print(f"[red]not found:[/red] {user}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(f"{name} is now {role.value}")


@users_app.command("deactivate")
def deactivate(
    user: Annotated[str, typer.Argument(help="Username or user id.")], env_file: EnvFileOption = None
) -> None:
    """Deactivate a user; their existing tokens stop working at once."""
    settings = command_settings(env_file)

    async def action(service: AuthService, _min: int) -> str:
        updated = await service.deactivate(await _resolve(service, user), actor=CLI_ACTOR)
        return updated.username

    try:
        name = run_with_auth(settings, action)
    except UserNotFoundError:
        console.print(f"[red]not found:[/red] {user}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(f"{name} deactivated")
