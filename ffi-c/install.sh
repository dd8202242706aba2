#!/usr/bin/env bash
# Builds librtcgate and installs it under PREFIX:
#   PREFIX/lib/librtcgate.so, librtcgate.a
#   PREFIX/include/rtcgate.h
#   PREFIX/lib/pkgconfig/rtcgate.pc              (pkg-config --cflags --libs rtcgate)
#   PREFIX/lib/cmake/rtcgate/rtcgateConfig.cmake (find_package(rtcgate) -> rtcgate::rtcgate)
# Usage: ffi-c/install.sh PREFIX [--debug] [--no-build]
#   --debug     install the dev build instead of the release build
#   --no-build  install what is already built (CI builds the workspace first)
# Honours CARGO_TARGET_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { sed -n '2,11p' "$0"; exit 2; }
prefix="$1"; shift
profile=release; build=1
for arg in "$@"; do
  case "$arg" in
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    *) echo "install: unknown option $arg" >&2; exit 2 ;;
  esac
done
target="${CARGO_TARGET_DIR:-$root/target}"
if [ "$build" = 1 ]; then
  flag=(); [ "$profile" = release ] && flag=(--release)
  (cd "$root" && cargo build -p rtcgate-ffi --locked "${flag[@]}")
fi
out="$target/$profile"
[ -f "$out/librtcgate.so" ] || { echo "install: $out/librtcgate.so not built" >&2; exit 1; }
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
install -d "$prefix/lib/pkgconfig" "$prefix/lib/cmake/rtcgate" "$prefix/include"
install -m 0755 "$out/librtcgate.so" "$prefix/lib/"
install -m 0644 "$out/librtcgate.a" "$prefix/lib/"
install -m 0644 "$root/include/rtcgate.h" "$prefix/include/"
subst() { sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" "$1" > "$2"; }
subst "$root/ffi-c/pkg/rtcgate.pc.in" "$prefix/lib/pkgconfig/rtcgate.pc"
subst "$root/ffi-c/pkg/rtcgateConfig.cmake.in" "$prefix/lib/cmake/rtcgate/rtcgateConfig.cmake"
subst "$root/ffi-c/pkg/rtcgateConfigVersion.cmake.in" "$prefix/lib/cmake/rtcgate/rtcgateConfigVersion.cmake"
echo "install: rtcgate $version ($profile) installed in $prefix"
echo "  PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs rtcgate"
echo "  cmake -DCMAKE_PREFIX_PATH=$prefix ...   # find_package(rtcgate) -> rtcgate::rtcgate"
