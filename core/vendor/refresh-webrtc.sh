#!/usr/bin/env bash
# Re-creates core/vendor/webrtc from the published webrtc 0.21.1 crate plus
# webrtc.patch (see README.md): fetches the crate with cargo, copies its
# library sources and licences, strips the manifest's example/test/bench
# targets, and applies the patch.
set -euo pipefail
cd "$(dirname "$0")"
version=0.21.1
# A throw-away project that depends on the published crate makes cargo fetch it.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src" && touch "$tmp/src/lib.rs"
printf '[package]\nname = "fetch-webrtc"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nwebrtc = "=%s"\n' "$version" > "$tmp/Cargo.toml"
cargo fetch --manifest-path "$tmp/Cargo.toml" >/dev/null
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/webrtc-$version | head -1)
[ -d "$src" ] || { echo "webrtc-$version not in the cargo registry" >&2; exit 1; }
rm -rf webrtc
mkdir webrtc
cp -r "$src/src" "$src/Cargo.toml" "$src/LICENSE-APACHE" "$src/LICENSE-MIT" "$src/README.md" webrtc/
python3 strip_manifest.py webrtc/Cargo.toml
(cd webrtc && patch -p1 --quiet < ../webrtc.patch)
echo "core/vendor/webrtc: webrtc $version + webrtc.patch"
