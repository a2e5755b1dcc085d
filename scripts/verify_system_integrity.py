#!/usr/bin/env python3
"""Runbook: ``python scripts/verify_system_integrity.py``.

Key files and modes, config files, writable log and data dirs, backup age; exit 1 on failure.

A thin wrapper over ``freeagentics verify system``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["verify", "system", *sys.argv[1:]], prog_name="verify_system_integrity.py")
