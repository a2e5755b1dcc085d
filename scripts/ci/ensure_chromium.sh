#!/usr/bin/env bash
# Make sure Debian's chromium exists for the dashboard browser tests (tests/dashboard/). Playwright drives
# /usr/bin/chromium directly: no browser is ever downloaded by Playwright itself. Idempotent; prints the
# chromium path on stdout.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
  echo "$CHROMIUM"
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "chromium is missing and installing it needs root (apt-get install chromium)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y --no-install-recommends chromium >&2
"$CHROMIUM" --version >&2
echo "$CHROMIUM"
