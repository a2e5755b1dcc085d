"""``freeagentics posture validate``: the security posture the runbook's evening checklist runs.

Signing keys present with mode 0600 (key dir 0700), no missing or default database/Redis secret, TLS
certificate valid for more than 30 days, debug off, rate limiting enabled in ``rate_limiting.yaml``,
trusted proxies set in production (and never "everyone"), operational endpoints not public, every config
file valid. Exit 1 with the reasons when any check fails; in development, TLS, debug and default secrets
are warnings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from freeagentics.cli.backup import EnvFileOption, operator_settings
from freeagentics.cli.verify import JsonOption, finish
from freeagentics.services import integrity

posture_app = typer.Typer(help="Security posture validation.", no_args_is_help=True)


@posture_app.command("validate")
def validate(
    env_file: EnvFileOption = None,
    certificate: Annotated[
        Path | None,
        typer.Option(help="TLS certificate to check (default $FREEAGENTICS_SECURITY_TLS_CERT_FILE)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check keys, secrets, TLS expiry, debug, rate limiting and proxy trust; exit 1 with the reasons."""
    from freeagentics.infra import system_probe

    settings = operator_settings(env_file)
    facts = system_probe.gather_system_facts(settings, certificate)
    finish(integrity.posture_checks(facts), f"security posture ({facts.environment})", as_json)
