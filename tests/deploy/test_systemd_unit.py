"""deploy/systemd units: ``systemd-analyze verify`` accepts them without a single warning, and the
properties the runbook relies on (reload = SIGHUP, restart on failure, hardening) are set."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import missing_service

REPO_ROOT = Path(__file__).resolve().parents[2]
UNIT_DIR = REPO_ROOT / "deploy" / "systemd"
INSTALL_ROOT = "/opt/freeagentics"

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
    "SystemCallFilter": "@system-service",
    "UMask": "0077",
}


def service_section(unit: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    return dict(parser["Service"])


def verify(
    unit_text: str, file_name: str, tmp_path: Path, *, check_as: str | None = None
) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing_service("systemd-analyze is not installed")
    assert analyze is not None
    # The unit names its install location; verify checks that ExecStart exists, so point it at this checkout.
    (tmp_path / file_name).write_text(unit_text.replace(INSTALL_ROOT, str(REPO_ROOT)))
    target = tmp_path / (check_as or file_name)
    if check_as:
        target.symlink_to(tmp_path / file_name)
    return subprocess.run([analyze, "verify", str(target)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("file_name", "check_as"),
    [("freeagentics.service", None), ("freeagentics@.service", "freeagentics@blue.service")],
)
def test_units_verify_cleanly(tmp_path: Path, file_name: str, check_as: str | None) -> None:
    result = verify((UNIT_DIR / file_name).read_text(), file_name, tmp_path, check_as=check_as)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_verify_rejects_a_broken_unit(tmp_path: Path) -> None:
    broken = (
        (UNIT_DIR / "freeagentics.service").read_text().replace("Restart=on-failure", "Restart=sometimes")
    )
    result = verify(broken, "freeagentics.service", tmp_path)
    assert "Failed to parse service restart specifier" in result.stderr


@pytest.mark.parametrize("file_name", ["freeagentics.service", "freeagentics@.service"])
def test_reload_restart_and_hardening(file_name: str) -> None:
    service = service_section(UNIT_DIR / file_name)
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert service["ExecStart"].endswith("freeagentics serve --env-file /opt/freeagentics/.env.production")
    for key, expected in HARDENING.items():
        assert service[key] == expected, key
    assert service["User"] == "freeagentics"
