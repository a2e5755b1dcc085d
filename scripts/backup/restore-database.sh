#!/usr/bin/env bash
# Runbook "Database Rollback": restore the newest backup taken at or before a moment.
#   ./scripts/backup/restore-database.sh $(date -d "1 hour ago" +%Y%m%d_%H%M%S)
# Asks for confirmation (pass --yes to skip). The restore runs in one transaction: if it fails, the
# database is unchanged. Stop the application first (sudo systemctl stop freeagentics).
# Thin wrapper over `freeagentics backup restore`.
set -euo pipefail
if [[ $# -lt 1 ]]; then
    echo "usage: $0 <YYYYmmdd_HHMMSS | latest | file.sql.gz> [--yes]" >&2
    exit 2
fi
exec "${FREEAGENTICS_BIN:-freeagentics}" backup restore "$@"
