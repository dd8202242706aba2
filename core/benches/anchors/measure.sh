#!/usr/bin/env bash
# Runs every anchor measurement at the full sizes of core/benches/overhead
# (reliable 16 KiB x 64 MiB, unreliable 1 KiB x 32 MiB, water marks 1 MiB /
# 512 KiB, join 20 samples, memory N = 20), alternating the two stacks, and
# appends the JSON lines to OUT (default target/anchors-results.jsonl).
# Usage (from the repo root, after setup.sh): core/benches/anchors/measure.sh [ROUNDS] [OUT]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
rounds="${1:-3}"
out="${2:-$root/target/anchors-results.jsonl}"
venv="${ANCHORS_VENV:-$root/target/anchors-venv}"
netns="$root/.ci/with-netns"
gst=(/usr/bin/python3 "$here/webrtcbin_dc.py")
aio=("$venv/bin/python" "$here/aiortc_dc.py")
water=(--high-water 1048576 --low-water 524288 --timeout 90)
run() { "$netns" "$@" >>"$out"; }
for ((r = 0; r < rounds; r++)); do
    for stack in gst aio; do
        declare -n cmd=$stack
        run "${cmd[@]}" throughput --reliable --message-size 16384 --total-bytes 67108864 "${water[@]}"
        run "${cmd[@]}" throughput --unreliable --message-size 1024 --total-bytes 33554432 "${water[@]}"
    done
done
for stack in gst aio; do
    declare -n cmd=$stack
    run "${cmd[@]}" join --samples 20
    run "${cmd[@]}" memory --pairs 20
done
echo "results in $out" >&2
