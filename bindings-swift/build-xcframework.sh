#!/usr/bin/env bash
# Builds bindings-swift/RtcgateFFI.xcframework (macOS with Xcode and rustup;
# cannot run on the Linux CI machines): librtcgate.a for iOS devices, the iOS
# simulator (arm64 + x86_64, lipo'd) and macOS (arm64), each with the
# generated header and modulemap. Then `swift build` / `swift test` in
# bindings-swift/ use it (Package.swift's binary target).
#
#   bindings-swift/build-xcframework.sh            # release (mobile profile)
#   PROFILE=debug bindings-swift/build-xcframework.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
profile="${PROFILE:-release}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin)

cd "$root"
rustup target add "${targets[@]}"
flag=()
[ "$profile" = release ] && flag=(--release)
for t in "${targets[@]}"; do
  cargo build --locked -p rtcgate-ffi --lib --target "$t" "${flag[@]}"
done
lib() { echo "$target_dir/$1/$profile/librtcgate.a"; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sim" "$work/headers"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/sim/librtcgate.a"
cp "$here/Headers/RtcgateFFI.h" "$here/Headers/module.modulemap" "$work/headers/"

rm -rf "$here/RtcgateFFI.xcframework"
xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$work/headers" \
  -library "$work/sim/librtcgate.a" -headers "$work/headers" \
  -library "$(lib aarch64-apple-darwin)" -headers "$work/headers" \
  -output "$here/RtcgateFFI.xcframework"
echo "build-xcframework: wrote $here/RtcgateFFI.xcframework"
