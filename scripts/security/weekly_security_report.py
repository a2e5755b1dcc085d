#!/usr/bin/env python3
"""Runbook: ``python scripts/security/weekly_security_report.py``.

Security events per day, login patterns and the current posture over seven days.

A thin wrapper over ``freeagentics report weekly-security``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["report", "weekly-security", *sys.argv[1:]], prog_name="weekly_security_report.py")
