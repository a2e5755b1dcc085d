"""``freeagentics users``, ``keys`` and ``security`` on the embedded default, with their audit records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from freeagentics.cli.main import app

runner = CliRunner()
REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-enough-password"
FAST = {"auth_argon2_time_cost": 2, "auth_argon2_memory_kib": 19456}


def _audit(settings) -> list[dict]:
    path = settings.log_dir / "security_audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_users_create_list_set_role_deactivate(settings_env) -> None:
    settings = settings_env(**FAST)
    created = runner.invoke(
        app, ["users", "create", "root", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert created.exit_code == 0, created.output
    assert "created admin root" in created.output
    again = runner.invoke(
        app, ["users", "create", "ROOT", "--role", "observer", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert again.exit_code == 1
    assert "exists already" in again.output
    weak = runner.invoke(
        app, ["users", "create", "weak", "--role", "observer", "--password-stdin"], input="short\n"
    )
    assert weak.exit_code == 1
    assert "at least 12 characters" in weak.output
    bad_role = runner.invoke(
        app, ["users", "create", "x", "--role", "superuser", "--password-stdin"], input=PASSWORD
    )
    assert bad_role.exit_code == 2

    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0
    assert "root" in listed.output
    assert "admin" in listed.output
    assert runner.invoke(app, ["users", "set-role", "root", "operator"]).exit_code == 0
    assert runner.invoke(app, ["users", "deactivate", "root"]).exit_code == 0
    assert runner.invoke(app, ["users", "deactivate", "nobody"]).exit_code == 1
    final = runner.invoke(app, ["users", "list"])
    assert "operator" in final.output
    assert "deactivated" in final.output
    events = [(r["event"], r.get("target")) for r in _audit(settings)]
    assert ("user_created", "root") in events
    assert ("role_changed", "root") in events
    assert ("user_deactivated", "root") in events
    assert PASSWORD not in (settings.log_dir / "security_audit.log").read_text()


def test_keys_rotate_through_the_runbook_script(settings_env) -> None:
    settings = settings_env()
    first = runner.invoke(app, ["keys", "rotate"])
    assert first.exit_code == 0, first.output
    env = {
        "FREEAGENTICS_DATA_DIR": str(settings.data_dir),
        "FREEAGENTICS_ENV_FILE": "/dev/null",
        "FREEAGENTICS_LOG_STDOUT": "false",
        "PATH": "/usr/bin:/bin",
    }
    script = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts/security/rotate_jwt_keys.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert "new signing key" in script.stdout
    keys = sorted(settings.key_dir.glob("*.pem"))
    assert len(keys) == 2
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in keys)
    listed = runner.invoke(app, ["keys", "list"])
    assert "signs + verifies" in listed.output
    assert [r["event"] for r in _audit(settings)].count("key_rotated") == 2


def test_security_block_list_unblock(settings_env) -> None:
    settings = settings_env()
    assert (
        runner.invoke(
            app, ["security", "block", "192.0.2.10", "--seconds", "600", "--reason", "scanner"]
        ).exit_code
        == 0
    )
    listed = runner.invoke(app, ["security", "blocks"])
    assert "192.0.2.10" in listed.output
    assert runner.invoke(app, ["security", "block", "not-an-ip"]).exit_code == 2
    assert runner.invoke(app, ["security", "unblock", "192.0.2.10"]).exit_code == 0
    assert runner.invoke(app, ["security", "unblock", "192.0.2.10"]).exit_code == 1
    assert "192.0.2.10" not in runner.invoke(app, ["security", "blocks"]).output
    assert [r["event"] for r in _audit(settings)] == ["ip_blocked", "ip_unblocked"]


def test_users_create_prompts_for_the_name_and_password(settings_env) -> None:
    settings_env(**FAST)
    result = runner.invoke(
        app, ["users", "create", "--role", "admin"], input=f"first-admin\n{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "created admin first-admin" in result.output
    assert PASSWORD not in result.output
