#!/usr/bin/env python3
"""Runbook: ``python scripts/security/rotate_jwt_keys.py``.

Adds a new JWT signing key to the key dir and retires keys no valid token can need; running servers pick
the new key up without a restart. A thin wrapper over ``freeagentics keys rotate`` (all its options work
here, see ``--help``). Run it with the deployment's virtualenv Python, as the user that owns the key dir.
"""

from __future__ import annotations

import sys

try:
    from freeagentics.cli.main import app
except ImportError:
    sys.exit("freeagentics is not importable: run this with the deployment's virtualenv Python")

if __name__ == "__main__":
    app(["keys", "rotate", *sys.argv[1:]], prog_name="rotate_jwt_keys.py")
