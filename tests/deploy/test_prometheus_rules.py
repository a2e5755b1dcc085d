"""Prometheus config and alert rules: promtool checks and unit tests, and every metric the rules and the
Grafana dashboards use is emitted by the app (or is one of the listed node_exporter/blackbox metrics).

promtool comes from Debian's ``prometheus`` package, extracted (not installed, never run as a daemon) by
``scripts/ci/ensure_promtool.sh``; without it these tests skip outside CI and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import missing_service

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
DASHBOARD_DIR = REPO_ROOT / "deploy" / "grafana" / "dashboards"
APP_PREFIXES = ("freeagentics_", "http_")

#: Metrics that come from other exporters, not from the app.
ALLOWED_EXTERNAL_METRICS = frozenset(
    {
        "up",  # Prometheus itself, per scrape target
        "node_cpu_seconds_total",  # node_exporter
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        "probe_ssl_earliest_cert_expiry",  # blackbox_exporter
    }
)
#: The runbook's thresholds, one alert each.
EXPECTED_ALERTS = frozenset(
    {
        "HostHighCpu",
        "HostHighMemory",
        "HostDiskFull",
        "TargetDown",
        "HighResponseTime",
        "HighErrorRate",
        "QueueTooLong",
        "BackupTooOld",
        "AuthenticationFailures",
        "RateLimitViolations",
        "TlsCertificateExpiresSoon",
    }
)
_PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
)


def referenced_metrics(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (function names, labels and keywords excluded)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = re.findall(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()", text)
    return {name for name in names if name not in _PROMQL_KEYWORDS}


def rule_expressions() -> dict[str, str]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard_expressions() -> dict[str, str]:
    found = {}
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found[f"{path.name}: {panel['title']} ({target['refId']})"] = target["expr"]
    return found


@pytest.fixture(scope="module")
def promtool() -> str:
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "ci" / "ensure_promtool.sh")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        missing_service(
            f"promtool unavailable (scripts/ci/ensure_promtool.sh): {result.stderr.strip()[-500:]}"
        )
    return result.stdout.strip().splitlines()[-1]


def run_promtool(promtool: str, *args: str) -> str:
    result = subprocess.run(
        [promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_alert_rules_pass_promtool_check(promtool: str) -> None:
    assert "SUCCESS: 11 rules found" in run_promtool(promtool, "check", "rules", "alerts.yml")


def test_scrape_config_passes_promtool_check(promtool: str) -> None:
    assert "SUCCESS" in run_promtool(promtool, "check", "config", "prometheus.yml")


def test_rule_unit_tests_pass(promtool: str) -> None:
    test_files = sorted(str(path.relative_to(PROMETHEUS_DIR)) for path in PROMETHEUS_DIR.glob("tests/*.yml"))
    assert len(test_files) == 4
    output = run_promtool(promtool, "test", "rules", *test_files)
    assert output.count("SUCCESS") == len(test_files)


def test_every_runbook_threshold_has_an_alert() -> None:
    assert set(rule_expressions()) == EXPECTED_ALERTS


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in PROMETHEUS_DIR.glob("tests/*.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case["exp_alerts"] else silent).add(case["alertname"])
    assert firing == EXPECTED_ALERTS
    assert silent == EXPECTED_ALERTS


def test_metric_name_extraction() -> None:
    assert referenced_metrics(
        'sum by (le) (rate(http_request_duration_seconds_bucket{route=~"/a|/b"}[5m])) > 5'
    ) == {"http_request_duration_seconds_bucket"}
    assert referenced_metrics("(1 - a_bytes / b_bytes) * 100 > 95 and on(instance) up == 1") == {
        "a_bytes",
        "b_bytes",
        "up",
    }
    assert referenced_metrics("time() - max(x_seconds) > 26 * 3600") == {"x_seconds"}


async def test_rules_and_dashboards_use_only_emitted_metrics(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, _app):
        await client.get("/health")
        exposition = (await client.get("/metrics")).text
    emitted = {
        sample.name for family in text_string_to_metric_families(exposition) for sample in family.samples
    }
    expressions = {
        **{f"alerts.yml: {k}": v for k, v in rule_expressions().items()},
        **dashboard_expressions(),
    }
    assert len(expressions) > 40
    unknown = {
        where: sorted(referenced_metrics(expr) - emitted - ALLOWED_EXTERNAL_METRICS)
        for where, expr in expressions.items()
        if referenced_metrics(expr) - emitted - ALLOWED_EXTERNAL_METRICS
    }
    assert unknown == {}
    app_metrics_used = {
        name
        for expr in expressions.values()
        for name in referenced_metrics(expr)
        if name.startswith(APP_PREFIXES)
    }
    assert len(app_metrics_used) >= 15
    assert all(name in emitted for name in app_metrics_used)
