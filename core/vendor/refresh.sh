#!/usr/bin/env bash
# Re-creates the patched crates under core/vendor from their published
# versions plus <crate>.patch (see README.md): fetches each crate with cargo,
# copies its library sources and licences, strips the manifest's
# example/test/bench targets, and applies the patch.
# Usage: core/vendor/refresh.sh [CRATE...]   (default: every crate below)
set -euo pipefail
cd "$(dirname "$0")"
declare -A versions=([webrtc]=0.21.1 [rtc-sctp]=0.21.1)
crates=("$@")
[ ${#crates[@]} -gt 0 ] || crates=("${!versions[@]}")
# A throw-away project that depends on the published crates makes cargo fetch them.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src" && touch "$tmp/src/lib.rs"
{
  printf '[package]\nname = "fetch-vendored"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n'
  for crate in "${crates[@]}"; do printf '%s = "=%s"\n' "$crate" "${versions[$crate]}"; done
} > "$tmp/Cargo.toml"
cargo fetch --manifest-path "$tmp/Cargo.toml" >/dev/null
for crate in "${crates[@]}"; do
  version=${versions[$crate]}
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$version" | head -1)
  [ -d "$src" ] || { echo "$crate-$version not in the cargo registry" >&2; exit 1; }
  rm -rf "$crate"
  mkdir "$crate"
  for f in src Cargo.toml LICENSE-APACHE LICENSE-MIT README.md; do
    [ -e "$src/$f" ] && cp -r "$src/$f" "$crate/"
  done
  python3 strip_manifest.py "$crate/Cargo.toml"
  (cd "$crate" && patch -p1 --quiet < "../$crate.patch")
  echo "core/vendor/$crate: $crate $version + $crate.patch"
done
