# Shared settings and helpers of the blue-green deployment scripts (sourced, not run).
#
# Every location is an environment variable so production and tests/deploy/test_blue_green.py run the same
# scripts:
#   FREEAGENTICS_HOME             checkout with its .venv (default /opt/freeagentics)
#   FREEAGENTICS_BIN              the CLI (default $FREEAGENTICS_HOME/.venv/bin/freeagentics)
#   FREEAGENTICS_ENV_FILE         settings file passed to the CLI (default $FREEAGENTICS_HOME/.env.production
#                                 when it exists)
#   FREEAGENTICS_BLUE_PORT        blue instance port (8001)
#   FREEAGENTICS_GREEN_PORT       green instance port (8002)
#   FREEAGENTICS_DEPLOY_MODE      systemd (freeagentics@<color>.service) or process (background processes
#                                 with pid files; used by the tests and by hosts without systemd)
#   FREEAGENTICS_DEPLOY_STATE_DIR active_color, pid and log files (/var/lib/freeagentics/deploy)
#   FREEAGENTICS_NGINX_UPSTREAM   upstream include rewritten by switch-traffic.sh
#                                 (/etc/nginx/freeagentics/upstream.conf)
#   NGINX_BIN, NGINX_ARGS         nginx binary (nginx) and extra arguments such as "-p PREFIX -c CONF"
#   FREEAGENTICS_PUBLIC_URL       the site through nginx (https://127.0.0.1)
#   FREEAGENTICS_CURL_CA          CA file for that URL's certificate (default: system store)
#   FREEAGENTICS_READY_TIMEOUT    seconds to wait for an instance to become ready (90)

set -euo pipefail

FREEAGENTICS_HOME="${FREEAGENTICS_HOME:-/opt/freeagentics}"
FREEAGENTICS_BIN="${FREEAGENTICS_BIN:-$FREEAGENTICS_HOME/.venv/bin/freeagentics}"
if [[ -z "${FREEAGENTICS_ENV_FILE:-}" && -f "$FREEAGENTICS_HOME/.env.production" ]]; then
  FREEAGENTICS_ENV_FILE="$FREEAGENTICS_HOME/.env.production"
fi
FREEAGENTICS_BLUE_PORT="${FREEAGENTICS_BLUE_PORT:-8001}"
FREEAGENTICS_GREEN_PORT="${FREEAGENTICS_GREEN_PORT:-8002}"
FREEAGENTICS_DEPLOY_MODE="${FREEAGENTICS_DEPLOY_MODE:-systemd}"
FREEAGENTICS_DEPLOY_STATE_DIR="${FREEAGENTICS_DEPLOY_STATE_DIR:-/var/lib/freeagentics/deploy}"
FREEAGENTICS_NGINX_UPSTREAM="${FREEAGENTICS_NGINX_UPSTREAM:-/etc/nginx/freeagentics/upstream.conf}"
NGINX_BIN="${NGINX_BIN:-nginx}"
read -r -a NGINX_ARGV <<<"${NGINX_ARGS:-}"
FREEAGENTICS_PUBLIC_URL="${FREEAGENTICS_PUBLIC_URL:-https://127.0.0.1}"
FREEAGENTICS_READY_TIMEOUT="${FREEAGENTICS_READY_TIMEOUT:-90}"

log() { printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(basename "$0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

require_color() {
  case "${1:-}" in
    blue | green) ;;
    *) die "usage: $(basename "$0") <blue|green> (got '${1:-}')" ;;
  esac
}

color_port() {
  if [[ "$1" == blue ]]; then echo "$FREEAGENTICS_BLUE_PORT"; else echo "$FREEAGENTICS_GREEN_PORT"; fi
}

other_color() {
  if [[ "$1" == blue ]]; then echo green; else echo blue; fi
}

active_color() {
  local file="$FREEAGENTICS_DEPLOY_STATE_DIR/active_color"
  if [[ -f "$file" ]]; then cat "$file"; fi
}

cli() {
  if [[ -n "${FREEAGENTICS_ENV_FILE:-}" ]]; then
    "$FREEAGENTICS_BIN" "$@" --env-file "$FREEAGENTICS_ENV_FILE"
  else
    "$FREEAGENTICS_BIN" "$@"
  fi
}

nginx_ctl() { "$NGINX_BIN" "${NGINX_ARGV[@]}" "$@"; }

curl_public() {
  local ca=()
  if [[ -n "${FREEAGENTICS_CURL_CA:-}" ]]; then ca=(--cacert "$FREEAGENTICS_CURL_CA"); fi
  curl --silent --show-error --max-time 10 "${ca[@]}" "$@"
}

# HTTP status of a GET on the instance itself (000 when nothing answers).
instance_status() {
  curl --silent --output /dev/null --max-time 5 --write-out '%{http_code}' "http://127.0.0.1:$1$2" || true
}

wait_ready() {
  local port="$1" deadline=$((SECONDS + FREEAGENTICS_READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if [[ "$(instance_status "$port" /health/ready)" == 200 ]]; then return 0; fi
    sleep 0.5
  done
  return 1
}
