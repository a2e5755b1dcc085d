"""Facts for posture checks: certificates, key modes, writable dirs, the running server's metrics."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from freeagentics.infra import system_probe


def write_certificate(path: Path, days: int) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "freeagentics.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(Encoding.PEM))


def test_certificate_expiry_is_read(tmp_path) -> None:
    path = tmp_path / "site.crt"
    write_certificate(path, 45)
    facts = system_probe.certificate_facts(path)
    assert facts.exists
    assert facts.error is None
    assert 44 <= (facts.not_after - dt.datetime.now(dt.UTC)).days <= 45
    assert "freeagentics.test" in facts.subject
    path.write_text("garbage")
    assert "not a readable certificate" in system_probe.certificate_facts(path).error
    assert not system_probe.certificate_facts(tmp_path / "missing.crt").exists


def test_gathered_facts_reflect_the_files(settings_env, tmp_path) -> None:
    settings = settings_env(config_dir=tmp_path / "etc", auth_key_dir=tmp_path / "keys")
    from freeagentics.infra.config_files import seed_config_dir

    seed_config_dir(settings.config_dir)
    settings.key_dir.mkdir(mode=0o700)
    key = settings.key_dir / "k.pem"
    key.write_text("k")
    key.chmod(0o640)
    facts = system_probe.gather_system_facts(settings, tmp_path / "none.crt")
    assert [(k.name, k.mode) for k in facts.key_files] == [("k.pem", 0o640)]
    assert facts.key_dir_mode == 0o700
    assert facts.rate_limiting_enabled is True
    assert facts.log_dir_writable
    assert not facts.certificate.exists
    assert facts.backup_last_success is None


@pytest.fixture
def metrics_server():
    body = (
        b"# TYPE freeagentics_agent_steps_total counter\nfreeagentics_agent_steps_total 42.0\n"
        b'# TYPE freeagentics_agents gauge\nfreeagentics_agents{status="running"} 3.0\n'
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)
            elif self.path.startswith("/api/v1/query?"):
                query = parse_qs(urlsplit(self.path).query)["query"][0]
                result = [{"metric": {}, "value": [1.0, "1234.5"]}] if "[1440m]" in query else []
                self.send_response(200)
                self.end_headers()
                self.wfile.write(
                    json.dumps(
                        {"status": "success", "data": {"resultType": "vector", "result": result}}
                    ).encode()
                )
            elif self.path == "/api/v1/system/metrics":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(
                    b'{"agent_count": 3, "memory": {"rss_bytes": 1048576, "populations_bytes": 2048}}'
                )
            else:
                self.send_response(404)
                self.end_headers()

        def log_message(self, *args) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_runtime_figures_come_from_prometheus_metrics(metrics_server) -> None:
    figures = system_probe.fetch_runtime_figures(metrics_server)
    assert figures.reachable
    assert figures.agent_steps_total == 42.0
    assert figures.agents_by_status == {"running": 3.0}
    payload, source = system_probe.fetch_system_metrics(metrics_server)
    assert payload["memory"]["populations_bytes"] == 2048
    assert source.endswith("/api/v1/system/metrics")


def test_unreachable_server_is_reported_not_raised() -> None:
    from tests.conftest import closed_port

    base = f"http://127.0.0.1:{closed_port()}"
    figures = system_probe.fetch_runtime_figures(base)
    assert not figures.reachable
    assert "not reachable" in figures.detail
    payload, reason = system_probe.fetch_system_metrics(base)
    assert payload is None
    assert "not reachable" in reason


def test_steps_within_the_window_come_from_prometheus(metrics_server) -> None:
    day = system_probe.fetch_window_steps(metrics_server, 24)
    assert day.steps == 1234.5
    assert "sum(increase(freeagentics_agent_steps_total[1440m]))" in day.source
    hour = system_probe.fetch_window_steps(metrics_server, 1)
    assert hour.steps is None
    assert "no freeagentics_agent_steps_total series" in hour.detail
    from tests.conftest import closed_port

    down = system_probe.fetch_window_steps(f"http://127.0.0.1:{closed_port()}", 24)
    assert down.steps is None
    assert "not reachable" in down.detail


def test_another_programs_main_py_is_not_taken_for_the_server(tmp_path) -> None:
    import subprocess
    import sys

    other = tmp_path / "main.py"
    other.write_text("import time\ntime.sleep(120)\n")
    process = subprocess.Popen([sys.executable, str(other)])
    try:
        pids = {entry["pid"] for entry in system_probe.freeagentics_processes()}
        assert process.pid not in pids
    finally:
        process.kill()
        process.wait()
