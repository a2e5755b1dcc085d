#!/usr/bin/env python3
"""Runbook: ``python scripts/security/analyze_auth_patterns.py``.

Brute force, password spraying, success after failures, distributed attacks.

A thin wrapper over ``freeagentics report auth-patterns``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["report", "auth-patterns", *sys.argv[1:]], prog_name="analyze_auth_patterns.py")
