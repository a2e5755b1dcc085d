"""Facts about the host and the running server for posture validation, integrity checks and reports.

Reads files and their modes, the TLS certificate, the config dir, writable directories, the running server's
``/metrics`` and ``/api/v1/system/metrics`` (plain HTTP through ``urllib``; a bearer token when given), and
the memory of FreeAgentics processes (psutil). Nothing here decides pass or fail: that is
:mod:`freeagentics.services.integrity`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from freeagentics.config import KNOWN_DEFAULT_PASSWORDS, Settings
from freeagentics.infra.backup import read_backup_status
from freeagentics.infra.config_files import ConfigFileError, load_operator_config
from freeagentics.services.integrity import CertificateFacts, KeyFile, SystemFacts
from freeagentics.services.reports import RuntimeFigures, WindowSteps

HTTP_TIMEOUT_SECONDS = 5.0
STEPS_METRIC = "freeagentics_agent_steps_total"
AGENTS_METRIC = "freeagentics_agents"


def certificate_facts(path: Path) -> CertificateFacts:
    from cryptography import x509

    if not path.is_file():
        return CertificateFacts(path=str(path), exists=False)
    try:
        data = path.read_bytes()
        certificate = (
            x509.load_pem_x509_certificate(data)
            if b"-----BEGIN" in data
            else x509.load_der_x509_certificate(data)
        )
    except (OSError, ValueError) as exc:
        return CertificateFacts(path=str(path), exists=True, error=f"not a readable certificate: {exc}")
    return CertificateFacts(
        path=str(path),
        exists=True,
        not_after=certificate.not_valid_after_utc,
        subject=certificate.subject.rfc4514_string(),
    )


def is_writable(directory: Path) -> bool:
    """Whether a file can really be created there (mode bits lie under root and on read-only mounts)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            return True
    except OSError:
        return False


def _password_is_default(url: str | None) -> bool:
    if url is None:
        return False
    try:
        password = urlsplit(url).password
    except ValueError:
        return True
    return password is None or password.lower() in KNOWN_DEFAULT_PASSWORDS


def gather_system_facts(settings: Settings, certificate: Path | None = None) -> SystemFacts:
    key_dir = settings.key_dir
    key_files: list[KeyFile] = []
    key_dir_mode = None
    if key_dir.is_dir():
        key_dir_mode = stat.S_IMODE(key_dir.stat().st_mode)
        key_files = [
            KeyFile(name=path.name, mode=stat.S_IMODE(path.stat().st_mode))
            for path in sorted(key_dir.glob("*.pem"))
            if path.is_file()
        ]
    problems: tuple[str, ...] = ()
    rate_limiting_enabled: bool | None = None
    classes: tuple[str, ...] = ()
    try:
        operator = load_operator_config(settings.config_dir)
        rate_limiting_enabled = operator.rate_limiting.enabled
        classes = tuple(sorted(operator.rate_limiting.classes))
    except ConfigFileError as exc:
        problems = tuple(exc.problems)
        if not any(problem.startswith("rate_limiting.yaml") for problem in problems):
            rate_limiting_enabled = None
    status = read_backup_status(settings.data_dir)
    last_backup = None
    if status is not None and isinstance(status.get("last_success_unix"), int | float):
        last_backup = dt.datetime.fromtimestamp(float(status["last_success_unix"]), tz=dt.UTC)
    database_default = (
        _password_is_default(settings.database.url.get_secret_value())
        if settings.database.url is not None
        else settings.is_production
    )
    return SystemFacts(
        environment=settings.server.environment.value,
        debug=settings.server.debug,
        database_password_default=database_default,
        redis_password_default=(
            settings.redis_url is not None
            and urlsplit(settings.redis_url).password is not None
            and _password_is_default(settings.redis_url)
        ),
        key_dir=str(key_dir),
        key_dir_exists=key_dir.is_dir(),
        key_dir_mode=key_dir_mode,
        key_files=tuple(key_files),
        certificate=certificate_facts(certificate or settings.security.tls_cert_file),
        config_dir=str(settings.config_dir),
        config_problems=problems,
        rate_limiting_enabled=rate_limiting_enabled,
        rate_limit_classes=classes,
        trusted_proxies=tuple(str(network) for network in settings.security.trusted_proxies),
        trusted_networks=tuple(str(network) for network in settings.security.trusted_networks),
        log_dir=str(settings.log_dir),
        log_dir_writable=is_writable(settings.log_dir),
        data_dir=str(settings.data_dir),
        data_dir_writable=is_writable(settings.data_dir),
        backup_last_success=last_backup,
    )


def server_base_url(settings: Settings) -> str:
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a bind-all address is reached through loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


def _get(url: str, token: str | None) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url)  # noqa: S310 - scheme checked above
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
        body: bytes = response.read(16 * 1024 * 1024)
        return body


def fetch_runtime_figures(base_url: str, token: str | None = None) -> RuntimeFigures:
    """Agent steps and agents by status from the server's Prometheus ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    source = f"{base_url}/metrics"
    try:
        body = _get(source, token).decode("utf-8", "replace")
    except (OSError, ValueError, urllib.error.URLError) as exc:
        return RuntimeFigures(source=source, reachable=False, detail=f"server not reachable: {exc}")
    steps: float | None = None
    by_status: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if sample.name == STEPS_METRIC:
                    steps = (steps or 0.0) + sample.value
                elif sample.name == AGENTS_METRIC and "status" in sample.labels:
                    by_status[sample.labels["status"]] = (
                        by_status.get(sample.labels["status"], 0.0) + sample.value
                    )
    except ValueError as exc:
        return RuntimeFigures(source=source, reachable=True, detail=f"unparseable metrics: {exc}")
    detail = None if steps is not None else f"{STEPS_METRIC} is not exported by this server"
    return RuntimeFigures(
        source=source, reachable=True, agent_steps_total=steps, agents_by_status=by_status, detail=detail
    )


def fetch_system_metrics(base_url: str, token: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """``/api/v1/system/metrics`` as JSON, or ``None`` and the reason it could not be read."""
    url = f"{base_url}/api/v1/system/metrics"
    try:
        payload = json.loads(_get(url, token))
    except urllib.error.HTTPError as exc:
        return None, f"{url} answered HTTP {exc.code}"
    except (OSError, ValueError, urllib.error.URLError) as exc:
        return None, f"{url} not reachable: {exc}"
    if not isinstance(payload, dict):
        return None, f"{url} did not answer a JSON object"
    return payload, url


def _is_freeagentics_server(process: psutil.Process, cmdline: str) -> bool:
    if "freeagentics serve" in cmdline or "freeagentics.api.app" in cmdline:
        return True
    arguments = process.info.get("cmdline") or []
    scripts = [argument for argument in arguments if argument.endswith("main.py")]
    if not scripts:
        return False
    # Many programs have a main.py: count it only when it is FreeAgentics' own entry point.
    try:
        script = Path(scripts[0])
        if not script.is_absolute():
            script = Path(process.cwd()) / script
        return "freeagentics.cli.main" in script.read_text(encoding="utf-8", errors="replace")[:4096]
    except (OSError, psutil.Error):
        return False


def freeagentics_processes() -> list[dict[str, Any]]:
    """Memory of every running FreeAgentics server process (``freeagentics serve``, ``main.py``, uvicorn)."""
    found: list[dict[str, Any]] = []
    me = os.getpid()
    for process in psutil.process_iter(["pid", "cmdline", "memory_info", "num_threads", "create_time"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if process.info["pid"] == me or not cmdline:
            continue
        if not _is_freeagentics_server(process, cmdline):
            continue
        memory = process.info.get("memory_info")
        entry: dict[str, Any] = {
            "pid": process.info["pid"],
            "command": cmdline[:160],
            "rss_bytes": getattr(memory, "rss", None),
            "vms_bytes": getattr(memory, "vms", None),
            "threads": process.info.get("num_threads"),
        }
        try:
            entry["uss_bytes"] = process.memory_full_info().uss
        except (psutil.AccessDenied, psutil.NoSuchProcess, AttributeError):
            entry["uss_bytes"] = None
        found.append(entry)
    return found


def fetch_window_steps(prometheus_url: str, hours: float, token: str | None = None) -> WindowSteps:
    """``sum(increase(freeagentics_agent_steps_total[<hours>h]))`` from the Prometheus HTTP API."""
    from urllib.parse import urlencode

    minutes = max(1, round(hours * 60))
    query = f"sum(increase({STEPS_METRIC}[{minutes}m]))"
    url = f"{prometheus_url.rstrip('/')}/api/v1/query?{urlencode({'query': query})}"
    source = f"Prometheus {prometheus_url}: {query}"
    try:
        payload = json.loads(_get(url, token))
    except urllib.error.HTTPError as exc:
        return WindowSteps(source=source, steps=None, detail=f"Prometheus answered HTTP {exc.code}")
    except (OSError, ValueError, urllib.error.URLError) as exc:
        return WindowSteps(source=source, steps=None, detail=f"Prometheus not reachable: {exc}")
    try:
        if payload["status"] != "success":
            return WindowSteps(source=source, steps=None, detail=f"query failed: {payload.get('error')}")
        result = payload["data"]["result"]
        if not result:
            return WindowSteps(
                source=source, steps=None, detail=f"Prometheus has no {STEPS_METRIC} series yet"
            )
        return WindowSteps(source=source, steps=float(result[0]["value"][1]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return WindowSteps(source=source, steps=None, detail=f"unexpected Prometheus answer: {exc!r}")
