#!/usr/bin/env bash
# Deploy the current checkout to the idle color: migrate the database, (re)start that instance, wait until
# it is ready. Traffic is not touched; run smoke-tests.sh <color> and switch-traffic.sh <color> next.
#
#   ./scripts/deployment/deploy-production.sh green
#
# Refuses the color that serves traffic now (that would drop requests) unless FORCE=1. Migrations must be
# backward compatible (expand first, contract in a later release) because the other color keeps running
# the previous code on the same database. Settings: see common.sh.
source "$(dirname "$0")/common.sh"

color="${1:-}"
require_color "$color"
port="$(color_port "$color")"
mkdir -p "$FREEAGENTICS_DEPLOY_STATE_DIR"

if [[ "$(active_color)" == "$color" && "${FORCE:-0}" != 1 ]]; then
  die "$color serves traffic now; deploy to $(other_color "$color") instead (or FORCE=1)"
fi

if [[ "${FREEAGENTICS_SKIP_MIGRATIONS:-0}" != 1 ]]; then
  log "migrating the database to head"
  cli db upgrade >&2
fi

stop_process_instance() {
  local pid_file="$FREEAGENTICS_DEPLOY_STATE_DIR/$color.pid"
  [[ -f "$pid_file" ]] || return 0
  local pid
  pid="$(cat "$pid_file")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping the running $color instance (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then die "$color instance (pid $pid) did not stop"; fi
  fi
  rm -f "$pid_file"
}

case "$FREEAGENTICS_DEPLOY_MODE" in
  systemd)
    log "restarting freeagentics@$color.service (port $port)"
    systemctl restart "freeagentics@$color.service"
    ;;
  process)
    stop_process_instance
    log "starting the $color instance on port $port"
    instance_log="$FREEAGENTICS_DEPLOY_STATE_DIR/$color.log"
    args=(serve --host 127.0.0.1 --port "$port")
    if [[ -n "${FREEAGENTICS_ENV_FILE:-}" ]]; then args+=(--env-file "$FREEAGENTICS_ENV_FILE"); fi
    setsid "$FREEAGENTICS_BIN" "${args[@]}" </dev/null >>"$instance_log" 2>&1 &
    echo $! >"$FREEAGENTICS_DEPLOY_STATE_DIR/$color.pid"
    ;;
  *) die "FREEAGENTICS_DEPLOY_MODE must be systemd or process (got $FREEAGENTICS_DEPLOY_MODE)" ;;
esac

if ! wait_ready "$port"; then
  if [[ "$FREEAGENTICS_DEPLOY_MODE" == process ]]; then
    tail -n 20 "$FREEAGENTICS_DEPLOY_STATE_DIR/$color.log" >&2 || true
  fi
  die "$color did not become ready on port $port within ${FREEAGENTICS_READY_TIMEOUT}s"
fi
log "$color is ready on port $port"
