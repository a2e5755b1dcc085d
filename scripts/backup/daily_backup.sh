#!/usr/bin/env bash
# Runbook "Database Backup": the daily backup (cron or a systemd timer).
#   pg_dump (or the SQLite online backup) -> gzip -> /backups/postgresql/freeagentics_<YYYYmmdd_HHMMSS>.sql.gz
#   plus <file>.sha256 and <file>.manifest.json, a config+keys archive, retention, and
#   <data_dir>/backup_status.json for the backup-age alert.
# Thin wrapper over `freeagentics backup create`; extra arguments pass through (e.g. --keep-days 14).
set -euo pipefail
exec "${FREEAGENTICS_BIN:-freeagentics}" backup create "$@"
