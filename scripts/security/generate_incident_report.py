#!/usr/bin/env python3
"""Runbook: ``python scripts/security/generate_incident_report.py``.

Security events, timeline, sources, affected accounts, HTTP errors and blocked IPs of the last hours.

A thin wrapper over ``freeagentics report incident``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["report", "incident", *sys.argv[1:]], prog_name="generate_incident_report.py")
