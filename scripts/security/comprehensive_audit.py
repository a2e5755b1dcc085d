#!/usr/bin/env python3
"""Runbook: ``python scripts/security/comprehensive_audit.py``.

Posture, config, files, backups and data integrity; exit 1 if any check fails.

A thin wrapper over ``freeagentics report audit``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["report", "audit", *sys.argv[1:]], prog_name="comprehensive_audit.py")
