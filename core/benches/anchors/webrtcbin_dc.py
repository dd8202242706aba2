#!/usr/bin/python3
"""GStreamer webrtcbin data-channel anchor: the same transfer, join and memory
measurements as core/benches/overhead/ makes for rtcgate and raw webrtc-rs,
for webrtcbin (GStreamer 1.22, Debian's python3-gi).

Each pair is one pipeline holding two webrtcbin elements (bundle-policy
max-bundle, no STUN/TURN server, ICE over UDP only like the other stacks).
Signalling is direct and in-process: offer/answer through the action signals,
candidates from on-ice-candidate straight into the other's add-ice-candidate
(held back until the other side has its remote description). A GLib main loop
runs in a background thread for the bus; webrtcbin signals its events from its
own threads. The sender is the main thread; while the buffered amount is above
the high-water mark it blocks on a threading.Event that on-buffered-amount-low
sets (re-checking every 50 ms, as rtcgate does). Run inside .ci/with-netns.
See README.md.
"""

import ctypes
import os
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

import common  # noqa: E402
from common import log  # noqa: E402

STACK = "webrtcbin"
OPEN = GstWebRTC.WebRTCDataChannelState.OPEN
# webrtcbin's default also gathers ICE-TCP candidates; the other stacks use UDP only.
ICE_TCP = os.environ.get("ANCHORS_WEBRTCBIN_ICE_TCP", "0") not in ("", "0")


def promise_reply(element, signal, *args, timeout, field=None):
    """Emits an action signal that takes a promise and waits for its reply;
    returns the reply's `field` (a copy, taken while the promise is alive)."""
    promise = Gst.Promise.new()
    element.emit(signal, *args, promise)
    # Gst.Promise.wait has no timeout: wait in a helper thread.
    done = threading.Event()
    result = {}

    def wait():
        result["state"] = promise.wait()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    if not done.wait(timeout):
        promise.interrupt()
        raise common.ConnectError(f"{signal} did not answer within the connect time limit")
    if result["state"] != Gst.PromiseResult.REPLIED:
        raise common.ConnectError(f"{signal}: promise {result['state']}")
    if field is None:
        return None
    reply = promise.get_reply()
    if reply is None or not reply.has_field(field):
        raise common.ConnectError(f"{signal}: no {field} in the reply ({reply})")
    return reply.get_value(field).copy()


def ice_agent(webrtcbin):
    """webrtcbin's GstWebRTCICE. GStreamer 1.22's getter for "ice-agent" hands
    out its own reference (g_value_take_object without a ref), so reading the
    property from Python would free the agent: add the reference it gave away."""
    agent = webrtcbin.get_property("ice-agent")
    ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
    ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    pointer = ctypes.pythonapi.PyCapsule_GetPointer(agent.__gpointer__, None)
    _gobject.g_object_ref(pointer)
    return agent


_gobject = ctypes.CDLL("libgobject-2.0.so.0")
_gobject.g_object_ref.argtypes = [ctypes.c_void_p]
_gobject.g_object_ref.restype = ctypes.c_void_p


class Peer:
    """One webrtcbin and the candidates it may not take yet."""

    def __init__(self, pipeline, name):
        self.bin = Gst.ElementFactory.make("webrtcbin", name)
        if self.bin is None:
            raise RuntimeError("no webrtcbin element (gstreamer1.0-plugins-bad, gstreamer1.0-nice)")
        self.bin.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        if not ICE_TCP:
            # UDP candidates only, like webrtc-rs and aiortc in this benchmark.
            ice_agent(self.bin).set_property("ice-tcp", False)
        pipeline.add(self.bin)
        self.lock = threading.Lock()
        self.has_remote = False
        self.pending = []
        self.other = None
        self.bin.connect("on-ice-candidate", self._on_ice_candidate)

    def _on_ice_candidate(self, _bin, mline, candidate):
        self.other.add_candidate(mline, candidate)

    def add_candidate(self, mline, candidate):
        with self.lock:
            if not self.has_remote:
                self.pending.append((mline, candidate))
                return
        self.bin.emit("add-ice-candidate", mline, candidate)

    def set_remote(self, description, timeout):
        promise_reply(self.bin, "set-remote-description", description, timeout=timeout)
        with self.lock:
            self.has_remote = True
            pending, self.pending = self.pending, []
        for mline, candidate in pending:
            self.bin.emit("add-ice-candidate", mline, candidate)


class Pair:
    """One pipeline with two webrtcbins connected by one open data channel."""

    def __init__(self, reliable):
        self.pipeline = Gst.Pipeline.new(None)
        self.offerer = Peer(self.pipeline, "offerer")
        self.answerer = Peer(self.pipeline, "answerer")
        self.offerer.other, self.answerer.other = self.answerer, self.offerer
        self.reliable = reliable
        self.created = None
        self.accepted = None
        self._accepted_event = threading.Event()
        self._open = {"created": threading.Event(), "accepted": threading.Event()}
        self.answerer.bin.connect("on-data-channel", self._on_data_channel)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        self._bus_handler = bus.connect("message::error", self._on_error)

    def _on_error(self, _bus, message):
        err, debug = message.parse_error()
        log(f"webrtcbin error: {err.message} ({debug})")

    def _on_data_channel(self, _bin, channel):
        self.accepted = channel
        self._watch_open(channel, "accepted")
        self._accepted_event.set()

    def _watch_open(self, channel, which):
        event = self._open[which]
        channel.connect("on-open", lambda _ch: event.set())
        if channel.get_property("ready-state") == OPEN:
            event.set()

    def connect(self, timeout):
        deadline = time.monotonic() + timeout

        def left():
            return max(deadline - time.monotonic(), 0.001)

        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise common.ConnectError("pipeline refused to go to PLAYING")
        # The data channel gives the offer its m-line.
        if self.reliable:
            options = "application/data-channel, ordered=(boolean)true"
        else:
            options = "application/data-channel, ordered=(boolean)false, max-retransmits=(int)0"
        self.created = self.offerer.bin.emit(
            "create-data-channel", "bench", Gst.Structure.from_string(options)[0])
        if self.created is None:
            raise common.ConnectError("create-data-channel returned nothing")
        self._watch_open(self.created, "created")

        offer = promise_reply(self.offerer.bin, "create-offer", None, timeout=left(), field="offer")
        promise_reply(self.offerer.bin, "set-local-description", offer, timeout=left())
        self.answerer.set_remote(offer, left())
        answer = promise_reply(self.answerer.bin, "create-answer", None, timeout=left(), field="answer")
        promise_reply(self.answerer.bin, "set-local-description", answer, timeout=left())
        self.offerer.set_remote(answer, left())

        for event in (self._accepted_event, self._open["created"], self._open["accepted"]):
            if not event.wait(left()):
                raise common.ConnectError(
                    f"webrtcbin pair did not open its data channel within {timeout:.0f} s")

    def close(self):
        bus = self.pipeline.get_bus()
        bus.disconnect(self._bus_handler)
        bus.remove_signal_watch()
        self.pipeline.set_state(Gst.State.NULL)


def connect(reliable):
    """A connected pair and the setup time in ms (creating both webrtcbins →
    channel open on both)."""
    start = time.monotonic()
    pair = Pair(reliable)
    try:
        pair.connect(common.CONNECT_TIMEOUT_S)
    except Exception:
        pair.close()
        raise
    return pair, (time.monotonic() - start) * 1e3


def throughput(args, version):
    pair, setup_ms = connect(args.reliable)
    log(f"connected in {setup_ms:.0f} ms")
    messages = common.Messages(args.message_size)
    count = args.total_bytes // args.message_size
    sender, receiver = pair.created, pair.accepted
    low = threading.Event()
    sender.connect("on-buffered-amount-low", lambda _ch: low.set())
    sender.set_property("buffered-amount-low-threshold", args.low_water)

    tally_lock = threading.Lock()
    tally = None

    def on_data(_ch, data):
        message = data.get_data() if data is not None else b""
        with tally_lock:
            tally.on_message(message)

    def on_string(_ch, text):
        with tally_lock:
            tally.on_message((text or "").encode())

    cpu_start = common.cpu_time()
    drops_start = common.udp_receive_buffer_errors()
    start = time.monotonic()
    deadline = start + args.timeout
    tally = common.Tally(messages, count, start)
    receiver.connect("on-message-data", on_data)
    receiver.connect("on-message-string", on_string)

    def buffered():
        return sender.get_property("buffered-amount")

    def wait_buffered_below(limit):
        while True:
            low.clear()
            if buffered() <= limit:
                return
            if sender.get_property("ready-state") != OPEN:
                raise RuntimeError("data channel closed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("transfer timed out")
            low.wait(min(common.RECHECK_S, remaining))

    sender_error = None
    try:
        for seq in range(count):
            sender.send_data_full(GLib.Bytes.new(messages.make(seq)))
            if buffered() > args.high_water:
                wait_buffered_below(args.low_water)
        wait_buffered_below(0)
    except Exception as err:  # GLib.Error from send_data_full, or a timeout
        sender_error = getattr(err, "message", None) or str(err) or type(err).__name__

    timed_out = False
    while True:
        now = time.monotonic()
        with tally_lock:
            if tally.complete() or tally.tail_over(True, now):
                break
        if now >= deadline:
            timed_out = True
            break
        time.sleep(0.01)
    cpu_s = common.cpu_time() - cpu_start
    drops_end = common.udp_receive_buffer_errors()
    udp_drops = None if drops_start is None or drops_end is None else max(drops_end - drops_start, 0)
    with tally_lock:
        elapsed_s = (tally.last_delivery - start) if tally.last_delivery is not None else 0.0
        timed_out = timed_out or time.monotonic() >= deadline
        result = common.transfer_json(STACK, version, args, tally, elapsed_s, cpu_s, udp_drops,
                                      timed_out, sender_error, setup_ms)
    pair.close()
    return result


def join(args, version):
    # One uncounted pair first: it loads the plugins (~1.3 s once per process).
    warm, warmup_ms = connect(True)
    warm.close()
    log(f"warm-up pair: {warmup_ms:.1f} ms (not counted)")
    samples = []
    for i in range(args.samples):
        pair, ms = connect(True)
        samples.append(ms)
        log(f"join {i}: {ms:.1f} ms")
        pair.close()
    return {"stack": STACK, "version": version, "samples_ms": samples, "warmup_ms": warmup_ms}


def memory(args, version):
    common.raise_fd_limit()
    warm, _ = connect(True)
    time.sleep(common.SETTLE_S)
    before = common.rss_bytes()
    held = []
    start = time.monotonic()
    for _ in range(args.pairs):
        pair, _ = connect(True)
        held.append(pair)
    setup_s = time.monotonic() - start
    time.sleep(common.SETTLE_S)
    after = common.rss_bytes()
    log(f"{args.pairs} pairs connected in {setup_s:.1f} s")
    mib = 1024 * 1024
    result = {
        "stack": STACK,
        "version": version,
        "pairs": args.pairs,
        "rss_before_mib": before / mib,
        "rss_after_mib": after / mib,
        "per_pair_mib": (after - before) / mib / max(args.pairs, 1),
    }
    for pair in held + [warm]:
        pair.close()
    return result


def main():
    args = common.parse_args()
    Gst.init(None)
    version = "%d.%d.%d" % Gst.version()[:3]
    if not common.has_non_loopback_interface():
        log("warning: no non-loopback interface (run inside .ci/with-netns)")
    loop = GLib.MainLoop()
    threading.Thread(target=loop.run, daemon=True).start()
    run = {"throughput": throughput, "join": join, "memory": memory}[args.command]
    try:
        result = run(args, version)
    except common.ConnectError as err:
        log(f"error: {err}")
        return 2
    finally:
        loop.quit()
    log(common.summary(result))
    common.emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
