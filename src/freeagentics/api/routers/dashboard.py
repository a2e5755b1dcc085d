"""The dashboard: ``/`` serves its page and ``/dashboard/...`` its static assets, from the package.

Nothing here carries data: the page's scripts log in against ``/api/v1/auth`` and read everything else from
the authenticated API and the WebSocket. ``/dashboard/roles.json`` is the role -> permission matrix, the
same for every caller, so the page can hide controls a role may not use (the API refuses them anyway).
The HTML gets the same-origin Content-Security-Policy from the security headers middleware, which is why
the page has no inline script or style.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from freeagentics.api.errors import ApiError
from freeagentics.services.auth.rbac import ROLE_PERMISSIONS

router = APIRouter(tags=["dashboard"], include_in_schema=False)

ASSETS: Traversable = resources.files("freeagentics.resources") / "dashboard"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}
# Revalidate every time: the assets change with the package, and a stale script against a new API breaks.
_HEADERS = {"Cache-Control": "no-cache"}


def _asset(relative: str) -> Traversable | None:
    """The asset at ``relative`` (plain names only, so nothing outside the folder), or None."""
    parts = relative.split("/")
    if (
        not relative
        or not relative.isprintable()
        or any(part in ("", ".", "..") or part.startswith(".") or "\\" in part for part in parts)
    ):
        return None
    node = ASSETS
    for part in parts:
        node = node / part
    return node if node.is_file() else None


def _serve(relative: str) -> Response:
    asset = _asset(relative)
    suffix = "." + relative.rsplit(".", 1)[-1] if "." in relative else ""
    if asset is None or suffix not in MEDIA_TYPES:
        raise ApiError(404, "not_found", "No such dashboard file")
    return Response(asset.read_bytes(), media_type=MEDIA_TYPES[suffix], headers=_HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
async def dashboard_page() -> Response:
    return _serve("index.html")


@router.api_route("/dashboard/roles.json", methods=["GET", "HEAD"])
async def dashboard_roles() -> JSONResponse:
    matrix = {
        role.value: sorted(p.value for p in permissions) for role, permissions in ROLE_PERMISSIONS.items()
    }
    return JSONResponse(matrix, headers=_HEADERS)


@router.api_route("/dashboard/{asset_path:path}", methods=["GET", "HEAD"])
async def dashboard_asset(asset_path: str) -> Response:
    return _serve(asset_path)
