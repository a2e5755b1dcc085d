#!/usr/bin/env bash
# Make promtool available without installing or running the Prometheus daemon: download Debian's
# `prometheus` package and extract only the promtool binary into a cache dir. Idempotent; prints the
# path of the promtool binary on stdout (everything else goes to stderr).
#
#   PROMTOOL_CACHE_DIR  where to keep it (default: ~/.cache/freeagentics/promtool)
set -euo pipefail

cache_dir="${PROMTOOL_CACHE_DIR:-${HOME:-/tmp}/.cache/freeagentics/promtool}"
binary="$cache_dir/bin/promtool"

if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi
if [[ -x "$binary" ]] && "$binary" --version >/dev/null 2>&1; then
  echo "$binary"
  exit 0
fi

mkdir -p "$cache_dir/bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  if ! apt-get download prometheus >&2; then
    echo "apt-get download failed; refreshing the package lists once" >&2
    apt-get update >&2
    apt-get download prometheus >&2
  fi
  dpkg-deb -x prometheus_*.deb extracted
)
install -m 0755 "$work/extracted/usr/bin/promtool" "$binary.partial"
mv "$binary.partial" "$binary"
"$binary" --version >&2
echo "$binary"
