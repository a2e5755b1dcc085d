"""``freeagentics verify``: data integrity (schema head, foreign keys, orphans, checkpoints) and system
integrity (key files and modes, config files, writable dirs, backup freshness). Exit 1 on a failed check."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from freeagentics.cli.backup import EnvFileOption, console, operator_settings, out, progress_status
from freeagentics.cli.report import print_checks, query_database
from freeagentics.services import integrity

verify_app = typer.Typer(help="Data and system integrity checks.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")]


def finish(checks: list[integrity.CheckResult], title: str, as_json: bool) -> None:
    ok = all(check.passed or check.severity != "error" for check in checks)
    if as_json:
        out.print_json(json.dumps({"check": title, "ok": ok, "results": [asdict(check) for check in checks]}))
    else:
        print_checks(checks, title)
    for check in checks:
        if not check.passed and check.severity == "error":
            console.print(
                f"[red]FAILED[/red] {check.area}: {check.name}: {check.detail}",
                highlight=False,
                soft_wrap=True,
            )
    if not ok:
        raise typer.Exit(1)


@verify_app.command("data")
def verify_data(env_file: EnvFileOption = None, as_json: JsonOption = False) -> None:
    """Migration head, dangling foreign keys, orphaned agents, checkpoint consistency."""
    from freeagentics.infra.db import migrate
    from freeagentics.infra.db.repositories.integrity import gather_data_facts

    settings = operator_settings(env_file)
    notes: list[str] = []
    with progress_status("verifying data integrity") as step:
        step("reading the schema and checking every foreign key")
        facts = query_database(
            settings, lambda engine: gather_data_facts(engine, migrate.head_revision()), notes
        )
    if facts is None:
        checks = [integrity.CheckResult("database", "database reachable", False, "; ".join(notes))]
    else:
        checks = integrity.data_checks(facts)
    finish(checks, "data integrity", as_json)


@verify_app.command("system")
def verify_system(env_file: EnvFileOption = None, as_json: JsonOption = False) -> None:
    """Key files and modes, config files valid, log and data dirs writable, last backup age."""
    from freeagentics.infra import system_probe

    settings = operator_settings(env_file)
    facts = system_probe.gather_system_facts(settings)
    finish(integrity.system_checks(facts), "system integrity", as_json)
