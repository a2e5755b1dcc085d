#!/usr/bin/env bash
# Runbook "Backup Verification": prove that last night's backup restores.
#   ./scripts/backup/test_backup_restoration.sh [latest | YYYYmmdd_HHMMSS]
# Restores the database backup into a scratch database (created and dropped on the configured server, or
# on $FREEAGENTICS_BACKUP_SCRATCH_URL) and compares every table's row count and checksum with the
# manifest; then checks the config/keys archive's sha256. Exit 1 on any problem.
set -euo pipefail
bin="${FREEAGENTICS_BIN:-freeagentics}"
"$bin" backup verify "${1:-latest}"
"$bin" backup list --json | "${PYTHON:-python3}" -c '
import json, sys
rows = [row for row in json.load(sys.stdin)["backups"] if row["kind"] == "config"]
bad = [row["path"] for row in rows if not row["sha256_ok"]]
if bad:
    sys.exit("config archive sha256 mismatch: " + ", ".join(bad))
print(f"{len(rows)} config archives, sha256 ok" if rows else "no config archives (backup create --no-files?)")
'
