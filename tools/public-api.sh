#!/usr/bin/env bash
# The public API of rtcgate-core as text (tools/public-api.py), checked in as
# core/public-api.txt so that every change to it is deliberate and reviewed.
#
#   tools/public-api.sh           # rewrites core/public-api.txt
#   tools/public-api.sh --check   # fails, with the diff, when it is out of date (CI)
#
# rustdoc's JSON output is unstable: RUSTC_BOOTSTRAP=1 lets the stable
# toolchain write it, and public-api.py refuses a format version it was not
# written for (update it and the snapshot together when the toolchain moves).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
# -D warnings: the same run checks that the documentation builds without a
# warning (broken or private links, missing docs).
RUSTDOCFLAGS="-D warnings" RUSTC_BOOTSTRAP=1 cargo rustdoc -q -p rtcgate-core --lib --locked \
  -- -Z unstable-options --output-format json
listing=$(python3 tools/public-api.py "$target/doc/rtcgate_core.json")
if [ "${1:-}" = "--check" ]; then
  if ! diff -u core/public-api.txt <(printf '%s\n' "$listing"); then
    echo "public-api: the public API of rtcgate-core changed (diff above, - is the snapshot)." >&2
    echo "public-api: if that is deliberate, run tools/public-api.sh and commit core/public-api.txt." >&2
    exit 1
  fi
  echo "public-api: core/public-api.txt is current ($(wc -l < core/public-api.txt) items)"
else
  printf '%s\n' "$listing" > core/public-api.txt
  echo "public-api: wrote core/public-api.txt ($(wc -l < core/public-api.txt) items)"
fi
