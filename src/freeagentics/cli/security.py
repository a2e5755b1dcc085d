"""``freeagentics security``: list, add and lift IP blocks (the same records the admin API manages)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from freeagentics.cli.users import EnvFileOption, command_settings

security_app = typer.Typer(help="Security monitoring: blocked client addresses.", no_args_is_help=True)
console = Console(stderr=True)
out = Console()


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise typer.BadParameter(f"not an IP address: {value!r}") from None


@security_app.command("blocks")
def blocks(env_file: EnvFileOption = None) -> None:
    """List the addresses blocked now."""
    from freeagentics.bootstrap import build_container
    from freeagentics.infra.db.repositories.security import BlockedIpRepository

    settings = command_settings(env_file)

    async def main() -> list[tuple[str, dt.datetime, str]]:
        container = await build_container(settings)
        try:
            async with container.session_factory() as session:
                return await BlockedIpRepository(session).active(dt.datetime.now(dt.UTC))
        finally:
            await container.aclose()

    table = Table("ip", "blocked until (UTC)", "reason")
    for ip, until, reason in asyncio.run(main()):
        table.add_row(ip, until.isoformat(), reason)
    out.print(table)


@security_app.command("block")
def block(
    ip: Annotated[str, typer.Argument(help="Client address.")],
    seconds: Annotated[float, typer.Option("--seconds", min=1, max=30 * 86_400)] = 3600,
    reason: Annotated[str, typer.Option("--reason")] = "blocked by an operator",
    env_file: EnvFileOption = None,
) -> None:
    """Block an address for a time."""
    from freeagentics.bootstrap import build_container

    settings = command_settings(env_file)
    address = _address(ip)

    async def main() -> None:
        container = await build_container(settings)
        try:
            await container.security.ip_blocks.block(address, seconds, reason)
            container.security.audit.record(
                "ip_blocked", reason=reason, user="cli", target_ip=address, block_seconds=seconds
            )
        finally:
            await container.aclose()

    asyncio.run(main())
    typer.echo(f"blocked {address} for {seconds:g} s")


@security_app.command("unblock")
def unblock(
    ip: Annotated[str, typer.Argument(help="Client address.")], env_file: EnvFileOption = None
) -> None:
    """Lift a block."""
    from freeagentics.bootstrap import build_container

    settings = command_settings(env_file)
    address = _address(ip)

    async def main() -> bool:
        container = await build_container(settings)
        try:
            async with container.session_factory() as session:
                lifted = await container.security.ip_blocks.lift(address, session)
                await session.commit()
            if lifted:
                container.security.audit.record(
                    "ip_unblocked", reason="lifted by an operator", user="cli", target_ip=address
                )
            return lifted
        finally:
            await container.aclose()

    if not asyncio.run(main()):
        console.print(f"{address} was not blocked")
        raise typer.Exit(1)
    typer.echo(f"unblocked {address}")
