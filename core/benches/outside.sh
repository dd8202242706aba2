#!/usr/bin/env bash
# The transport benchmark built the way a user's program is built: from a
# scratch crate *outside* this workspace that depends on rtcgate-core by path
# (so Cargo resolves the forks through rtcgate-core's own manifest, with no
# [patch] and none of this workspace's settings), then run side by side with
# the in-workspace build of the same benchmark, so that the two tables can be
# compared line by line (docs/benchmarks.md, "From outside the workspace").
#
#   core/benches/outside.sh [SECTIONS...]     (default: join throughput)
#
# The raw-webrtc column of the scratch build uses the webrtc it gets through
# rtcgate-core (the benchmark names it `webrtc`), as a user comparing the two would.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(join throughput)
scratch=$(mktemp -d /tmp/rtcgate-outside-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cat > "$scratch/Cargo.toml" <<TOML
[package]
name = "rtcgate-outside-bench"
version = "0.0.0"
edition = "2024"
publish = false

[[bin]]
name = "overhead"
path = "$repo/core/benches/overhead/main.rs"

[dependencies]
rtcgate-core = { path = "$repo/core", default-features = false }
# What the benchmark itself names: the forks, reached as a user reaches them
# (the same packages rtcgate-core depends on; Cargo unifies them).
webrtc = { package = "rtcgate-webrtc", version = "=$(grep -m1 -o '0\.21\.1-rtcgate\.[0-9]*' "$repo/Cargo.toml")", path = "$repo/core/vendor/webrtc" }
rtc = { package = "rtcgate-rtc", version = "=$(grep -m1 -o '0\.21\.1-rtcgate\.[0-9]*' "$repo/Cargo.toml")", path = "$repo/core/vendor/rtc" }
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net", "sync", "time", "process", "io-util", "fs", "signal"] }
tracing-subscriber = { version = "0.3", features = ["env-filter", "fmt"] }
tracing = "0.1"
bytes = "1"
libc = "0.2"
nfq = "0.2"
async-trait = "0.1"
futures = "0.3"
serde_json = "1"
rand = "0.9"
tokio-tungstenite = "0.29"

[profile.release]
debug = "line-tables-only"
TOML
cp "$repo/Cargo.lock" "$scratch/Cargo.lock"
echo "outside: building the benchmark as a dependent of rtcgate-core ($scratch)" >&2
(cd "$scratch" && CARGO_TARGET_DIR="$repo/target/outside-bench" cargo build --release -q)
(cd "$scratch" && cargo tree -e normal --prefix none --format '{p}' | grep -E '^rtcgate-(webrtc|rtc|rtc-ice|rtc-sctp|rtc-datachannel) ' | sort -u) >&2
echo "outside: building the benchmark in the workspace" >&2
(cd "$repo" && cargo bench -p rtcgate-core --bench overhead --no-run -q 2>/dev/null)
inside=$(ls -t "$repo"/target/release/deps/overhead-* | grep -v '\.d$' | head -1)
outside="$repo/target/outside-bench/release/overhead"
for build in inside outside; do
  binary=${!build}
  echo
  echo "=== $build the workspace: $binary"
  RTCGATE_BENCH_ANCHORS=none "$repo/.ci/with-netns" "$binary" "${sections[@]}"
done
