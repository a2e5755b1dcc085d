#!/usr/bin/env python3
"""Runbook: ``python scripts/security/monthly_audit.py``.

The comprehensive audit over 30 days plus accounts by role and backups kept; exit 1 on failure.

A thin wrapper over ``freeagentics report monthly-audit``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["report", "monthly-audit", *sys.argv[1:]], prog_name="monthly_audit.py")
