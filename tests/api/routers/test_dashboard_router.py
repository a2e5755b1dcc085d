"""The dashboard's page and assets: served from the package, under the strict HTML CSP, nothing outside."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from freeagentics.api.routers.dashboard import ASSETS
from freeagentics.services.auth.rbac import ROLE_PERMISSIONS

IMPORT = re.compile(r"""^\s*import\s[^;]*?from\s+"(\.{1,2}/[^"]+)";""", re.MULTILINE | re.DOTALL)


class _InlineFinder(HTMLParser):
    """Collects what a strict CSP (script-src/style-src 'self') would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []
        self.sources: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if "style" in names or any(name.startswith("on") for name in names):
            self.blocked.append(f"<{tag}> with an inline style or handler")
        if tag == "style":
            self.blocked.append("<style>")
        if tag == "script":
            if names.get("src"):
                self.sources.append(str(names["src"]))
            else:
                self._in_script = True
        if tag == "link" and names.get("href"):
            self.sources.append(str(names["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.blocked.append("inline <script>")


def _modules() -> dict[str, str]:
    found: dict[str, str] = {}
    stack = [("js", ASSETS / "js")]
    while stack:
        prefix, folder = stack.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                stack.append((f"{prefix}/{entry.name}", entry))
            elif entry.name.endswith(".js"):
                found[f"{prefix}/{entry.name}"] = entry.read_text(encoding="utf-8")
    return found


async def test_the_page_is_served_at_the_root_under_the_strict_html_csp(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, _app):
        response = await client.get("/")
        head = await client.head("/")
    assert response.status_code == 200
    assert head.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-cache"

    finder = _InlineFinder()
    finder.feed(response.text)
    assert finder.blocked == []
    assert set(finder.sources) == {"/dashboard/app.css", "/dashboard/favicon.svg", "/dashboard/js/app.js"}


async def test_every_asset_the_page_loads_is_served_with_its_media_type(settings_env, app_client) -> None:
    modules = _modules()
    wanted = {"/dashboard/app.css": "text/css", "/dashboard/favicon.svg": "image/svg+xml"}
    wanted.update({f"/dashboard/{path}": "text/javascript" for path in modules})
    async with app_client(settings_env()) as (client, _app):
        for path, media_type in wanted.items():
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith(media_type), path
            assert "unsafe-inline" not in response.headers["content-security-policy"]


def test_every_relative_import_between_the_modules_resolves() -> None:
    modules = _modules()
    assert {"js/app.js", "js/api.js", "js/world.js", "js/views/agents.js"} <= set(modules)
    for path, source in modules.items():
        folder = path.rsplit("/", 1)[0]
        for target in IMPORT.findall(source):
            parts = folder.split("/")
            for piece in target.split("/"):
                if piece == "..":
                    parts.pop()
                elif piece != ".":
                    parts.append(piece)
            assert "/".join(parts) in modules, f"{path} imports missing {target}"


OUTSIDE = [
    "/dashboard/",
    "/dashboard/nothing.js",
    "/dashboard/../pyproject.toml",
    "/dashboard/%2e%2e/__init__.py",
    "/dashboard/js/%2e%2e/%2e%2e/__init__.py",
    "/dashboard/.hidden",
    "/dashboard/js",
    "/dashboard/app.css%00.js",
    "/dashboard/index.html/",
]


async def test_nothing_outside_the_assets_is_served(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, _app):
        responses = {path: await client.get(path) for path in OUTSIDE}
    for path, response in responses.items():
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found", path


async def test_roles_json_is_the_servers_permission_matrix(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, _app):
        response = await client.get("/dashboard/roles.json")
    assert response.status_code == 200
    expected = {role.value: sorted(p.value for p in perms) for role, perms in ROLE_PERMISSIONS.items()}
    assert response.json() == expected
    assert "agents:control" not in response.json()["observer"]
