#!/usr/bin/env bash
# Writes `<crate>.patch` from the fork's sources: the difference between the
# published crate's `src/` and `core/vendor/<crate>/src/` (the inverse of
# refresh.sh, which applies the patch). Run it after editing a fork, then
# check that `refresh.sh <crate>` gives back the same sources.
#
# Usage: core/vendor/make-patch.sh webrtc [rtc ...]
set -euo pipefail
cd "$(dirname "$0")"
version=0.21.1
[ $# -gt 0 ] || { echo "usage: $0 CRATE..." >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/fetch/src" && touch "$tmp/fetch/src/lib.rs"
{
  printf '[package]\nname = "fetch-vendored"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n'
  for crate in "$@"; do printf '%s = "=%s"\n' "$crate" "$version"; done
} > "$tmp/fetch/Cargo.toml"
cargo fetch --manifest-path "$tmp/fetch/Cargo.toml" >/dev/null 2>&1
registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
for crate in "$@"; do
  src=$(ls -d "$registry"/*/"$crate-$version" | head -1)
  mkdir -p "$tmp/$crate/a" "$tmp/$crate/b"
  cp -r "$src/src" "$tmp/$crate/a/"
  cp -r "$crate/src" "$tmp/$crate/b/"
  # diff exits 1 when the trees differ: that is the normal case here. File
  # times are dropped from the headers so that a regenerated patch only
  # changes where the code did.
  (cd "$tmp/$crate" && diff -ruN a b | sed -E 's#^(---|\+\+\+) ([^\t]+)\t.*#\1 \2#' > "$OLDPWD/$crate.patch") || true
  if [ -s "$crate.patch" ]; then
    echo "core/vendor/$crate.patch: $(grep -c '^+++ ' "$crate.patch") files"
  else
    rm -f "$crate.patch"
    echo "core/vendor/$crate: no changes, no patch"
  fi
done
