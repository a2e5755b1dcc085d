#!/usr/bin/env bash
# Make sure an nginx binary exists for the deployment tests (tests/deploy/test_nginx.py,
# tests/deploy/test_blue_green.py). Installs Debian's nginx-light (falling back to nginx) when missing,
# without letting the package start a system nginx on port 80: the tests run their own instances on
# loopback high ports. Idempotent; prints the nginx path on stdout.
set -euo pipefail

find_nginx() {
  command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; }
}

if path="$(find_nginx)" && [[ -n "$path" ]]; then
  echo "$path"
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "nginx is missing and installing it needs root (apt-get install nginx-light)" >&2
  exit 1
fi

# policy-rc.d answering 101 tells the maintainer scripts not to start the service.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  created_policy=true
fi
cleanup() { if [[ "$created_policy" == true ]]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
install_nginx() {
  apt-get install -y --no-install-recommends nginx-light >&2 || apt-get install -y --no-install-recommends nginx >&2
}
if ! install_nginx; then
  apt-get update >&2
  install_nginx
fi
path="$(find_nginx)"
"$path" -v >&2
echo "$path"
