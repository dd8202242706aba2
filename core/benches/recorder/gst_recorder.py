#!/usr/bin/python3
"""The GStreamer baseline of the recorder benchmark: records every member of an
rtcgate room into one WebM file each, the way one would with GStreamer alone.

For every member that offers, one pipeline:

    webrtcbin (latency=200: rtpbin's rtpjitterbuffer, NACK)
      -> rtpvp8depay (wait-for-keyframe, request-keyframe) -\
      -> rtpopusdepay -> opusparse --------------------------> webmmux -> filesink

webrtcbin already holds an rtpjitterbuffer per stream (inside its rtpbin, with the
`latency` we give it, 200 ms like rtcgate's recorder); no second one is added. The
muxer's pads are requested when the offer arrives (one per audio/video m-line the
member sends on), so the header is written once both streams have data. opusparse
is there because webmmux wants a `rate` in the Opus caps, which rtpopusdepay leaves out.

It speaks the embedded room protocol (docs/signalling.md) and answers offers; it
never offers. Helpers (libnice addresses, SDP parsing) come from the interop peer
core/tests/peers/webrtcbin_peer.py.

Protocol with the benchmark (core/benches/recorder/gst_side.rs):
  stdout "READY <member id>" once joined; on SIGINT/SIGTERM every file gets EOS
  (cues and duration are written), then one JSON line:
  {"files": [{"member": ..., "path": ..., "eos": true, "linked": ["audio", "video"]}], "errors": [...]}
Logs go to stderr. Run with /usr/bin/python3 inside .ci/with-netns.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "peers"))

import webrtcbin_peer as wp  # noqa: E402
from webrtcbin_peer import Gst, GstSdp, GstWebRTC  # noqa: E402

import websockets  # noqa: E402

T0 = time.monotonic()


def log(*parts):
    sys.stderr.write("[%7.3f gst-recorder] %s\n" % (time.monotonic() - T0, " ".join(str(p) for p in parts)))
    sys.stderr.flush()


class RecPeer:
    """One webrtcbin + depayloaders + webmmux + filesink for one remote member."""

    def __init__(self, app, member_id, name):
        self.app = app
        self.id = member_id
        self.name = name
        self.path = os.path.join(app.args.out, "%s-%s.webm" % (name or "member", member_id))
        self.pipe = Gst.Pipeline.new("rec-%s" % member_id)
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        self.webrtc.set_property("latency", app.args.latency_ms)
        self.pipe.add(self.webrtc)
        problem = wp.add_local_addresses(self.webrtc, app.local_addresses)
        if problem:
            app.error("%s: %s" % (member_id, problem))
        self.webrtc.connect("on-ice-candidate", self._on_ice_candidate)
        self.webrtc.connect("pad-added", self._on_pad_added)
        self.mux = Gst.ElementFactory.make("webmmux", "mux")
        self.sink = Gst.ElementFactory.make("filesink", "sink")
        self.sink.set_property("location", self.path)
        self.sink.set_property("async", False)
        self.pipe.add(self.mux)
        self.pipe.add(self.sink)
        self.mux.link(self.sink)
        # The pipeline never posts EOS (webrtcbin's own sinks do not end), so
        # the end of the file is seen on the filesink's pad: webmmux sends EOS
        # after it wrote the cues and patched the duration.
        self.sink.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_sink_event)
        self.bus = self.pipe.get_bus()
        self.depays = {}  # kind -> depayloader (its src is linked to the muxer)
        self.linked = []  # kinds whose webrtcbin pad reached a depayloader
        self.remote_set = False
        self.pending = []
        self.local_mids = []
        self.remote_mids = []
        self.started = False
        self.closed = False
        self.eos = False

    def _call(self, fn, *args):
        self.app.loop.call_soon_threadsafe(fn, *args)

    async def _promise(self, action, *args, field=None):
        fut = self.app.loop.create_future()

        def done(promise, *_):
            reply = promise.get_reply()
            error = sdp = None
            if reply is not None and reply.has_field("error"):
                error = reply.to_string()
            elif field is not None:
                desc = reply.get_value(field) if reply is not None and reply.has_field(field) else None
                sdp = desc.sdp.as_text() if desc is not None and desc.sdp is not None else None
                if sdp is None:
                    error = "no %s in the reply" % field
            self.app.loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result((error, sdp)))

        self.webrtc.emit(action, *args, Gst.Promise.new_with_change_func(done, None))
        error, sdp = await asyncio.wait_for(fut, 10)
        if error:
            raise RuntimeError("%s failed: %s" % (action, error))
        return sdp

    def _add_depay(self, kind):
        if kind in self.depays:
            return
        if kind == "video":
            depay = Gst.ElementFactory.make("rtp%sdepay" % self.app.args.video)
            depay.set_property("wait-for-keyframe", True)
            depay.set_property("request-keyframe", True)
        else:
            depay = Gst.ElementFactory.make("rtpopusdepay")
        chain = [depay]
        if kind == "audio":
            # rtpopusdepay's caps carry no rate, which webmmux requires; opusparse adds it.
            chain.append(Gst.ElementFactory.make("opusparse"))
        for element in chain:
            self.pipe.add(element)
        if len(chain) > 1 and not chain[0].link(chain[1]):
            raise RuntimeError("cannot link rtpopusdepay to opusparse")
        pad = self.mux.request_pad_simple("%s_%%u" % kind)
        if chain[-1].get_static_pad("src").link(pad) != Gst.PadLinkReturn.OK:
            raise RuntimeError("cannot link %s depayloader to webmmux" % kind)
        if self.started:
            for element in chain:
                element.sync_state_with_parent()
        self.depays[kind] = depay

    async def on_offer(self, sdp_text):
        res, msg = GstSdp.SDPMessage.new_from_text(sdp_text)
        if res != GstSdp.SDPResult.OK:
            raise RuntimeError("unparsable offer")
        media = wp.sdp_media_info(msg)
        self.remote_mids = [mid for _, _, _, mid, _ in media]
        for _index, kind, direction, _mid, codecs in media:
            if kind in ("audio", "video") and direction in ("sendrecv", "sendonly"):
                wanted = self.app.args.video.upper() if kind == "video" else "OPUS"
                if wanted not in codecs:
                    self.app.error("%s: %s m-line without %s" % (self.id, kind, wanted))
                    continue
                self._add_depay(kind)
        if not self.started:
            self.started = True
            if self.pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
                self.app.error("%s: pipeline refused PLAYING" % self.id)
        offer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, msg)
        self.remote_set = False
        await self._promise("set-remote-description", offer)
        self.remote_set = True
        for cand in self.pending:
            self._add_candidate(cand)
        self.pending = []
        text = await self._promise("create-answer", None, field="answer")
        _, amsg = GstSdp.SDPMessage.new_from_text(text)
        self.local_mids = [mid for _, _, _, mid, _ in wp.sdp_media_info(amsg)]
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, amsg)
        await self._promise("set-local-description", answer)
        await self.app.send({"type": "answer", "to": self.id, "sdp": text})

    def _on_ice_candidate(self, _webrtc, mlineindex, candidate):
        self._call(self._send_candidate, mlineindex, candidate)

    def _send_candidate(self, mlineindex, candidate):
        if self.closed:
            return
        cand = {"candidate": candidate, "sdpMLineIndex": mlineindex}
        if mlineindex < len(self.local_mids):
            cand["sdpMid"] = self.local_mids[mlineindex]
        self.app.spawn(self.app.send({"type": "candidate", "to": self.id, "candidate": cand}))

    def on_candidate(self, cand):
        if self.remote_set:
            self._add_candidate(cand)
        else:
            self.pending.append(cand)

    def _add_candidate(self, cand):
        text = (cand or {}).get("candidate") or ""
        if not text:
            return
        index = cand.get("sdpMLineIndex")
        if index is None:
            mid = cand.get("sdpMid")
            index = self.remote_mids.index(mid) if mid in self.remote_mids else 0
        if not text.startswith("candidate:"):
            text = "candidate:" + text
        self.webrtc.emit("add-ice-candidate", int(index), text)

    def _on_pad_added(self, _webrtc, pad):
        # Called on a streaming thread, before the first buffer leaves the pad.
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps()
        enc = caps.get_structure(0).get_string("encoding-name") if caps else None
        kind = {self.app.args.video.upper(): "video", "OPUS": "audio"}.get((enc or "").upper())
        depay = self.depays.get(kind)
        if depay is None or pad.link(depay.get_static_pad("sink")) != Gst.PadLinkReturn.OK:
            self._call(self.app.error, "%s: cannot record stream %s (%s)" % (self.id, pad.get_name(), enc))
            sink = Gst.ElementFactory.make("fakesink")
            self.pipe.add(sink)
            sink.sync_state_with_parent()
            pad.link(sink.get_static_pad("sink"))
            return
        self.linked.append(kind)
        self._call(log, "%s: recording %s" % (self.id, kind))

    def _on_sink_event(self, _pad, info):
        if info.get_event().type == Gst.EventType.EOS:
            self.eos = True
        return Gst.PadProbeReturn.OK

    def poll_bus(self):
        while True:
            msg = self.bus.pop_filtered(Gst.MessageType.ERROR)
            if msg is None:
                return
            err, dbg = msg.parse_error()
            self.app.error("%s: %s: %s (%s)" % (self.id, msg.src.get_name(), err.message, dbg))

    async def finish(self, timeout=5.0):
        """EOS into every depayloader, wait for the file's EOS, then tear down."""
        if self.closed:
            return
        self.closed = True
        for depay in self.depays.values():
            depay.get_static_pad("sink").send_event(Gst.Event.new_eos())
        deadline = time.monotonic() + timeout
        while not self.eos and time.monotonic() < deadline:
            self.poll_bus()
            await asyncio.sleep(0.05)
        if not self.eos:
            self.app.error("%s: no EOS from the file within %.0f s" % (self.id, timeout))
        # NULL closes (and flushes) the file.
        self.pipe.set_state(Gst.State.NULL)

    def summary(self):
        return {"member": self.id, "name": self.name, "path": self.path, "eos": self.eos, "linked": sorted(self.linked)}


class App:
    def __init__(self, args):
        self.args = args
        self.loop = asyncio.get_running_loop()
        self.ws = None
        self.peers = {}
        self.names = {}
        self.errors = []
        self.tasks = set()
        self.stop = asyncio.Event()
        self.local_addresses = wp.choose_local_addresses([])

    def error(self, text):
        log("ERROR", text)
        self.errors.append(text)

    def spawn(self, coro):
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def send(self, obj):
        try:
            await self.ws.send(json.dumps(obj))
        except Exception as e:  # noqa: BLE001
            self.error("send %s failed: %s" % (obj.get("type"), e))

    def peer_for(self, member_id):
        peer = self.peers.get(member_id)
        if peer is None:
            peer = RecPeer(self, member_id, self.names.get(member_id, ""))
            self.peers[member_id] = peer
        return peer

    async def answer(self, member_id, sdp):
        try:
            await self.peer_for(member_id).on_offer(sdp)
        except Exception as e:  # noqa: BLE001
            self.error("%s: answering failed: %s" % (member_id, e))

    async def handle(self, msg):
        kind = msg.get("type")
        if kind == "welcome":
            for member in msg.get("members") or []:
                self.names[member.get("id")] = member.get("name")
            sys.stdout.write("READY %s\n" % msg.get("id"))
            sys.stdout.flush()
        elif kind == "member-joined":
            member = msg.get("member") or {}
            self.names[member.get("id")] = member.get("name")
        elif kind == "member-left":
            peer = self.peers.get(msg.get("id"))
            if peer is not None:
                self.spawn(peer.finish())
        elif kind == "offer":
            self.spawn(self.answer(msg["from"], msg["sdp"]))
        elif kind == "candidate":
            self.peer_for(msg["from"]).on_candidate(msg.get("candidate"))
        elif kind == "error":
            self.error("server error %s: %s" % (msg.get("code"), msg.get("message")))

    async def reader(self):
        try:
            async for raw in self.ws:
                await self.handle(json.loads(raw))
        except websockets.ConnectionClosed as e:
            log("signalling closed: %s" % e)
        self.stop.set()

    async def ticker(self):
        n = 0
        while not self.stop.is_set():
            await asyncio.sleep(0.2)
            n += 1
            for peer in list(self.peers.values()):
                if not peer.closed:
                    peer.poll_bus()
            if n % 50 == 0:
                self.spawn(self.send({"type": "ping", "id": n}))

    async def run(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, self.stop.set)
        self.ws = await websockets.connect(self.args.ws, max_size=4 * 1024 * 1024, ping_interval=None)
        await self.send({"type": "join", "room": self.args.room, "name": self.args.name})
        reader = self.loop.create_task(self.reader())
        ticker = self.loop.create_task(self.ticker())
        await self.stop.wait()
        await asyncio.gather(*(peer.finish() for peer in self.peers.values()))
        try:
            await asyncio.wait_for(self.send({"type": "leave"}), 2)
            await asyncio.wait_for(self.ws.close(), 2)
        except Exception:  # noqa: BLE001
            pass
        for task in (reader, ticker, *self.tasks):
            task.cancel()
        return {"files": [p.summary() for p in self.peers.values()], "errors": self.errors}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ws", required=True)
    p.add_argument("--room", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--name", default="recorder")
    p.add_argument("--video", default="vp8", choices=["vp8", "vp9", "av1"],
                   help="the senders' video codec (av1 needs rtpav1depay, not in GStreamer 1.22)")
    p.add_argument("--latency-ms", dest="latency_ms", type=int, default=200)
    args = p.parse_args()
    wp.NAME = args.name
    Gst.init(None)
    os.makedirs(args.out, exist_ok=True)

    async def runner():
        return await App(args).run()

    result = asyncio.run(runner())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
