"""``freeagentics db upgrade|current|downgrade`` and ``config validate`` on the embedded default."""

from __future__ import annotations

from typer.testing import CliRunner

from freeagentics.cli.main import app
from freeagentics.infra.db import migrate

runner = CliRunner()


def test_db_commands_move_the_schema(settings_env) -> None:
    settings_env()
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 1
    assert "current: base" in current.output

    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"database at {migrate.head_revision()}" in upgraded.output
    assert runner.invoke(app, ["db", "current"]).exit_code == 0

    downgraded = runner.invoke(app, ["db", "downgrade", "base"])
    assert downgraded.exit_code == 0, downgraded.output
    assert "database at base" in downgraded.output


def test_config_validate_reports_the_broken_file(settings_env, tmp_path) -> None:
    settings = settings_env(config_dir=tmp_path / "etc")
    from freeagentics.infra.config_files import seed_config_dir

    seed_config_dir(settings.config_dir)
    assert runner.invoke(app, ["config", "validate"]).exit_code == 0
    (settings.config_dir / "threading_config.yaml").write_text("pools: {engine: {max_workers: 0}}\n")
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 1
    assert "threading_config.yaml" in result.output


def test_a_malformed_setting_exits_2_with_one_line(settings_env, monkeypatch) -> None:
    settings_env()
    monkeypatch.setenv("FREEAGENTICS_PORT", "not-a-port")
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 2
    assert "FREEAGENTICS_PORT" in result.output


def test_production_serve_refuses_to_start_without_a_signing_key_in_one_line(settings_env, tmp_path) -> None:
    settings_env(
        environment="production",
        database_url="postgresql+asyncpg://fa:Unique-9f2@127.0.0.1:1/fa",
        redis_url="redis://127.0.0.1:1/0",
        auth_key_dir=tmp_path / "no-keys-here",
        config_dir=tmp_path / "etc",
        log_dir=tmp_path / "logs",
    )
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "no signing key in" in result.output
    assert "Traceback" not in result.output
