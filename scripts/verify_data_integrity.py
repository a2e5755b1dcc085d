#!/usr/bin/env python3
"""Runbook: ``python scripts/verify_data_integrity.py``.

Migration head, dangling foreign keys, orphaned agents, checkpoint consistency; exit 1 on failure.

A thin wrapper over ``freeagentics verify data``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["verify", "data", *sys.argv[1:]], prog_name="verify_data_integrity.py")
