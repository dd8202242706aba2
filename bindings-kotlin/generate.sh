#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings of librtcgate with uniffi (library
# mode: the metadata is read from the built library itself) and writes them
# into the repository, or with --check regenerates into a temporary folder
# and fails when the committed sources differ (CI).
#
#   bindings-kotlin/generate.sh            # build, generate, write
#   bindings-kotlin/generate.sh --check    # build, generate, compare
#   ... --no-build                         # use the library and generator already built
#   ... --no-build-lib                     # use the library already built (CI: after
#                                          #   `cargo build --workspace`), build the generator
#
# Writes:
#   bindings-kotlin/src/main/kotlin/io/rtcgate/rtcgate.kt
#   bindings-swift/Sources/Rtcgate/Rtcgate.swift
#   bindings-swift/Headers/RtcgateFFI.h, bindings-swift/Headers/module.modulemap
#
# The generator is ffi-c/uniffi-bindgen (its own workspace, uniffi with the
# `cli` feature: the first build takes about a minute on two cores). Its
# uniffi version must equal the library's; this script checks it.
# Honours CARGO_TARGET_DIR (default: target/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
check=false
build=true
build_lib=true
for arg in "$@"; do
  case "$arg" in
    --check) check=true ;;
    --no-build) build=false ;;
    --no-build-lib) build_lib=false ;;
    *) echo "usage: $0 [--check] [--no-build | --no-build-lib]" >&2; exit 2 ;;
  esac
done
target="${CARGO_TARGET_DIR:-$root/target}"

uniffi_version() { # the version of the `uniffi` package in a Cargo.lock
  awk '/^name = "uniffi"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$1"
}
lib_version="$(uniffi_version Cargo.lock)"
gen_version="$(uniffi_version ffi-c/uniffi-bindgen/Cargo.lock)"
if [ -z "$lib_version" ] || [ "$lib_version" != "$gen_version" ]; then
  echo "generate: uniffi $lib_version in the library but $gen_version in ffi-c/uniffi-bindgen" >&2
  exit 1
fi

if $build; then
  if $build_lib; then cargo build --quiet --locked -p rtcgate-ffi --lib; fi
  # Its own workspace: without --target-dir it would build into
  # ffi-c/uniffi-bindgen/target, not next to the library.
  cargo build --quiet --locked --manifest-path ffi-c/uniffi-bindgen/Cargo.toml --target-dir "$target"
fi
lib="$target/debug/librtcgate.so"
bindgen="$target/debug/uniffi-bindgen"
bindgen_swift="$target/debug/uniffi-bindgen-swift"
for f in "$lib" "$bindgen" "$bindgen_swift"; do
  [ -x "$f" ] || [ -f "$f" ] || { echo "generate: $f not built" >&2; exit 1; }
done

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# Kotlin (package io.rtcgate, library name "rtcgate": ffi-c/uniffi.toml).
"$bindgen" generate --library "$lib" --crate rtcgate --language kotlin \
  --no-format --metadata-no-deps --out-dir "$out/kotlin" >/dev/null
# Swift sources, and the C header + modulemap of the FFI module (XCFramework layout).
"$bindgen_swift" --swift-sources --metadata-no-deps "$lib" "$out/swift-src" >/dev/null
"$bindgen_swift" --headers --modulemap --xcframework --metadata-no-deps \
  --module-name RtcgateFFI --modulemap-filename module.modulemap "$lib" "$out/swift-headers" >/dev/null

mkdir -p "$out/tree/bindings-kotlin/src/main/kotlin/io/rtcgate" \
  "$out/tree/bindings-swift/Sources/Rtcgate" "$out/tree/bindings-swift/Headers"
cp "$out/kotlin/io/rtcgate/rtcgate.kt" "$out/tree/bindings-kotlin/src/main/kotlin/io/rtcgate/"
cp "$out/swift-src/Rtcgate.swift" "$out/tree/bindings-swift/Sources/Rtcgate/"
cp "$out/swift-headers/RtcgateFFI.h" "$out/swift-headers/module.modulemap" "$out/tree/bindings-swift/Headers/"

files=(
  bindings-kotlin/src/main/kotlin/io/rtcgate/rtcgate.kt
  bindings-swift/Sources/Rtcgate/Rtcgate.swift
  bindings-swift/Headers/RtcgateFFI.h
  bindings-swift/Headers/module.modulemap
)
if $check; then
  stale=0
  for f in "${files[@]}"; do
    if ! diff -u "$f" "$out/tree/$f" >/dev/null 2>&1; then
      diff -u "$f" "$out/tree/$f" | head -40 >&2 || true
      echo "generate: $f is stale" >&2
      stale=1
    fi
  done
  if [ "$stale" = 1 ]; then
    echo "generate: run bindings-kotlin/generate.sh and commit the result" >&2
    exit 1
  fi
  echo "generate: Kotlin and Swift bindings are up to date (uniffi $lib_version)"
else
  for f in "${files[@]}"; do
    mkdir -p "$(dirname "$f")"
    cp "$out/tree/$f" "$f"
  done
  echo "generate: wrote ${files[*]}"
fi
