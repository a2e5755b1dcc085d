"""Every route of ``create_app()`` (HTTP and WebSocket) declares its access, or is public by design."""

from __future__ import annotations

from freeagentics.api.app import create_app
from freeagentics.api.permissions import PUBLIC_ROUTES, declared_routes

#: The interactive docs exist outside production only (the schema itself stays public).
DOCS = {"/docs", "/docs/oauth2-redirect"}


def test_every_route_declares_a_permission_or_is_listed_public(embedded_settings) -> None:
    app = create_app(embedded_settings())
    routes = declared_routes(app)
    assert len(routes) > 10
    undeclared = sorted(
        f"{'WS' if route.is_websocket else ','.join(sorted(route.methods))} {route.path}"
        for route in routes
        if route.access is None and route.path not in PUBLIC_ROUTES
    )
    assert undeclared == [], f"routes without a declared permission: {undeclared}"


def test_public_routes_are_few_and_exist(embedded_settings) -> None:
    app = create_app(embedded_settings())
    paths = {route.path for route in declared_routes(app)}
    assert paths >= PUBLIC_ROUTES - DOCS
    public_without_declaration = {route.path for route in declared_routes(app) if route.access is None}
    assert public_without_declaration <= PUBLIC_ROUTES


def test_no_public_route_in_production_hands_out_tokens_without_credentials(
    settings_env, monkeypatch
) -> None:
    settings = settings_env(
        environment="production",
        database_url="postgresql+asyncpg://app:Unique-Secret-1@127.0.0.1:5432/freeagentics",
        redis_url="redis://127.0.0.1:6379/0",
    )
    app = create_app(settings)
    public = {route.path for route in declared_routes(app) if route.access is None}
    assert public == PUBLIC_ROUTES - DOCS
    # login and refresh need credentials in their bodies; register is governed by security_policies.yaml.
    assert "/api/v1/auth/token" not in public
    assert not any(path.startswith("/api/v1/auth/dev") or "demo" in path for path in public)


def test_operational_routes_follow_the_operational_read_rule(embedded_settings) -> None:
    app = create_app(embedded_settings())
    by_path = {route.path: route for route in declared_routes(app)}
    for path in ("/health", "/health/ready", "/api/v1/system/metrics", "/metrics"):
        assert path in by_path, path
        access = by_path[path].access
        assert access is not None, path
        assert access.kind == "operational-read", path
