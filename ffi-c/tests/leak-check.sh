#!/usr/bin/env bash
# Leak check of librtcgate (issue 4): create/join/leave/destroy cycles from C.
#   1. 1,000 cycles (track + call + stats, one member) under valgrind:
#      no memcheck error at all, zero definitely-lost bytes.
#   2. 20 cycles of two members that connect (ICE, DTLS, SCTP) under valgrind:
#      zero definitely-lost bytes (webrtc-rs' own "uninitialised bytes in
#      sendmsg" reports, from quinn-udp, are not ours and are not counted).
#   3. 200 connected-pair cycles natively: RSS after warm-up grows < 8 MiB.
# Run inside .ci/with-netns after building the workspace (needs valgrind, cc).
# Usage: ffi-c/tests/leak-check.sh [TARGET_DIR]   (default: $CARGO_TARGET_DIR or target)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
lib="${1:-${CARGO_TARGET_DIR:-$root/target}}/debug"
[ -f "$lib/librtcgate.so" ] || { echo "leak-check: $lib/librtcgate.so missing (cargo build -p rtcgate-ffi)" >&2; exit 2; }
[ -n "${RTCGATE_NETNS:-}" ] || { echo "leak-check: run inside .ci/with-netns (docs/testing.md)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc -std=c11 -Wall -Wextra -Werror -g -O1 -I"$root/include" "$root/ffi-c/tests/c/leak_cycles.c" \
   -o "$work/leak_cycles" -L"$lib" -lrtcgate -Wl,-rpath,"$lib"

vg=(valgrind --leak-check=full --show-leak-kinds=definite --fair-sched=yes)

echo "== 1000 cycles, one member, valgrind"
RTCGATE_RSS_SLACK_KB=1000000 "${vg[@]}" --errors-for-leak-kinds=definite --error-exitcode=3 \
  "$work/leak_cycles" 1000 2>"$work/vg1.txt" || { tail -40 "$work/vg1.txt"; exit 1; }
grep -E "definitely lost|ERROR SUMMARY" "$work/vg1.txt"

echo "== 20 connected pairs, valgrind"
RTCGATE_RSS_SLACK_KB=1000000 "${vg[@]}" "$work/leak_cycles" 20 pair 2>"$work/vg2.txt" || { tail -40 "$work/vg2.txt"; exit 1; }
grep -E "definitely lost|ERROR SUMMARY" "$work/vg2.txt"
grep -qE "definitely lost: 0 bytes in 0 blocks|no leaks are possible" "$work/vg2.txt" || { echo "leak-check: definitely lost bytes" >&2; exit 1; }

echo "== 200 connected pairs, RSS"
"$work/leak_cycles" 200 pair
echo "leak-check: ok"
