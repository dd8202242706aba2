#!/usr/bin/env python3
"""Prints a table from the JSON lines measure.sh collected (medians over rounds).
Usage: summarize.py [RESULTS.jsonl]"""

import json
import statistics
import sys


def main(path):
    rows = [json.loads(line) for line in open(path) if line.startswith("{")]
    for stack in ("webrtcbin", "aiortc"):
        mine = [r for r in rows if r["stack"] == stack]
        if not mine:
            continue
        version = mine[0].get("version", "?")
        print(f"{stack} {version}")
        for reliable in (True, False):
            runs = [r for r in mine if r.get("reliable") is reliable and "elapsed_s" in r]
            if not runs:
                continue
            mbps = [r["delivered_bytes"] / 1e6 / max(r["elapsed_s"], 1e-9) for r in runs]
            frac = [r["delivered_messages"] / max(r["offered_messages"], 1) for r in runs]
            cpu = [r["cpu_s"] / max(r["delivered_bytes"] / 1e6, 1e-9) for r in runs]
            print(f"  {'reliable' if reliable else 'unreliable'}: "
                  f"{statistics.median(mbps):.1f} MB/s median of {len(runs)} "
                  f"({', '.join(f'{m:.1f}' for m in mbps)}), delivered "
                  f"{', '.join(f'{f:.3f}' for f in frac)}, CPU s/MB "
                  f"{', '.join(f'{c:.3f}' for c in cpu)}, stalls "
                  f"{', '.join(str(r['stalls']) for r in runs)}, udp drops "
                  f"{', '.join(str(r['udp_drops']) for r in runs)}, timed out "
                  f"{sum(r['timed_out'] for r in runs)}, setup ms "
                  + ", ".join("%.0f" % r["setup_ms"] for r in runs)
                  + ", sender errors: "
                  + ", ".join(str(r["sender_error"]) for r in runs))
        for r in mine:
            if "samples_ms" in r:
                s = sorted(r["samples_ms"])
                p95 = s[max(-(-95 * len(s) // 100) - 1, 0)]
                print(f"  join → open: {len(s)} samples, min {s[0]:.0f}, "
                      f"p50 {statistics.median(s):.0f}, p95 {p95:.0f}, max {s[-1]:.0f} ms")
            if "per_pair_mib" in r:
                print(f"  memory: N={r['pairs']}, RSS {r['rss_before_mib']:.1f} → "
                      f"{r['rss_after_mib']:.1f} MiB, {r['per_pair_mib']:.2f} MiB per idle pair")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/anchors-results.jsonl")
