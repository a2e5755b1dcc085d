"""Client address resolution: X-Forwarded-For is believed only from trusted proxies, read right to left."""

from __future__ import annotations

import ipaddress

import pytest

from freeagentics.api.middleware.client_ip import resolve_client_ip

PROXIES = [ipaddress.ip_network("10.0.0.0/8")]


def _scope(peer: str, forwarded: str | None = None) -> dict:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return {"client": (peer, 1234), "headers": headers}


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", "127.0.0.1", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.1.1.1", "198.51.100.7", "198.51.100.7"),
        ("10.1.1.1", "127.0.0.1, 198.51.100.7", "198.51.100.7"),  # a prepended hop is not believed
        ("10.1.1.1", "198.51.100.7, 10.2.2.2", "198.51.100.7"),  # inner proxies skipped
        ("10.1.1.1", "not-an-ip", "10.1.1.1"),
        ("10.1.1.1", None, "10.1.1.1"),
        ("10.1.1.1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_resolution(peer, forwarded, expected) -> None:
    assert resolve_client_ip(_scope(peer, forwarded), PROXIES) == expected


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert resolve_client_ip(_scope("10.1.1.1", "198.51.100.7"), []) == "10.1.1.1"
