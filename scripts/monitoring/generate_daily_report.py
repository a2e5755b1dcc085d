#!/usr/bin/env python3
"""Runbook: ``python scripts/monitoring/generate_daily_report.py``.

Agents, steps, errors, latency percentiles, security events and slowest queries (Markdown, or JSON with
--format json).

A thin wrapper over ``freeagentics report daily``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["report", "daily", *sys.argv[1:]], prog_name="generate_daily_report.py")
