#!/usr/bin/env bash
# Smoke-test one color directly (not through nginx) before it gets traffic: health of every dependency,
# liveness, readiness, the metrics endpoint and the API schema. Exit 1 listing every failed check.
#
#   ./scripts/deployment/smoke-tests.sh green
source "$(dirname "$0")/common.sh"

color="${1:-}"
require_color "$color"
port="$(color_port "$color")"
base="http://127.0.0.1:$port"
failures=()

check() {
  local name="$1"
  shift
  if "$@"; then log "ok   $name"; else log "FAIL $name"; failures+=("$name"); fi
}

health_is_healthy() {
  local body
  body="$(curl --silent --fail --max-time 10 "$base/health")" || return 1
  [[ "$(jq -r .status <<<"$body")" == healthy ]]
}
status_is() { [[ "$(instance_status "$port" "$2")" == "$1" ]]; }
metrics_are_exposed() {
  local text
  text="$(curl --silent --fail --max-time 10 "$base/metrics")" || return 1
  grep -q '^http_requests_total{' <<<"$text" && grep -q '^freeagentics_build_info{' <<<"$text"
}
schema_lists_health() {
  curl --silent --fail --max-time 10 "$base/openapi.json" | jq -e '.paths["/health"]' >/dev/null
}

check "/health is healthy" health_is_healthy
check "/health/live answers 200" status_is 200 /health/live
check "/health/ready answers 200" status_is 200 /health/ready
check "/metrics exposes the app metrics" metrics_are_exposed
check "/openapi.json lists the routes" schema_lists_health
check "unknown paths answer 404" status_is 404 /no-such-route

if ((${#failures[@]})); then
  die "$color failed ${#failures[@]} smoke test(s): ${failures[*]}"
fi
log "$color passed every smoke test"
