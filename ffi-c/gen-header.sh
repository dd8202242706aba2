#!/usr/bin/env bash
# Regenerates include/rtcgate.h from ffi-c/src with cbindgen (config:
# ffi-c/cbindgen.toml), or with --check fails when the committed header is
# stale. Needs cbindgen 0.29 (`cargo install cbindgen --locked --version 0.29.4`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
header="$root/include/rtcgate.h"
command -v cbindgen >/dev/null || { echo "gen-header: cbindgen not found (cargo install cbindgen --locked --version 0.29.4)" >&2; exit 2; }
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
(cd "$here" && cbindgen --quiet --config cbindgen.toml --crate rtcgate-ffi --output "$tmp" .)
if [ "${1:-}" = "--check" ]; then
  if ! diff -u "$header" "$tmp"; then
    echo "gen-header: include/rtcgate.h is stale; run ffi-c/gen-header.sh and commit it" >&2
    exit 1
  fi
  echo "gen-header: include/rtcgate.h is up to date"
else
  cp "$tmp" "$header"
  echo "gen-header: wrote include/rtcgate.h"
fi
