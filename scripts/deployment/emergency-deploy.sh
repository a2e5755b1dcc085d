#!/usr/bin/env bash
# Critical fix, now: deploy to the idle color, smoke-test it, switch traffic, verify. Same safety checks as
# a normal deployment, no soak time; if verification fails after the switch, traffic goes back to the
# previous color and the script exits 1.
#
#   ./scripts/deployment/emergency-deploy.sh
source "$(dirname "$0")/common.sh"
here="$(dirname "$0")"

previous="$(active_color)"
if [[ -n "$previous" ]]; then target="$(other_color "$previous")"; else target=blue; fi
log "EMERGENCY DEPLOY to $target (serving now: ${previous:-none})"

"$here/deploy-production.sh" "$target"
"$here/smoke-tests.sh" "$target"
"$here/switch-traffic.sh" "$target"
if ! "$here/verify-deployment.sh" "$target"; then
  if [[ -n "$previous" ]]; then
    log "verification failed; switching traffic back to $previous"
    "$here/switch-traffic.sh" "$previous"
  fi
  die "emergency deployment to $target failed verification"
fi
log "emergency deployment done: $target serves traffic, $previous stays up for rollback"
