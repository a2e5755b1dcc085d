#!/usr/bin/env bash
# Runbook "Monthly Security Review": test the incident-response tooling end to end.
#   ./scripts/security/test_incident_response.sh
# 1. Drill: writes a simulated brute-force attack (100 authentication_failed in one second from one address,
#    against six accounts) into a scratch log dir, never the live logs, and checks that
#    `freeagentics report auth-patterns` flags it and `report incident` rates it high.
# 2. Live: runs the incident report and the posture validation on the real logs and settings.
# Exit 1 if the drill is not detected or a report cannot be produced.
set -euo pipefail
bin="${FREEAGENTICS_BIN:-freeagentics}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

now="$(date -u +%Y-%m-%dT%H:%M:%S)"
for i in $(seq 1 100); do
    printf '{"time": "%s.%03d+00:00", "level": "WARNING", "logger": "freeagentics.audit", "event": "authentication_failed", "client_ip": "203.0.113.66", "user": "drill-user-%d", "route": "/api/v1/auth/login", "reason": "incident response drill"}\n' \
        "$now" "$i" "$((i % 6))"
done > "$scratch/security_audit.log"

echo "== drill: simulated brute force from 203.0.113.66"
FREEAGENTICS_LOG_DIR="$scratch" "$bin" report auth-patterns --hours 1 --format json > "$scratch/auth.json"
FREEAGENTICS_LOG_DIR="$scratch" "$bin" report incident --hours 1 --format json > "$scratch/incident.json"
"${PYTHON:-python3}" - "$scratch/auth.json" "$scratch/incident.json" <<'PY'
import json, sys
auth = json.load(open(sys.argv[1]))
incident = json.load(open(sys.argv[2]))
kinds = {(f["kind"], f["subject"]) for f in auth["findings"]}
missing = [k for k in ("brute_force", "password_spraying") if (k, "203.0.113.66") not in kinds]
if missing or incident["severity"] != "high":
    sys.exit(f"DRILL FAILED: not detected {missing}, incident severity {incident['severity']}")
print("drill detected: brute_force and password_spraying from 203.0.113.66, incident severity high")
PY

echo "== live: incident report of the last 24 h"
"$bin" report incident --hours 24 --output "$scratch/incident-live.md"
head -n 5 "$scratch/incident-live.md"

echo "== live: security posture"
if "$bin" posture validate; then
    echo "posture: pass"
else
    echo "posture: FAILING checks above need attention (the drill itself passed)"
fi
