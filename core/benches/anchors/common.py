"""What webrtcbin_dc.py and aiortc_dc.py share: the command line, the message
format and receiver tally of core/benches/overhead/transfer.rs, the readings
from the operating system (core/benches/overhead/sys.rs) and the JSON output.

Every message starts with its sequence number (u32, little endian) and is
filled with the byte (seq & 0xFF) ^ 0xA5; the receiver checks length,
content, order and duplicates.
"""

import argparse
import json
import os
import resource
import struct
import sys
import time

# A pause between deliveries longer than this counts as a stall.
STALL_S = 0.100
# How long the receiver of an unreliable transfer waits for stragglers after
# the sender's buffer drained.
TAIL_IDLE_S = 0.500
# Limit on connecting one pair.
CONNECT_TIMEOUT_S = 20.0
# The sender re-checks the buffered amount at least this often while it waits
# (rtcgate's wait_buffered_below and the raw baseline do the same).
RECHECK_S = 0.050
# Wait after the last pair connected before reading the resident size.
SETTLE_S = 3.0


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def emit(obj):
    """The one JSON line on stdout."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class ConnectError(Exception):
    """The pair did not connect within CONNECT_TIMEOUT_S."""


def pattern(seq):
    return (seq & 0xFF) ^ 0xA5


class Messages:
    """Builds and checks messages of one size."""

    def __init__(self, size):
        if size < 4:
            raise ValueError("message size must be at least 4 bytes")
        self.size = size
        # One fill body per pattern byte: building a message is one concatenation.
        self.bodies = [bytes([b]) * (size - 4) for b in range(256)]
        self._pack = struct.Struct("<I").pack
        self._unpack_from = struct.Struct("<I").unpack_from

    def make(self, seq):
        return self._pack(seq) + self.bodies[pattern(seq)]

    def check(self, message):
        """The sequence number of an intact message, else None."""
        if len(message) != self.size:
            return None
        seq = self._unpack_from(message)[0]
        if not message.startswith(self.bodies[pattern(seq)], 4):
            return None
        return seq


class Tally:
    """The receiver's count (transfer.rs `receive`). `on_message` is called for
    every message in arrival order (from whatever thread the stack delivers on;
    the caller serialises calls)."""

    def __init__(self, messages, count, start):
        self.messages = messages
        self.count = count
        self.start = start
        self.seen = bytearray(count)
        self.next_seq = 0
        self.delivered_messages = 0
        self.delivered_bytes = 0
        self.corrupt = 0
        self.out_of_order = 0
        self.duplicates = 0
        self.stalls = 0
        self.stalled_s = 0.0
        self.last_delivery = None
        # Any message (intact or not): the unreliable tail ends by silence.
        self.last_arrival = start

    def on_message(self, message, now=None):
        if now is None:
            now = time.monotonic()
        self.last_arrival = now
        seq = self.messages.check(message)
        if seq is None or seq >= self.count:
            self.corrupt += 1
            return
        if self.seen[seq]:
            self.duplicates += 1
            return
        self.seen[seq] = 1
        if seq != self.next_seq:
            self.out_of_order += 1
        self.next_seq = (seq + 1) & 0xFFFFFFFF
        self.delivered_messages += 1
        self.delivered_bytes += len(message)
        gap = now - (self.last_delivery if self.last_delivery is not None else self.start)
        if gap > STALL_S:
            self.stalls += 1
            self.stalled_s += gap
        self.last_delivery = now

    def complete(self):
        return self.delivered_messages >= self.count

    def tail_over(self, sender_done, now):
        """Nothing arrived for TAIL_IDLE_S and the sender's buffer drained."""
        return sender_done and now - self.last_arrival >= TAIL_IDLE_S


def cpu_time():
    """User + system CPU seconds of the whole process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes():
    """Resident size: second field of /proc/self/statm times the page size."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGESIZE")


def udp_receive_buffer_errors():
    """RcvbufErrors of the Udp line in /proc/net/snmp (per network namespace)."""
    try:
        with open("/proc/net/snmp") as f:
            udp = [line.split() for line in f if line.startswith("Udp:")]
        names, values = udp[0], udp[1]
        return int(values[names.index("RcvbufErrors")])
    except (OSError, IndexError, ValueError):
        return None


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def has_non_loopback_interface():
    """True when a socket towards the namespace's veth address gets a
    non-loopback source address (so ICE has a host candidate)."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.99.0.1", 9))
            return not s.getsockname()[0].startswith("127.")
    except OSError:
        return False


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("throughput", help="one data-channel transfer")
    kind = t.add_mutually_exclusive_group(required=True)
    kind.add_argument("--reliable", dest="reliable", action="store_true")
    kind.add_argument("--unreliable", dest="reliable", action="store_false")
    t.add_argument("--message-size", type=int, required=True)
    t.add_argument("--total-bytes", type=int, required=True)
    t.add_argument("--high-water", type=int, required=True)
    t.add_argument("--low-water", type=int, required=True)
    t.add_argument("--timeout", type=float, required=True, help="seconds")
    j = sub.add_parser("join", help="create pair -> channel open on both, N times")
    j.add_argument("--samples", type=int, required=True)
    m = sub.add_parser("memory", help="RSS per connected idle pair")
    m.add_argument("--pairs", type=int, required=True)
    return parser.parse_args(argv)


def transfer_json(stack, version, args, tally, elapsed_s, cpu_s, udp_drops,
                  timed_out, sender_error, setup_ms):
    return {
        "stack": stack,
        "version": version,
        "reliable": args.reliable,
        "message_size": args.message_size,
        "offered_messages": tally.count,
        "delivered_messages": tally.delivered_messages,
        "delivered_bytes": tally.delivered_bytes,
        "corrupt": tally.corrupt,
        "out_of_order": tally.out_of_order,
        "duplicates": tally.duplicates,
        "elapsed_s": elapsed_s,
        "cpu_s": cpu_s,
        "stalls": tally.stalls,
        "stalled_s": tally.stalled_s,
        "udp_drops": udp_drops,
        "timed_out": timed_out,
        "sender_error": sender_error,
        "setup_ms": setup_ms,
    }


def summary(result):
    """A human line for stderr."""
    if "delivered_bytes" in result:
        mbps = result["delivered_bytes"] / 1e6 / max(result["elapsed_s"], 1e-9)
        frac = result["delivered_messages"] / max(result["offered_messages"], 1)
        return (f"{result['stack']}: {mbps:.1f} MB/s, delivered {frac:.3f}, "
                f"cpu {result['cpu_s']:.2f} s over {result['elapsed_s']:.2f} s, "
                f"stalls {result['stalls']} ({result['stalled_s']:.2f} s), "
                f"udp drops {result['udp_drops']}, setup {result['setup_ms']:.0f} ms")
    return json.dumps(result)
