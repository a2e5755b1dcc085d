"""The HTTP metrics middleware: route templates as labels, status codes, 500s from exceptions, in-flight."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families


def series(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_total(text: str, method: str, route: str, status: str) -> float:
    key = ("http_requests_total", frozenset({("method", method), ("route", route), ("status", status)}))
    return series(text).get(key, 0.0)


async def test_requests_are_labelled_by_route_template_and_status(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, app):

        @app.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, int]:
            return {"item_id": item_id}

        for item_id in (1, 2, 3):
            assert (await client.get(f"/items/{item_id}")).status_code == 200
        assert (await client.get("/items/not-a-number")).status_code == 422
        assert (await client.get("/no/such/path")).status_code == 404
        assert (await client.request("PROPFIND", "/health/live")).status_code == 405
        text = (await client.get("/metrics")).text
    assert requests_total(text, "GET", "/items/{item_id}", "200") == 3
    assert requests_total(text, "GET", "/items/{item_id}", "422") == 1
    assert requests_total(text, "GET", "unmatched", "404") == 1
    assert requests_total(text, "OTHER", "/health/live", "405") == 1
    assert not any("/items/1" in str(labels) for _name, labels in series(text))
    duration_count = series(text)[
        (
            "http_request_duration_seconds_count",
            frozenset({("method", "GET"), ("route", "/items/{item_id}")}),
        )
    ]
    assert duration_count == 4


async def test_an_unhandled_exception_counts_as_500(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, app):

        @app.get("/explode")
        async def explode() -> None:
            raise RuntimeError("boom")

        response = await client.get("/explode")
        text = (await client.get("/metrics")).text
    assert response.status_code == 500
    assert requests_total(text, "GET", "/explode", "500") == 1


async def test_the_first_scrape_already_has_every_route_at_zero(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, _app):
        text = (await client.get("/metrics")).text
    for route in ("/health", "/health/ready", "/health/live"):
        assert (
            "http_requests_total",
            frozenset({("method", "GET"), ("route", route), ("status", "500")}),
        ) in (series(text))
        assert requests_total(text, "GET", route, "500") == 0


async def test_requests_in_progress_counts_a_request_while_it_runs(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, app):
        entered, release = asyncio.Event(), asyncio.Event()

        @app.get("/slow")
        async def slow() -> dict[str, bool]:
            entered.set()
            await release.wait()
            return {"done": True}

        slow_request = asyncio.create_task(client.get("/slow"))
        await entered.wait()
        during = (await client.get("/metrics")).text
        release.set()
        await slow_request
        after = (await client.get("/metrics")).text
    # The scrape itself is in flight while it renders, hence 2 and then 1.
    assert series(during)[("http_requests_in_progress", frozenset())] == 2
    assert series(after)[("http_requests_in_progress", frozenset())] == 1


async def test_a_request_refused_before_routing_counts_under_its_route(settings_env, app_client) -> None:
    async with app_client(settings_env()) as (client, _app):
        statuses = [(await client.post("/api/v1/auth/login", json={})).status_code for _ in range(12)]
        text = (await client.get("/metrics")).text
    # The auth class allows 10 a minute (rate_limiting.yaml); the rest are refused by the limiter.
    assert 429 in statuses
    assert requests_total(text, "POST", "/api/v1/auth/login", "429") == statuses.count(429)
    assert requests_total(text, "POST", "unmatched", "429") == 0
