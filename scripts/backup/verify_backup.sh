#!/usr/bin/env bash
# Verify a backup by a real restore into a scratch database (ON_ERROR_STOP, one transaction) and a
# row-count/checksum comparison with its manifest. A truncated or corrupted dump fails (exit 1).
#   ./scripts/backup/verify_backup.sh [latest | YYYYmmdd_HHMMSS | /path/to/file.sql.gz]
# Thin wrapper over `freeagentics backup verify`.
set -euo pipefail
exec "${FREEAGENTICS_BIN:-freeagentics}" backup verify "${1:-latest}" "${@:2}"
