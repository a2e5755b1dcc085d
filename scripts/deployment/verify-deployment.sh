#!/usr/bin/env bash
# After a switch: the site answers through nginx, nginx points at the active color, the active instance is
# ready, and its 5xx ratio is under the alert threshold (5 %). Exit 1 listing every failed check.
#
#   ./scripts/deployment/verify-deployment.sh
source "$(dirname "$0")/common.sh"

color="${1:-$(active_color)}"
require_color "$color"
port="$(color_port "$color")"
failures=()

check() {
  local name="$1"
  shift
  if "$@"; then log "ok   $name"; else log "FAIL $name"; failures+=("$name"); fi
}

public_health() {
  local body
  body="$(curl_public --fail "$FREEAGENTICS_PUBLIC_URL/health")" || return 1
  [[ "$(jq -r .status <<<"$body")" == healthy ]]
}
upstream_points_at_color() {
  grep -Eq "^\s*server 127\.0\.0\.1:$port;" "$FREEAGENTICS_NGINX_UPSTREAM"
}
nginx_config_valid() { nginx_ctl -t >/dev/null 2>&1; }
instance_ready() { [[ "$(instance_status "$port" /health/ready)" == 200 ]]; }
error_ratio_under_threshold() {
  local text
  if ! text="$(curl --silent --fail --max-time 10 "http://127.0.0.1:$port/metrics" 2>&1)"; then
    log "could not read http://127.0.0.1:$port/metrics: $text"
    return 1
  fi
  awk '
    /^http_requests_total\{/ {
      total += $NF
      if ($0 ~ /status="5[0-9][0-9]"/) errors += $NF
    }
    END {
      ratio = (total > 0) ? errors / total : 0
      printf "5xx ratio %.4f (%d of %d requests)\n", ratio, errors, total > "/dev/stderr"
      exit (ratio > 0.05) ? 1 : 0
    }' <<<"$text"
}

check "site healthy through nginx ($FREEAGENTICS_PUBLIC_URL)" public_health
check "nginx upstream points at $color (port $port)" upstream_points_at_color
check "nginx configuration valid" nginx_config_valid
check "$color instance ready" instance_ready
check "$color 5xx ratio at most 5 %" error_ratio_under_threshold

if ((${#failures[@]})); then
  die "deployment of $color failed ${#failures[@]} check(s): ${failures[*]}"
fi
log "deployment verified: $color serves traffic"
