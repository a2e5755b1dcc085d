"""A real server process with a small live world and three users, and Debian's chromium under Playwright.

One server serves the whole module (starting one takes seconds, more on a loaded machine); each test gets a
fresh browser context, so no session leaks between tests. Module scope, not session: the sync Playwright API
keeps an event loop running while it is open, and async tests later in the run could not start theirs.
Without /usr/bin/chromium the tests skip loudly, and fail under CI=true (``scripts/ci/ensure_chromium.sh``
installs it). Playwright never downloads a browser here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import free_port, missing_service
from tests.server_support import embedded_server_env, wait_until_healthy

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "dashboard"
PASSWORDS = {
    "ada": ("admin", "Dashboard-Admin-Passw0rd!"),
    "otto": ("operator", "Dashboard-Operator-Passw0rd!"),
    "olive": ("observer", "Dashboard-Observer-Passw0rd!"),
}
WORLD_SPEC = {
    "height": 12,
    "width": 12,
    # [11, 0] is walled in: a coalition sent there stays active, so the tests can watch it.
    "walls": [[5, 5], [5, 6], [6, 5], [10, 0], [10, 1], [11, 1]],
    "resources": [{"cell": [2, 9], "amount": 5}],
    "goals": [[10, 10], [1, 1]],
}
# Exact coalition formation takes at most 22 candidates: 16 scouts and the 3 runners a test adds stay under.
EXPLORERS = 16
RATE_LIMITS = """enabled: true
classes:
  auth:        {requests: 200, window_seconds: 60}
  read:        {requests: 600, window_seconds: 60}
  write:       {requests: 120, window_seconds: 60}
  expensive:   {requests: 10,  window_seconds: 60}
"""


@dataclass
class DashboardServer:
    base_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    world_id: str = ""
    agent_ids: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, username: str) -> str:
        if username in self.tokens:
            return self.tokens[username]
        _, password = PASSWORDS[username]
        response = httpx.post(
            f"{self.base_url}/api/v1/auth/login",
            json={"username": username, "password": password},
            timeout=30,
        )
        response.raise_for_status()
        self.tokens[username] = str(response.json()["access_token"])
        return self.tokens[username]

    def api(self, method: str, path: str, username: str = "ada", **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.token(username)}"}
        return httpx.request(method, f"{self.base_url}/api/v1{path}", headers=headers, timeout=60, **kwargs)


def _populate(server: DashboardServer) -> None:
    # The first admin comes from the CLI, as on a fresh install; the others through the users API.
    admin_role, admin_password = PASSWORDS["ada"]
    created = subprocess.run(
        [
            str(Path(sys.executable).parent / "freeagentics"),
            "users",
            "create",
            "ada",
            "--role",
            admin_role,
            "--password-stdin",
        ],
        input=admin_password.encode(),
        env=embedded_server_env(server.data_dir, int(server.base_url.rsplit(":", 1)[1])),
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert created.returncode == 0, created.stderr.decode()
    for username, (role, password) in PASSWORDS.items():
        if username != "ada":
            response = server.api(
                "POST", "/users", json={"username": username, "password": password, "role": role}
            )
            assert response.status_code == 201, response.text
    world = server.api("POST", "/worlds", json={"name": "dashboard-test", "spec": WORLD_SPEC, "seed": 3})
    assert world.status_code == 201, world.text
    server.world_id = world.json()["id"]
    agents = [
        {
            "name": f"scout-{i:02d}",
            "world_id": server.world_id,
            "template": "grid_explorer",
            "parameters": {
                "goal": [10, 10] if i % 2 else [1, 1],
                "seed": i,
                "capabilities": {"explore": 1},
                # Noisy observations keep the belief heatmap spread over several cells.
                "observation_noise": 0.2 if i % 2 else 0.0,
            },
        }
        for i in range(EXPLORERS)
    ]
    created = server.api("POST", "/agents/batch", json={"agents": agents})
    assert created.status_code == 201, created.text
    server.agent_ids = [str(agent_id) for agent_id in created.json()["ids"]]


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        missing_service(
            f"{CHROMIUM} is missing: run scripts/ci/ensure_chromium.sh (apt-get install chromium)"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def dashboard_server(
    tmp_path_factory: pytest.TempPathFactory, chromium_path: Path
) -> Iterator[DashboardServer]:
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    # Every test logs in through the page; the default auth class (10 a minute per address) would throttle
    # the suite, so this server's config raises it. The other classes keep the shipped policy.
    (data_dir / "config").mkdir(parents=True)
    (data_dir / "config" / "rate_limiting.yaml").write_text(RATE_LIMITS)
    # Coalitions form only when the page asks, so the test sees its own formation's result.
    (data_dir / "config" / "agent_config.yaml").write_text("coalition_formation_interval_seconds: 0\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "main.py")],
        cwd=data_dir.parent,
        env=embedded_server_env(data_dir, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = DashboardServer(f"http://127.0.0.1:{port}", data_dir, process)
    try:
        wait_until_healthy(server.base_url, process)
        _populate(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Console:
    """Everything the page reported: console errors and uncaught exceptions, checked at the end of a test."""

    errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [line for line in self.errors if "Content Security Policy" in line]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Any, dashboard_server: DashboardServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=dashboard_server.base_url)
    context.set_default_timeout(30_000)
    opened = context.new_page()
    console = Console()
    opened.on("console", lambda message: message.type == "error" and console.errors.append(message.text))
    opened.on("pageerror", lambda error: console.errors.append(f"uncaught: {error}"))
    opened.console_log = console
    yield opened
    if request.node.stash.get(FAILED, False):
        opened.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"), full_page=True)
    context.close()
    assert console.csp_violations() == []
    assert [line for line in console.errors if line.startswith("uncaught")] == []


def login(page: Any, username: str) -> None:
    _, password = PASSWORDS[username]
    page.goto("/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#whoami")
