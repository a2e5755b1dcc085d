#!/usr/bin/env bash
# Runbook "Full System Recovery": config dir, signing keys and database from the backups taken at or
# before a moment, then the integrity checks.
#   ./scripts/backup/full_system_restore.sh [latest | YYYYmmdd_HHMMSS] [--yes]
# Stop the application first; start it after the checks pass.
set -euo pipefail
bin="${FREEAGENTICS_BIN:-freeagentics}"
"$bin" backup restore-system "${1:-latest}" "${@:2}"
"$bin" verify data
exec "$bin" verify system
