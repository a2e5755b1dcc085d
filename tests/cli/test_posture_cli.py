"""``freeagentics posture validate``: a production setup passes; each bad setting fails with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.infra.test_system_probe import write_certificate
from typer.testing import CliRunner

from freeagentics.cli.main import app
from freeagentics.infra.config_files import seed_config_dir

runner = CliRunner()


@pytest.fixture
def production(settings_env, tmp_path):
    """A production configuration with real secrets, 0600 keys, a valid certificate and a proxy."""
    etc = tmp_path / "etc"
    seed_config_dir(etc)
    keys = etc / "keys"
    keys.mkdir(mode=0o700)
    key = keys / "20260101T000000000000Z-abcdef01.pem"
    key.write_text("private")
    key.chmod(0o600)
    certificate = tmp_path / "freeagentics.crt"
    write_certificate(certificate, days=90)
    variables = {
        "environment": "production",
        "database_url": "postgresql+asyncpg://freeagentics:N0t-a-default-Secret@127.0.0.1:5432/freeagentics",
        "redis_url": "redis://:An0ther-Secret@127.0.0.1:6379/0",
        "config_dir": etc,
        "auth_key_dir": keys,
        "log_dir": tmp_path / "logs",
        "security_trusted_proxies": "10.0.0.5/32",
        "security_tls_cert_file": certificate,
    }
    return variables, etc, key, certificate


def validate(settings_env, variables) -> tuple[int, str, dict]:
    settings_env(**variables)
    result = runner.invoke(app, ["posture", "validate", "--json"])
    text = runner.invoke(app, ["posture", "validate"]).output
    return result.exit_code, text, json.loads(result.stdout)


def test_a_sound_production_setup_passes(settings_env, production) -> None:
    variables, *_ = production
    code, text, payload = validate(settings_env, variables)
    assert code == 0, text
    assert payload["ok"] is True
    assert all(check["passed"] for check in payload["results"])


def test_loose_key_mode_fails_with_the_reason(settings_env, production) -> None:
    variables, _, key, _ = production
    key.chmod(0o644)
    code, text, _ = validate(settings_env, variables)
    assert code == 1
    assert "key files mode 0600" in text
    assert "is 0644 (chmod 600)" in text


def test_missing_trusted_proxies_fails_in_production(settings_env, production) -> None:
    variables, *_ = production
    variables["security_trusted_proxies"] = ""
    code, text, _ = validate(settings_env, variables)
    assert code == 1
    assert "TRUSTED_PROXIES is empty" in text


def test_expiring_certificate_fails(settings_env, production) -> None:
    variables, _, _, certificate = production
    write_certificate(certificate, days=10)
    code, text, _ = validate(settings_env, variables)
    assert code == 1
    assert "certificate valid > 30 days" in text


def test_disabled_rate_limiting_fails(settings_env, production) -> None:
    variables, etc, _, _ = production
    path: Path = etc / "rate_limiting.yaml"
    path.write_text(path.read_text().replace("enabled: true", "enabled: false"))
    assert "enabled: false" in path.read_text()
    code, text, _ = validate(settings_env, variables)
    assert code == 1
    assert "rate_limiting.yaml has enabled: false" in text


def test_missing_keys_fail(settings_env, production) -> None:
    variables, _, key, _ = production
    key.unlink()
    code, text, _ = validate(settings_env, variables)
    assert code == 1
    assert "no *.pem private key" in text


def test_default_secret_stops_production_before_any_check(settings_env, production, monkeypatch) -> None:
    variables, *_ = production
    settings_env()
    for name, value in variables.items():
        monkeypatch.setenv(f"FREEAGENTICS_{name.upper()}", str(value))
    monkeypatch.setenv(
        "FREEAGENTICS_DATABASE_URL", "postgresql+asyncpg://freeagentics:changeme@127.0.0.1:5432/freeagentics"
    )
    result = runner.invoke(app, ["posture", "validate"])
    assert result.exit_code == 2
    assert "default password" in result.output
