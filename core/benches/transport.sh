#!/usr/bin/env bash
# The transport comparison of issue 7 in one command: rtcgate, raw webrtc 0.21.1,
# GStreamer webrtcbin and aiortc, side by side, one table with the ratios
# (docs/benchmarks.md, docs/transport.md). It
#   1. installs what the anchors need (Debian's python3-gi + GStreamer GIR, a
#      virtualenv with aiortc under target/anchors-venv) and iptables-legacy (the
#      emulated 20 ms RTT / 1 % loss path);
#   2. builds the benchmark (outside: the namespace has no network);
#   3. runs it inside a network namespace (.ci/with-netns; needs root).
# Extra arguments pick sections: throughput lossy join memory (default: all).
# RTCGATE_BENCH_QUICK=1 for a ~2-minute smoke run; RTCGATE_BENCH_ROUNDS=N.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash core/benches/anchors/setup.sh >/dev/null
if ! command -v iptables-legacy >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables >/dev/null
fi
cargo bench -p rtcgate-core --bench overhead --no-run
exec .ci/with-netns cargo bench -p rtcgate-core --offline --bench overhead -- "$@"
