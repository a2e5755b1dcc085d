from __future__ import annotations

from pathlib import Path

import pytest

from freeagentics.config import SettingsError, load_settings


def test_embedded_default_needs_no_configuration(settings_env) -> None:
    settings = settings_env()
    assert settings.is_embedded
    assert settings.redis_url is None
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.log_dir == settings.data_dir / "logs"
    assert settings.config_dir == settings.data_dir / "config"


def test_production_defaults_point_at_the_runbook_paths(settings_env) -> None:
    settings = settings_env(
        environment="production",
        database_url="postgresql+asyncpg://fa:s3cr3t-Unique@db/fa",
        redis_url="redis://127.0.0.1:6379/0",
    )
    assert str(settings.log_dir) == "/var/log/freeagentics"
    assert str(settings.config_dir) == "/etc/freeagentics"
    assert str(settings.key_dir) == "/etc/freeagentics/keys"


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({}, "FREEAGENTICS_DATABASE_URL"),
        ({"database_url": "sqlite+aiosqlite:///x.db"}, "postgresql"),
        ({"database_url": "postgresql+asyncpg://fa@db/fa"}, "default password"),
        ({"database_url": "postgresql+asyncpg://fa:changeme@db/fa"}, "default password"),
        ({"database_url": "postgresql+asyncpg://fa:password@db/fa"}, "default password"),
        ({"database_url": "postgresql+asyncpg://fa:Unique-9f2@db/fa"}, "FREEAGENTICS_REDIS_URL"),
        (
            {
                "database_url": "postgresql+asyncpg://fa:Unique-9f2@db/fa",
                "redis_url": "redis://:redis@r:6379/0",
            },
            "FREEAGENTICS_REDIS_URL has a default password",
        ),
        (
            {
                "database_url": "postgresql+asyncpg://fa:Unique-9f2@db/fa",
                "redis_url": "redis://r:6379/0",
                "debug": "true",
            },
            "FREEAGENTICS_DEBUG",
        ),
    ],
)
def test_production_refuses_missing_or_default_secrets(settings_env, variables, named) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_env(environment="production", **variables)
    message = str(raised.value)
    assert named in message
    assert "\n" not in message
    assert "changeme" not in message
    assert "Unique-9f2" not in message


def test_development_accepts_default_passwords(settings_env) -> None:
    settings = settings_env(database_url="postgresql+asyncpg://fa:changeme@db/fa")
    assert not settings.is_production


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("port", "eighty", "FREEAGENTICS_PORT"),
        ("environment", "prod", "FREEAGENTICS_ENVIRONMENT"),
        ("database_pool_size", "0", "FREEAGENTICS_DATABASE_POOL_SIZE"),
        ("security_trusted_proxies", "10.0.0.1/8", "FREEAGENTICS_SECURITY_TRUSTED_PROXIES"),
        ("log_level", "LOUD", "FREEAGENTICS_LOG_LEVEL"),
    ],
)
def test_a_malformed_value_gives_one_clear_error(settings_env, variable, value, named) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_env(**{variable: value})
    message = str(raised.value)
    assert message.startswith("invalid setting ")
    assert named in message
    assert "\n" not in message


def test_env_file_with_export_lines_is_read(settings_env, tmp_path: Path, monkeypatch) -> None:
    settings_env()
    env_file = tmp_path / ".env.production"
    env_file.write_text(
        "# as sourced by the runbook\nexport FREEAGENTICS_PORT=9123\nexport REDIS_URL=redis://127.0.0.1:6390/2\n"
    )
    settings = load_settings(env_file)
    assert settings.server.port == 9123
    assert settings.redis_url == "redis://127.0.0.1:6390/2"


def test_environment_wins_over_env_file(settings_env, tmp_path: Path, monkeypatch) -> None:
    settings_env()
    env_file = tmp_path / "other.env"
    env_file.write_text("FREEAGENTICS_PORT=9123\n")
    monkeypatch.setenv("FREEAGENTICS_PORT", "9200")
    assert load_settings(env_file).server.port == 9200


def test_a_named_env_file_that_does_not_exist_is_an_error(settings_env, tmp_path: Path) -> None:
    settings_env()
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.env")


def test_trusted_networks_parse_comma_separated(settings_env) -> None:
    settings = settings_env(security_trusted_networks="10.0.0.0/8, 192.168.1.7")
    assert [str(n) for n in settings.security.trusted_networks] == ["10.0.0.0/8", "192.168.1.7/32"]


def _documented_variables() -> set[str]:
    from freeagentics.config import (
        AuthSettings,
        DatabaseSettings,
        LoggingSettings,
        RedisSettings,
        RuntimeSettings,
        SecuritySettings,
        ServerSettings,
    )

    names = set()
    for group in (
        ServerSettings,
        DatabaseSettings,
        RedisSettings,
        AuthSettings,
        LoggingSettings,
        RuntimeSettings,
        SecuritySettings,
    ):
        prefix = group.model_config["env_prefix"]
        names |= {f"{prefix}{field}".upper() for field in group.model_fields}
    return names


@pytest.mark.parametrize("example", [".env.example", ".env.production.example"])
def test_every_setting_is_documented_in_the_env_examples(example: str) -> None:
    text = (Path(__file__).resolve().parents[1] / example).read_text()
    missing = sorted(name for name in _documented_variables() if name not in text)
    assert missing == []
