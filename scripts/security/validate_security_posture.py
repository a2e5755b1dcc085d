#!/usr/bin/env python3
"""Runbook: ``python scripts/security/validate_security_posture.py``.

Keys present and 0600, no default secrets, TLS expiry, debug off, rate limiting enabled, trusted proxies;
exit 1 with the reasons.

A thin wrapper over ``freeagentics posture validate``; all its options work here (``--help``).
Run it with the Python that has FreeAgentics installed (the deployment's virtualenv).
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["posture", "validate", *sys.argv[1:]], prog_name="validate_security_posture.py")
