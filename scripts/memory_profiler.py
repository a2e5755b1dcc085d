#!/usr/bin/env python3
"""Runbook: ``python scripts/memory_profiler.py``.

Memory by component (populations and caches from the running server, process RSS/USS).

A thin wrapper over ``freeagentics report memory``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["report", "memory", *sys.argv[1:]], prog_name="memory_profiler.py")
