#!/usr/bin/env bash
# Send traffic to <color>: rewrite the nginx upstream include (the other color stays as a backup server),
# check the configuration, and reload nginx gracefully (old workers finish their requests; no connection is
# dropped). The previous include is restored if nginx rejects the new one.
#
#   ./scripts/deployment/switch-traffic.sh green     # switch
#   ./scripts/deployment/switch-traffic.sh blue      # and back
#
# Refuses a color that is not ready unless FORCE=1. Settings: see common.sh.
source "$(dirname "$0")/common.sh"

color="${1:-}"
require_color "$color"
port="$(color_port "$color")"
other="$(other_color "$color")"
other_port="$(color_port "$other")"
mkdir -p "$FREEAGENTICS_DEPLOY_STATE_DIR" "$(dirname "$FREEAGENTICS_NGINX_UPSTREAM")"

if [[ "$(instance_status "$port" /health/ready)" != 200 && "${FORCE:-0}" != 1 ]]; then
  die "$color (port $port) is not ready; deploy it first (or FORCE=1)"
fi

upstream="$FREEAGENTICS_NGINX_UPSTREAM"
previous="$upstream.previous"
candidate="$(mktemp "$upstream.XXXXXX")"
cat >"$candidate" <<CONF
# Written by switch-traffic.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ): $color serves, $other is the backup.
upstream freeagentics_backend {
    server 127.0.0.1:$port;  # $color
    server 127.0.0.1:$other_port backup;  # $other
    keepalive 32;
}
CONF
chmod 0644 "$candidate"
if [[ -f "$upstream" ]]; then cp -p "$upstream" "$previous"; fi
mv -f "$candidate" "$upstream"

if ! check_output="$(nginx_ctl -t 2>&1)"; then
  if [[ -f "$previous" ]]; then mv -f "$previous" "$upstream"; fi
  die "nginx rejected the new upstream, previous one restored: $check_output"
fi
nginx_ctl -s reload
echo "$color" >"$FREEAGENTICS_DEPLOY_STATE_DIR/active_color"
log "traffic now goes to $color (127.0.0.1:$port); $other is the backup"
