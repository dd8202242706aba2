#!/usr/bin/env bash
# Re-creates the patched crates under core/vendor from the published crates
# plus their patches (see README.md): fetches each crate with cargo, copies its
# library sources and licences, strips the manifest's example/test/bench
# targets, and applies `<crate>.patch`.
#
# Usage: core/vendor/refresh.sh            (all: webrtc, rtc, rtc-sctp)
#        core/vendor/refresh.sh rtc-sctp   (one)
set -euo pipefail
cd "$(dirname "$0")"
version=0.21.1
crates=("$@")
[ ${#crates[@]} -gt 0 ] || crates=(webrtc rtc rtc-sctp)

# A throw-away project that depends on the published crates makes cargo fetch them.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src" && touch "$tmp/src/lib.rs"
{
  printf '[package]\nname = "fetch-vendored"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n'
  for crate in "${crates[@]}"; do printf '%s = "=%s"\n' "$crate" "$version"; done
} > "$tmp/Cargo.toml"
cargo fetch --manifest-path "$tmp/Cargo.toml" >/dev/null
registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"

for crate in "${crates[@]}"; do
  src=$(ls -d "$registry"/*/"$crate-$version" | head -1)
  [ -d "$src" ] || { echo "$crate-$version not in the cargo registry" >&2; exit 1; }
  rm -rf "$crate"
  mkdir "$crate"
  cp -r "$src/src" "$src/Cargo.toml" "$src/README.md" "$crate/"
  # rtc-sctp ships without licence files; it is under the same MIT/Apache-2.0
  # licences as webrtc (same project, webrtc-rs).
  licences="$src"
  [ -f "$src/LICENSE-MIT" ] || licences=$(ls -d "$registry"/*/"webrtc-$version" | head -1)
  cp "$licences/LICENSE-APACHE" "$licences/LICENSE-MIT" "$crate/"
  python3 strip_manifest.py "$crate/Cargo.toml"
  (cd "$crate" && patch -p1 --quiet < "../$crate.patch")
  echo "core/vendor/$crate: $crate $version + $crate.patch"
done
