"""Parity suite: skipped, with the reason, when pymdp (the optional ``parity`` dependency group) is absent.

JAX runs in float64 (``JAX_ENABLE_X64``), as the parity claims are made in float64.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("JAX_ENABLE_X64", "1")

try:
    import jax

    jax.config.update("jax_enable_x64", True)
    import pymdp.agent
    import pymdp.legacy.agent  # noqa: F401

    PYMDP_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the environment
    PYMDP_ERROR = str(exc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here) and PYMDP_ERROR is not None:
            reason = f"pymdp is not importable ({PYMDP_ERROR}); install the 'parity' extra"
            item.add_marker(pytest.mark.skip(reason=reason))
