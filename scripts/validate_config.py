#!/usr/bin/env python3
"""Runbook: ``python scripts/validate_config.py``.

The environment settings and every YAML file in the config dir; exit 1 naming each problem.

A thin wrapper over ``freeagentics config validate``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["config", "validate", *sys.argv[1:]], prog_name="validate_config.py")
