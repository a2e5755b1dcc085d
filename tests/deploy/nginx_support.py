"""Run deploy/nginx/freeagentics.conf for real on loopback high ports, with a self-signed certificate.

Only the listen ports, the certificate pair, the include directory and the log directory of the site file
are substituted; every other directive is the production file's. nginx comes from
``scripts/ci/ensure_nginx.sh`` (CI); without it the tests skip outside CI and fail under ``CI=true``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.conftest import free_port, missing_service

REPO_ROOT = Path(__file__).resolve().parents[2]
SITE_FILE = REPO_ROOT / "deploy" / "nginx" / "freeagentics.conf"
UPSTREAM_TEMPLATE = REPO_ROOT / "deploy" / "nginx" / "upstream.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        missing_service("nginx is not installed (CI installs it with scripts/ci/ensure_nginx.sh)")
    assert found is not None
    return found


def write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost valid for a day, and its key (mode 0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "freeagentics.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "freeagentics.crt", directory / "freeagentics.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def render_site(
    https_port: int, http_port: int, cert: Path, key: Path, include_dir: Path, log_dir: Path
) -> str:
    text = SITE_FILE.read_text()
    replacements = [
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("/etc/ssl/certs/freeagentics.crt", str(cert)),
        ("/etc/ssl/private/freeagentics.key", str(key)),
        ("/etc/nginx/freeagentics/", f"{include_dir}/"),
        ("/var/log/nginx/", f"{log_dir}/"),
    ]
    for old, new in replacements:
        assert old in text, f"{SITE_FILE.name} no longer contains {old!r}; update the test harness"
        text = text.replace(old, new)
    return text


def upstream_config(port: int) -> str:
    """The production upstream include, pointed at ``port``."""
    text = UPSTREAM_TEMPLATE.read_text()
    assert "server 127.0.0.1:8001;" in text
    return text.replace("server 127.0.0.1:8001;", f"server 127.0.0.1:{port};")


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Nginx:
    binary: str
    prefix: Path
    conf: Path
    https_port: int
    http_port: int
    cert: Path
    upstream_file: Path
    process: subprocess.Popen[bytes]

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def client(self) -> httpx.Client:
        """An HTTPS client that verifies nginx's certificate against the test CA."""
        return httpx.Client(verify=ssl.create_default_context(cafile=str(self.cert)))

    @property
    def control_args(self) -> list[str]:
        """``-p PREFIX -c CONF``: what scripts/deployment needs (``NGINX_ARGS``) to test and reload."""
        return ["-p", str(self.prefix), "-c", str(self.conf)]

    def error_log(self) -> str:
        path = self.prefix / "logs" / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_nginx(root: Path, upstream_port: int) -> Nginx:
    binary = nginx_binary()
    prefix = root / "nginx"
    include_dir, log_dir = prefix / "freeagentics", prefix / "logs"
    for directory in (include_dir, log_dir, prefix / "temp"):
        directory.mkdir(parents=True, exist_ok=True)
    cert, key = write_self_signed_certificate(prefix / "tls")
    https_port, http_port = free_port(), free_port()
    (include_dir / "upstream.conf").write_text(upstream_config(upstream_port))
    (prefix / "site.conf").write_text(render_site(https_port, http_port, cert, key, include_dir, log_dir))
    temp = prefix / "temp"
    # Workers run as root only because the prefix lives in a root-only temp dir; production uses www-data.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {log_dir}/error.log info;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n"
        "    default_type application/octet-stream;\n"
        f"    include {prefix}/site.conf;\n"
        "}\n"
    )
    checked = subprocess.run(
        [binary, "-p", str(prefix), "-c", str(conf), "-t"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    nginx = Nginx(binary, prefix, conf, https_port, http_port, cert, include_dir / "upstream.conf", process)
    try:
        wait_for_port(https_port)
        wait_for_port(http_port)
    except AssertionError:
        nginx.stop()
        raise AssertionError(f"nginx did not start: {nginx.error_log()[-2000:]}") from None
    return nginx
