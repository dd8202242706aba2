#!/usr/bin/env bash
# Re-creates rtcgate's forks of webrtc-rs crates under core/vendor from the
# published crates plus their patches (see README.md): fetches each crate with
# cargo, copies its library sources and licences, turns its manifest into the
# fork's (fork_manifest.py: renamed `rtcgate-<crate>`, version
# `<upstream>-rtcgate.<FORK>`, forked dependencies by path), and applies
# `<crate>.patch` where there is one.
#
# Usage: core/vendor/refresh.sh            (every fork)
#        core/vendor/refresh.sh rtc-sctp   (one)
set -euo pipefail
cd "$(dirname "$0")"
version=0.21.1
# The fork release: bump it whenever a patch changes (every fork together).
fork=2
# Every forked crate. A crate is forked when it carries a patch, or when it
# depends on a forked crate and hands that crate's types to another fork
# (rtc-datachannel: rtc passes rtc-sctp associations to it).
all=(webrtc rtc rtc-ice rtc-sctp rtc-datachannel)
crates=("$@")
[ ${#crates[@]} -gt 0 ] || crates=("${all[@]}")

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
  cp -r "$src/src" "$src/Cargo.toml" "$crate/"
  [ -f "$src/README.md" ] && cp "$src/README.md" "$crate/"
  # Some rtc-* crates ship without licence files; they are under the same
  # MIT/Apache-2.0 licences as webrtc (same project, webrtc-rs).
  licences="$src"
  [ -f "$src/LICENSE-MIT" ] || licences=$(ls -d "$registry"/*/"webrtc-$version" | head -1)
  cp "$licences/LICENSE-APACHE" "$licences/LICENSE-MIT" "$crate/"
  # rtc-sctp's and rtc-datachannel's unit tests need their (small) dev-dependencies;
  # rtc-ice's need three of its twelve (the rest serve its examples).
  keep=()
  case "$crate" in
    rtc-sctp|rtc-datachannel) keep=(--keep-dev-deps) ;;
    rtc-ice) keep=(--keep-dev-deps=tokio,regex,serde_json) ;;
  esac
  python3 fork_manifest.py "${keep[@]}" "$crate/Cargo.toml" "$fork" "${all[@]}"
  if [ -f "$crate.patch" ]; then
    (cd "$crate" && patch -p1 --quiet < "../$crate.patch")
    echo "core/vendor/$crate: rtcgate-$crate $version-rtcgate.$fork = $crate $version + $crate.patch"
  else
    echo "core/vendor/$crate: rtcgate-$crate $version-rtcgate.$fork = $crate $version (manifest only)"
  fi
done
