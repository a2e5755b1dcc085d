"""The config dir's YAML files: packaged defaults validate, errors name the file, reload keeps the old."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from freeagentics.config import CONFIG_FILE_NAMES
from freeagentics.infra.config_files import (
    ConfigFileError,
    ConfigStore,
    load_operator_config,
    seed_config_dir,
)
from freeagentics.infra.logging import configure_logging


def test_packaged_defaults_are_valid(tmp_path: Path) -> None:
    seed_config_dir(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(CONFIG_FILE_NAMES)
    config = load_operator_config(tmp_path)
    assert config.agent.tick_rate_hz == 10.0
    assert config.rate_limiting.classes["auth"].requests >= 1
    assert config.security_rules.authentication_failures_per_minute == 10
    assert config.security_rules.rate_limit_violations_per_minute == 50
    assert config.security_policies.registration.default_role in ("observer", "researcher")


def test_missing_files_fall_back_to_packaged_defaults(tmp_path: Path) -> None:
    assert load_operator_config(tmp_path).threading.pools["engine"].max_workers >= 1


@pytest.mark.parametrize(
    ("file_name", "text", "expected"),
    [
        ("agent_config.yaml", "tick_rate_hz: -1\n", "agent_config.yaml: tick_rate_hz"),
        ("agent_config.yaml", "tick_rate: 10\n", "agent_config.yaml: tick_rate"),
        ("agent_config.yaml", "tick_rate_hz: .nan\n", "agent_config.yaml: tick_rate_hz"),
        ("rate_limiting.yaml", "classes: {auth: {requests: 0, window_seconds: 60}}\n", "rate_limiting.yaml"),
        ("rate_limiting.yaml", "classes: [unclosed\n", "rate_limiting.yaml: not valid YAML"),
        ("security_rules.yaml", "- a list\n", "security_rules.yaml: the top level must be a mapping"),
        (
            "security_policies.yaml",
            "registration: {enabled: true, default_role: admin}\n",
            "security_policies.yaml: registration.default_role",
        ),
    ],
)
def test_invalid_files_are_reported_by_name(tmp_path: Path, file_name: str, text: str, expected: str) -> None:
    seed_config_dir(tmp_path)
    (tmp_path / file_name).write_text(text)
    with pytest.raises(ConfigFileError) as raised:
        load_operator_config(tmp_path)
    assert any(problem.startswith(expected) for problem in raised.value.problems), raised.value.problems


def test_reload_keeps_the_old_config_when_a_file_is_invalid(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    seed_config_dir(config_dir)
    configure_logging(tmp_path / "logs", stdout=False)
    store = ConfigStore.load(config_dir)
    seen = []
    store.subscribe(seen.append)

    (config_dir / "agent_config.yaml").write_text("tick_rate_hz: 5\n")
    assert store.reload() is True
    assert store.current.agent.tick_rate_hz == 5.0
    assert len(seen) == 1

    (config_dir / "agent_config.yaml").write_text("tick_rate_hz: [broken\n")
    assert store.reload() is False
    assert store.current.agent.tick_rate_hz == 5.0
    assert len(seen) == 1
    logging.getLogger().handlers[0].flush()
    audit = [json.loads(line) for line in (tmp_path / "logs" / "security_audit.log").read_text().splitlines()]
    assert [line["event"] for line in audit] == ["config_reloaded", "config_reload_failed"]
    assert any("agent_config.yaml" in problem for problem in audit[1]["problems"])
