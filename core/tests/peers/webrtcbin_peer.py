#!/usr/bin/python3
"""A GStreamer webrtcbin member of an rtcgate room, for interop tests.

It joins a room of rtcgate's embedded room protocol (WebSocket + JSON, see
core/src/signalling/protocol.rs and docs/signalling.md) and, for every other
member, runs one webrtcbin. By default it is the ANSWERER: it waits for the
member's offer, sends a live VP8 + Opus test pattern on the offered m-lines,
decodes what it receives, echoes data-channel messages ("echo:x" -> "echoed:x"),
and after --duration seconds prints ONE JSON line on stdout:

  {"ok": true, "video_frames_decoded": 290, "audio_buffers_decoded": 480,
   "members_seen": 1, "connection_state": "connected", "data_messages": ["echo:hi"],
   "errors": [], ...}

Exit status 0 iff a peer connection reached "connected" and, when a remote
offered to send video, at least one video frame was decoded. Logs go to stderr.
See docs/interop.md.

Run it with Debian's /usr/bin/python3 (python3-gi, gir1.2-gst-plugins-bad-1.0,
python3-websockets, gstreamer1.0-{plugins-base,good,bad,nice,libav}). ICE needs a
non-loopback interface: run it inside .ci/with-netns.
"""

import argparse
import asyncio
import ctypes
import fcntl
import json
import signal
import socket
import struct
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import Gst, GstSdp, GstWebRTC  # noqa: E402

try:  # gir1.2-nice-0.1: only needed for the veth/docker interface workaround
    gi.require_version("Nice", "0.1")
    from gi.repository import Nice  # noqa: E402
except (ValueError, ImportError):
    Nice = None

try:
    import websockets
except ImportError:  # pragma: no cover - environment problem, reported clearly
    sys.stderr.write("webrtcbin_peer: python3-websockets is missing (apt-get install python3-websockets)\n")
    sys.exit(2)

T0 = time.monotonic()
NAME = "peer"


def log(*parts):
    sys.stderr.write("[%7.3f %s] %s\n" % (time.monotonic() - T0, NAME, " ".join(str(p) for p in parts)))
    sys.stderr.flush()


# Sending branches. The payload type is filled in from the offer (answerer) or
# chosen by us (offerer). The test pattern moves so a receiver can tell frames apart.
VIDEO_SRC = (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 "
    "! timeoverlay ! videoconvert ! queue max-size-buffers=2 leaky=downstream "
    "! vp8enc deadline=1 cpu-used=8 threads=2 keyframe-max-dist=30 target-bitrate=500000 error-resilient=partitions "
    "! rtpvp8pay pt={pt} mtu=1200 picture-id-mode=15-bit "
    "! capsfilter caps=application/x-rtp,media=video,encoding-name=VP8,payload={pt},clock-rate=90000"
)
AUDIO_SRC = (
    "audiotestsrc is-live=true wave=sine freq=440 volume=0.2 samplesperbuffer=960 "
    "! audio/x-raw,rate=48000,channels=1 ! audioconvert ! audioresample ! queue max-size-buffers=4 leaky=downstream "
    "! opusenc bitrate=32000 frame-size=20 ! rtpopuspay pt={pt} "
    "! capsfilter caps=application/x-rtp,media=audio,encoding-name=OPUS,payload={pt},clock-rate=48000"
)
SEND_CAPS = {
    "video": "application/x-rtp,media=video,encoding-name=VP8,payload={pt},clock-rate=90000",
    "audio": "application/x-rtp,media=audio,encoding-name=OPUS,payload={pt},clock-rate=48000,encoding-params=(string)2",
}
SEND_CODEC = {"video": "VP8", "audio": "OPUS"}
OFFER_PT = {"video": 96, "audio": 111}

PC_STATES = {
    GstWebRTC.WebRTCPeerConnectionState.NEW: "new",
    GstWebRTC.WebRTCPeerConnectionState.CONNECTING: "connecting",
    GstWebRTC.WebRTCPeerConnectionState.CONNECTED: "connected",
    GstWebRTC.WebRTCPeerConnectionState.DISCONNECTED: "disconnected",
    GstWebRTC.WebRTCPeerConnectionState.FAILED: "failed",
    GstWebRTC.WebRTCPeerConnectionState.CLOSED: "closed",
}


# libnice (0.1.21 as built by Debian) skips interfaces whose names start with these
# prefixes when it discovers local addresses by itself, so inside .ci/with-netns
# (veth-a/veth-b) webrtcbin gathers no candidate at all. See local_ipv4_addresses().
NICE_IGNORED_PREFIXES = ("docker", "veth", "virbr", "vnet")


def local_ipv4_addresses():
    """[(interface, address)] of every up, non-loopback IPv4 interface."""
    out = []
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _index, name in socket.if_nameindex():
            req = struct.pack("256s", name.encode()[:15])
            try:
                flags = struct.unpack("H", fcntl.ioctl(s.fileno(), 0x8913, req)[16:18])[0]  # SIOCGIFFLAGS
                addr = socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24])  # SIOCGIFADDR
            except OSError:
                continue  # no IPv4 address
            if flags & 0x1 and not flags & 0x8:  # IFF_UP, not IFF_LOOPBACK
                out.append((name, addr))
    finally:
        s.close()
    return out


def choose_local_addresses(requested):
    """Addresses to hand to libnice explicitly, or [] to let it discover them."""
    if requested:
        return list(requested)
    found = local_ipv4_addresses()
    if any(name.startswith(NICE_IGNORED_PREFIXES) for name, _ in found):
        return [addr for _, addr in found]
    return []


def _hold_extra_ref(obj):
    """Adds one reference to a GObject that nothing will release.

    webrtcbin 1.22 keeps its ICE object with a floating reference; reading the
    `ice-agent` property makes PyGObject sink that reference and drop it when the
    Python wrapper dies, which frees the ICE object under webrtcbin (segfault).
    The extra reference stands in for webrtcbin's own."""
    ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
    ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = ctypes.pythonapi.PyCapsule_GetPointer(obj.__gpointer__, None)
    libgobject = ctypes.CDLL("libgobject-2.0.so.0")
    libgobject.g_object_ref.argtypes = [ctypes.c_void_p]
    libgobject.g_object_ref.restype = ctypes.c_void_p
    libgobject.g_object_ref(ptr)


def add_local_addresses(webrtc, addresses):
    """Tells webrtcbin's libnice agent which local addresses to gather on."""
    if not addresses:
        return None
    if Nice is None:
        return "gir1.2-nice-0.1 is missing: cannot give libnice the addresses %s (no candidates on veth/docker interfaces)" % addresses
    ice = webrtc.get_property("ice-agent")
    if ice.__grefcount__ == 1:
        _hold_extra_ref(ice)
    agent = ice.get_property("agent")
    if agent is None:
        return "webrtcbin's ICE object has no libnice agent"
    for text in addresses:
        addr = Nice.Address.new()
        if not addr.set_from_string(text) or not agent.add_local_address(addr):
            return "libnice refused local address %s" % text
    return None


def sdp_media_info(msg):
    """[(index, kind, direction, mid, {ENCODING: pt})] for every m-line of an SDP message."""
    out = []
    for i in range(msg.medias_len()):
        m = msg.get_media(i)
        direction, mid, codecs = "sendrecv", None, {}
        for j in range(m.attributes_len()):
            a = m.get_attribute(j)
            if a.key in ("sendrecv", "sendonly", "recvonly", "inactive"):
                direction = a.key
            elif a.key == "mid":
                mid = a.value
            elif a.key == "rtpmap" and a.value:
                pt, _, enc = a.value.partition(" ")
                name = enc.split("/")[0].upper()
                if pt.isdigit() and name not in codecs:
                    codecs[name] = int(pt)
        bundle_only = any(m.get_attribute(j).key == "bundle-only" for j in range(m.attributes_len()))
        if m.get_port() == 0 and not bundle_only:
            direction = "inactive"  # rejected m-line
        out.append((i, m.get_media(), direction, mid, codecs))
    return out


class Peer:
    """One webrtcbin (in its own pipeline) talking to one remote member."""

    def __init__(self, app, member_id, name):
        self.app = app
        self.id = member_id
        self.name = name
        self.pipe = Gst.Pipeline.new("peer-%s" % member_id)
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        self.pipe.add(self.webrtc)
        problem = add_local_addresses(self.webrtc, app.local_addresses)
        if problem:
            app.error("%s: %s" % (member_id, problem))
        self.webrtc.connect("on-ice-candidate", self._on_ice_candidate)
        self.webrtc.connect("pad-added", self._on_pad_added)
        self.webrtc.connect("on-data-channel", self._on_data_channel)
        self.webrtc.connect("notify::connection-state", self._on_state)
        self.webrtc.connect("notify::ice-connection-state", self._on_ice_state)
        self.webrtc.connect("notify::ice-gathering-state", self._on_gathering_state)
        self.bus = self.pipe.get_bus()  # no GLib main loop: polled from the asyncio ticker
        self.sending = {}  # mline index -> kind
        self.sink_pads = {}  # mline index -> webrtcbin sink pad we feed
        self.remote_set = False
        self.pending_candidates = []
        self.local_mids = []  # mid of each m-line of our last offer/answer
        self.remote_mids = []  # ... and of the remote's
        self.channels = []  # keep GstWebRTCDataChannel objects alive
        self.state = "new"
        self.ice_state = "new"
        self.connected = False
        self.connected_at = None
        self.video_frames = 0
        self.audio_buffers = 0
        self.video_expected = False
        self.negotiating = False
        self.queued_offers = []
        self.closed = False
        self.started = False
        self.sent_end_of_candidates = False
        self.rtp_fed = {}  # kind -> RTP packets our payloaders handed to webrtcbin

    # ---- helpers -------------------------------------------------------

    def _call(self, fn, *args):
        """Run fn(*args) on the asyncio thread (GStreamer signals come from its threads)."""
        self.app.loop.call_soon_threadsafe(fn, *args)

    async def _promise(self, action, *args, field=None):
        """Emit a webrtcbin action with a promise; returns the SDP text of `field` of the reply.

        The reply structure belongs to the promise and dies with it, so everything
        is taken out of it inside the callback (on webrtcbin's thread)."""
        fut = self.app.loop.create_future()

        def done(promise, *_):
            reply = promise.get_reply()
            error = sdp = None
            if reply is not None and reply.has_field("error"):
                error = reply.to_string()
            elif field is not None:
                desc = reply.get_value(field) if reply is not None and reply.has_field(field) else None
                if desc is None or desc.sdp is None:
                    error = "no %s in the reply" % field
                else:
                    sdp = desc.sdp.as_text()

            def resolve():
                if not fut.done():
                    fut.set_result((error, sdp))

            self.app.loop.call_soon_threadsafe(resolve)

        promise = Gst.Promise.new_with_change_func(done, None)
        self.webrtc.emit(action, *args, promise)
        try:
            error, sdp = await asyncio.wait_for(fut, 10)
        except asyncio.TimeoutError:
            raise RuntimeError("%s: no reply within 10 s" % action) from None
        if error:
            raise RuntimeError("%s failed: %s" % (action, error))
        return sdp

    def _start(self):
        if not self.started:
            self.started = True
            if self.pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
                self.app.error("%s: pipeline failed to go to PLAYING" % self.id)

    def _add_sender(self, index, kind, pt):
        desc = (VIDEO_SRC if kind == "video" else AUDIO_SRC).format(pt=pt)
        branch = Gst.parse_bin_from_description(desc, True)
        branch.set_name("send-%s-%d" % (kind, index))
        self.pipe.add(branch)
        templ = self.webrtc.get_pad_template("sink_%u")
        sinkpad = self.webrtc.request_pad(templ, "sink_%d" % index, None)
        if sinkpad is None:
            raise RuntimeError("webrtcbin refused pad sink_%d" % index)
        if branch.get_static_pad("src").link(sinkpad) != Gst.PadLinkReturn.OK:
            raise RuntimeError("could not link %s sender to sink_%d" % (kind, index))
        if self.started:
            branch.sync_state_with_parent()
        self.sending[index] = kind
        self.sink_pads[index] = sinkpad
        self.rtp_fed.setdefault(kind, 0)

        def fed(_pad, _info):
            self.rtp_fed[kind] += 1
            return Gst.PadProbeReturn.OK

        sinkpad.add_probe(Gst.PadProbeType.BUFFER, fed)
        log("%s: sending %s on m-line %d (pt %d)" % (self.id, kind, index, pt))

    async def _wait_for_caps(self, indexes, timeout=3.0):
        """Waits until our payloaders' caps (with their SSRC) reached webrtcbin's sink pads.

        webrtcbin writes `a=ssrc` lines for a sender only if it knows the SSRC from the
        pad's caps when it creates the offer/answer. A sender added just before (e.g. for
        an m-line that a re-offer added) would otherwise be announced without SSRC, and
        a remote that maps streams by SSRC (webrtc-rs for audio, whose offers carry no
        `sdes:mid` header extension there) drops its packets."""
        deadline = time.monotonic() + timeout
        for index in indexes:
            pad = self.sink_pads[index]
            while pad.get_current_caps() is None:
                if time.monotonic() > deadline:
                    self.app.error("%s: no caps on sink_%d after %.0f s; announcing it without SSRC" % (self.id, index, timeout))
                    return
                await asyncio.sleep(0.01)

    def _set_transceiver(self, index, kind, pt):
        """Pins the transceiver we feed to our codec and payload type, and to sendrecv.

        The transceiver is taken from the sink pad: `get-transceiver` takes the
        transceiver's position in webrtcbin's list, which is not the m-line index
        when the offer's m-lines are not in pad order (e.g. data channel first)."""
        pad = self.sink_pads.get(index)
        trans = pad.get_property("transceiver") if pad is not None else None
        if trans is None:
            self.app.error("%s: no transceiver for m-line %d" % (self.id, index))
            return
        trans.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDRECV)
        trans.set_property("codec-preferences", Gst.Caps.from_string(SEND_CAPS[kind].format(pt=pt)))

    # ---- answerer ------------------------------------------------------

    async def on_offer(self, sdp_text):
        if self.negotiating:
            self.queued_offers.append(sdp_text)
            return
        self.negotiating = True
        try:
            await self._answer(sdp_text)
        except Exception as e:  # noqa: BLE001 - reported in the JSON
            self.app.error("%s: answering failed: %s" % (self.id, e))
        finally:
            self.negotiating = False
        if self.queued_offers:
            await self.on_offer(self.queued_offers.pop(0))

    async def _answer(self, sdp_text):
        res, msg = GstSdp.SDPMessage.new_from_text(sdp_text)
        if res != GstSdp.SDPResult.OK:
            raise RuntimeError("unparsable offer SDP")
        media = sdp_media_info(msg)
        self.remote_mids = [mid for _, _, _, mid, _ in media]
        log("%s: offer m-lines %s" % (self.id, [(i, k, d, c) for i, k, d, _, c in media]))
        if self.app.args.verbose:
            log("%s: offer SDP:\n%s" % (self.id, sdp_text))
        plan = []  # (index, kind, pt) we send on
        for index, kind, direction, _mid, codecs in media:
            if kind == "video" and direction in ("sendrecv", "sendonly"):
                self.video_expected = True
            if kind not in SEND_CODEC:
                continue
            pt = codecs.get(SEND_CODEC[kind])
            if pt is None:
                self.app.error("%s: offer m-line %d (%s) has no %s" % (self.id, index, kind, SEND_CODEC[kind]))
                continue
            if self.app.args.send_media and direction in ("sendrecv", "recvonly") and index not in self.sending:
                self._add_sender(index, kind, pt)
            if index in self.sending:
                plan.append((index, kind, pt))
        # webrtcbin must be PLAYING before it will negotiate.
        self._start()
        await self._wait_for_caps([index for index, _, _ in plan])
        offer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, msg)
        # Candidates that arrive meanwhile belong to this offer (it may restart ICE): hold them.
        self.remote_set = False
        await self._promise("set-remote-description", offer)
        self.remote_set = True
        self._flush_candidates()
        for index, kind, pt in plan:
            self._set_transceiver(index, kind, pt)
        text = await self._promise("create-answer", None, field="answer")
        _, amsg = GstSdp.SDPMessage.new_from_text(text)
        self.local_mids = [mid for _, _, _, mid, _ in sdp_media_info(amsg)]
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, amsg)
        await self._promise("set-local-description", answer)
        log("%s: answer m-lines %s" % (self.id, [(i, k, d, c) for i, k, d, _, c in sdp_media_info(amsg)]))
        if self.app.args.verbose:
            log("%s: answer SDP:\n%s" % (self.id, text))
        await self.app.send({"type": "answer", "to": self.id, "sdp": text})

    # ---- offerer (development / answerer-side interop) ------------------

    async def offer(self):
        self.negotiating = True
        try:
            if self.app.args.send_media:
                self._add_sender(0, "video", OFFER_PT["video"])
                self._add_sender(1, "audio", OFFER_PT["audio"])
            self._start()
            await self._wait_for_caps(list(self.sending))
            for index, kind in self.sending.items():
                self._set_transceiver(index, kind, OFFER_PT[kind])
            if self.app.args.data_channel:
                ch = self.webrtc.emit("create-data-channel", "chat", None)
                if ch is None:
                    self.app.error("%s: create-data-channel failed" % self.id)
                else:
                    self._watch_channel(ch, opener=True)
            text = await self._promise("create-offer", None, field="offer")
            _, omsg = GstSdp.SDPMessage.new_from_text(text)
            self.local_mids = [mid for _, _, _, mid, _ in sdp_media_info(omsg)]
            offer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, omsg)
            await self._promise("set-local-description", offer)
            if self.app.args.verbose:
                log("%s: offer SDP:\n%s" % (self.id, text))
            await self.app.send({"type": "offer", "to": self.id, "sdp": text})
        except Exception as e:  # noqa: BLE001
            self.app.error("%s: offering failed: %s" % (self.id, e))
            self.negotiating = False

    async def on_answer(self, sdp_text):
        if self.app.args.role != "offer":
            self.app.error("%s: unexpected answer (this peer only answers)" % self.id)
            return
        res, msg = GstSdp.SDPMessage.new_from_text(sdp_text)
        media = sdp_media_info(msg)
        self.remote_mids = [mid for _, _, _, mid, _ in media]
        if any(k == "video" and d in ("sendrecv", "sendonly") for _, k, d, _, _ in media):
            self.video_expected = True
        log("%s: answer m-lines %s" % (self.id, [(i, k, d, c) for i, k, d, _, c in media]))
        if self.app.args.verbose:
            log("%s: answer SDP:\n%s" % (self.id, sdp_text))
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        try:
            await self._promise("set-remote-description", answer)
        except Exception as e:  # noqa: BLE001
            self.app.error("%s: applying answer failed: %s" % (self.id, e))
            return
        finally:
            self.negotiating = False
        self.remote_set = True
        self._flush_candidates()

    # ---- ICE -------------------------------------------------------------

    def _on_ice_candidate(self, _webrtc, mlineindex, candidate):
        self._call(self._send_candidate, mlineindex, candidate)

    def _local_mid(self, mlineindex):
        # From our own SDP text: reading webrtcbin's "local-description" property
        # from Python crashed (1.22 + PyGObject 3.42), so descriptions are never read back.
        return self.local_mids[mlineindex] if mlineindex < len(self.local_mids) else None

    def _send_candidate(self, mlineindex, candidate):
        if self.closed:
            return
        cand = {"candidate": candidate, "sdpMLineIndex": mlineindex}
        mid = self._local_mid(mlineindex)
        if mid is not None:
            cand["sdpMid"] = mid
        self.app.spawn(self.app.send({"type": "candidate", "to": self.id, "candidate": cand}))

    def on_candidate(self, cand):
        if not isinstance(cand, dict):
            self.app.error("%s: malformed candidate %r" % (self.id, cand))
            return
        if self.remote_set:
            self._add_candidate(cand)
        else:
            self.pending_candidates.append(cand)

    def _flush_candidates(self):
        pending, self.pending_candidates = self.pending_candidates, []
        for cand in pending:
            self._add_candidate(cand)

    def _add_candidate(self, cand):
        text = cand.get("candidate") or ""
        if not text:
            return  # end of candidates: webrtcbin 1.22 needs nothing
        index = cand.get("sdpMLineIndex")
        if index is None:
            index = self._remote_index_for_mid(cand.get("sdpMid"))
        if not text.startswith("candidate:"):
            text = "candidate:" + text
        self.webrtc.emit("add-ice-candidate", int(index or 0), text)

    def _remote_index_for_mid(self, mid):
        if mid is not None and mid in self.remote_mids:
            return self.remote_mids.index(mid)
        return 0

    def _on_gathering_state(self, webrtc, _pspec):
        state = webrtc.get_property("ice-gathering-state")
        log("%s: ice gathering %s" % (self.id, state.value_nick))
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE and self.app.args.end_of_candidates:
            self._call(self._send_end_of_candidates)

    def _send_end_of_candidates(self):
        if not self.sent_end_of_candidates and not self.closed:
            self.sent_end_of_candidates = True
            cand = {"candidate": "", "sdpMLineIndex": 0}
            mid = self._local_mid(0)
            if mid is not None:
                cand["sdpMid"] = mid
            self.app.spawn(self.app.send({"type": "candidate", "to": self.id, "candidate": cand}))

    # ---- state -----------------------------------------------------------

    def _on_state(self, webrtc, _pspec):
        state = PC_STATES.get(webrtc.get_property("connection-state"), "unknown")
        self._call(self._set_state, state)

    def _set_state(self, state):
        if state == self.state:
            return
        self.state = state
        log("%s: connection %s" % (self.id, state))
        if state == "connected" and not self.connected:
            self.connected = True
            self.connected_at = time.monotonic()
            self.app.on_connected(self)

    def _on_ice_state(self, webrtc, _pspec):
        state = webrtc.get_property("ice-connection-state").value_nick
        if state != self.ice_state:
            self.ice_state = state
            log("%s: ice %s" % (self.id, state))

    # ---- receiving -------------------------------------------------------

    def _on_pad_added(self, _webrtc, pad):
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps()
        log("%s: incoming stream %s %s" % (self.id, pad.get_name(), caps.to_string() if caps else "?"))
        decodebin = Gst.ElementFactory.make("decodebin")
        decodebin.connect("pad-added", self._on_decoded_pad)
        decodebin.connect("deep-element-added", self._on_decoder_element)
        self.pipe.add(decodebin)
        decodebin.sync_state_with_parent()
        if pad.link(decodebin.get_static_pad("sink")) != Gst.PadLinkReturn.OK:
            self.app.error("%s: could not link %s to decodebin" % (self.id, pad.get_name()))

    @staticmethod
    def _on_decoder_element(_bin, _sub_bin, element):
        # Depayloaders: drop data until a keyframe and ask for one (RTCP PLI) when
        # the stream starts mid-GOP or loses packets, instead of decoding garbage.
        props = {p.name for p in element.list_properties()}
        for name in ("request-keyframe", "wait-for-keyframe"):
            if name in props:
                element.set_property(name, True)

    def _on_decoded_pad(self, _decodebin, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        name = caps.get_structure(0).get_name() if caps and caps.get_size() else ""
        kind = "video" if name.startswith("video/") else "audio" if name.startswith("audio/") else None
        log("%s: decoding %s" % (self.id, caps.to_string() if caps else "?"))
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("sync", False)
        sink.set_property("async", False)
        self.pipe.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))

        def count(_pad, info):
            if kind == "video":
                if self.video_frames == 0:
                    self._call(log, "%s: first video frame decoded" % self.id)
                self.video_frames += 1
            elif kind == "audio":
                if self.audio_buffers == 0:
                    self._call(log, "%s: first audio buffer decoded" % self.id)
                self.audio_buffers += 1
            return Gst.PadProbeReturn.OK

        pad.add_probe(Gst.PadProbeType.BUFFER, count)

    # ---- data channels ---------------------------------------------------

    def _on_data_channel(self, _webrtc, channel):
        # Connect the handlers right here, on webrtcbin's thread: a message that
        # arrives before they are connected is dropped, and the remote may send
        # as soon as its channel opens.
        self._watch_channel(channel, False)

    def _watch_channel(self, channel, opener):
        self.channels.append(channel)
        label = channel.get_property("label")
        self._call(log, "%s: data channel %r (%s)" % (self.id, label, "ours" if opener else "theirs"))
        channel.connect("on-message-string", lambda ch, text: self._call(self._on_message, ch, text))
        channel.connect("on-message-data", lambda ch, data: self._call(self._on_message, ch, data))
        channel.connect("on-error", lambda ch, err: self._call(self.app.error, "%s: data channel %r error: %s" % (self.id, label, err)))
        if opener:
            channel.connect("on-open", lambda ch: self._call(self._on_open, ch))

    def _on_open(self, channel):
        log("%s: data channel %r open" % (self.id, channel.get_property("label")))
        channel.emit("send-string", "echo:hello from %s" % self.app.args.name)

    def _on_message(self, channel, message):
        if isinstance(message, str):
            text = message
        else:
            data = message.get_data() if hasattr(message, "get_data") else bytes(message)
            text = "<%d bytes>" % len(data)
        log("%s: data message %r" % (self.id, text))
        self.app.data_messages.append(text)
        if isinstance(message, str) and message.startswith("echo:"):
            channel.emit("send-string", "echoed:" + message[len("echo:"):])

    # ---- teardown --------------------------------------------------------

    def poll_bus(self, teardown=False):
        while True:
            msg = self.bus.pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.WARNING)
            if msg is None:
                return
            if msg.type == Gst.MessageType.ERROR and teardown:
                # e.g. sctpenc "Could not write to resource" once the remote closed the association
                err, _dbg = msg.parse_error()
                log("%s: (teardown) %s: %s" % (self.id, msg.src.get_name(), err.message))
            elif msg.type == Gst.MessageType.ERROR:
                err, dbg = msg.parse_error()
                self.app.error("%s: %s: %s (%s)" % (self.id, msg.src.get_name(), err.message, dbg))
            else:
                err, dbg = msg.parse_warning()
                log("%s: warning from %s: %s" % (self.id, msg.src.get_name(), err.message))

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self.app.args.verbose:
            for index, pad in sorted(self.sink_pads.items()):
                caps = pad.get_current_caps()
                log("%s: sink_%d caps at close: %s" % (self.id, index, caps.to_string() if caps else None))
        self.state = PC_STATES.get(self.webrtc.get_property("connection-state"), self.state)
        for ch in self.channels:
            try:
                ch.emit("close")
            except Exception:  # noqa: BLE001
                pass
        self.poll_bus(teardown=True)
        self.pipe.set_state(Gst.State.NULL)
        log("%s: closed" % self.id)


class App:
    def __init__(self, args):
        self.args = args
        self.loop = asyncio.get_running_loop()
        self.ws = None
        self.self_id = None
        self.peers = {}
        self.members = {}
        self.members_seen = set()
        self.errors = []
        self.data_messages = []
        self.stop = asyncio.Event()
        self.tasks = set()
        self.first_connected_at = None
        self.local_addresses = choose_local_addresses(args.local_address)
        if self.local_addresses:
            log("ICE local addresses given to libnice: %s" % ", ".join(self.local_addresses))

    def error(self, text):
        log("ERROR", text)
        self.errors.append(text)

    def spawn(self, coro):
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def send(self, obj):
        if self.ws is None:
            return
        try:
            await self.ws.send(json.dumps(obj))
        except Exception as e:  # noqa: BLE001
            self.error("send %s failed: %s" % (obj.get("type"), e))

    def on_connected(self, peer):
        if self.first_connected_at is None:
            self.first_connected_at = time.monotonic()
            log("first connection after %.3f s" % (self.first_connected_at - T0))

    def peer_for(self, member_id):
        peer = self.peers.get(member_id)
        if peer is None or peer.closed:
            name = self.members.get(member_id, "?")
            peer = Peer(self, member_id, name)
            self.peers[member_id] = peer
            self.members_seen.add(member_id)
        return peer

    def member_added(self, member, present_at_join):
        mid, name = member.get("id"), member.get("name")
        self.members[mid] = name
        self.members_seen.add(mid)
        log("member %s (%s)" % (mid, name))
        # --role offer: the newcomer offers, to the members already there; members
        # joining later are expected to offer to us (no glare between two of these).
        if self.args.role == "offer" and present_at_join:
            self.spawn(self.peer_for(mid).offer())

    def member_left(self, mid):
        log("member %s left" % mid)
        self.members.pop(mid, None)
        peer = self.peers.get(mid)
        if peer is not None:
            peer.close()
        if not any(not p.closed for p in self.peers.values()) and self.args.exit_when_alone:
            log("no remote member left; finishing")
            self.stop.set()

    async def handle(self, msg):
        kind = msg.get("type")
        if kind == "welcome":
            self.self_id = msg.get("id")
            log("joined room %r as %s; members %s" % (msg.get("room"), self.self_id, msg.get("members")))
            for member in msg.get("members") or []:
                self.member_added(member, True)
        elif kind == "member-joined":
            self.member_added(msg.get("member") or {}, False)
        elif kind == "member-left":
            self.member_left(msg.get("id"))
        elif kind == "offer":
            self.spawn(self.peer_for(msg["from"]).on_offer(msg["sdp"]))
        elif kind == "answer":
            peer = self.peers.get(msg["from"])
            if peer is None:
                self.error("answer from unknown member %s" % msg["from"])
            else:
                self.spawn(peer.on_answer(msg["sdp"]))
        elif kind == "candidate":
            self.peer_for(msg["from"]).on_candidate(msg.get("candidate"))
        elif kind == "pong":
            pass
        elif kind == "error":
            self.error("server error %s: %s%s" % (msg.get("code"), msg.get("message"), " (fatal)" if msg.get("fatal") else ""))
            if msg.get("fatal") or self.self_id is None:
                # Fatal, or the join itself was refused (wrong-token, room-full, ...).
                self.stop.set()
        else:
            log("ignoring message %r" % kind)

    async def reader(self):
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self.error("unexpected binary frame")
                    continue
                try:
                    msg = json.loads(raw)
                except ValueError:
                    self.error("malformed JSON from server: %r" % raw[:200])
                    continue
                await self.handle(msg)
        except websockets.ConnectionClosed as e:
            log("signalling connection closed: %s" % e)
        if not self.stop.is_set():
            if self.first_connected_at is None:
                self.error("signalling connection closed before any peer connected")
            self.stop.set()

    async def ticker(self):
        """Bus polling, timers, keepalive."""
        n = 0
        while not self.stop.is_set():
            await asyncio.sleep(0.1)
            n += 1
            for peer in list(self.peers.values()):
                if not peer.closed:
                    peer.poll_bus()
            now = time.monotonic()
            if self.first_connected_at is None:
                if self.args.timeout and now - T0 > self.args.timeout:
                    self.error("timed out after %.0f s without a connected peer" % self.args.timeout)
                    self.stop.set()
            elif self.args.duration and now - self.first_connected_at > self.args.duration:
                log("duration reached")
                self.stop.set()
            if n % 100 == 0:  # keepalive every 10 s
                self.spawn(self.send({"type": "ping", "id": n // 100}))

    def summary(self):
        peers = list(self.peers.values())
        video = sum(p.video_frames for p in peers)
        audio = sum(p.audio_buffers for p in peers)
        connected = any(p.connected for p in peers)
        video_expected = any(p.video_expected for p in peers)
        ok = connected and (video > 0 or not video_expected)
        # The state of the most relevant peer: a connected one if any.
        best = sorted(peers, key=lambda p: (p.connected, p.connected_at or 0))
        state = best[-1].state if best else "new"
        return {
            "ok": ok,
            "video_frames_decoded": video,
            "audio_buffers_decoded": audio,
            "members_seen": len(self.members_seen),
            "connection_state": state,
            "data_messages": list(self.data_messages),
            "errors": list(self.errors),
            "self_id": self.self_id,
            "role": self.args.role,
            "connected": connected,
            "video_expected": video_expected,
            "connect_seconds": round(self.first_connected_at - T0, 3) if self.first_connected_at else None,
            "peers": [
                {
                    "id": p.id,
                    "connection_state": p.state,
                    "connected": p.connected,
                    "video_frames_decoded": p.video_frames,
                    "audio_buffers_decoded": p.audio_buffers,
                    "sending": sorted(set(p.sending.values())),
                    "rtp_packets_fed": dict(p.rtp_fed),
                }
                for p in peers
            ],
        }

    async def run(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, lambda s=sig: (log("signal %d" % s), self.stop.set()))
        try:
            self.ws = await asyncio.wait_for(
                websockets.connect(self.args.ws, max_size=4 * 1024 * 1024, ping_interval=None), 10
            )
        except Exception as e:  # noqa: BLE001
            self.error("could not connect to %s: %s" % (self.args.ws, e))
            return
        join = {"type": "join", "room": self.args.room, "name": self.args.name}
        if self.args.token is not None:
            join["token"] = self.args.token
        await self.send(join)
        reader = self.loop.create_task(self.reader())
        ticker = self.loop.create_task(self.ticker())
        await self.stop.wait()
        # Take the counts before tearing down so they describe the call.
        for peer in self.peers.values():
            if not peer.closed:
                peer.state = PC_STATES.get(peer.webrtc.get_property("connection-state"), peer.state)
                peer.poll_bus()
        result = self.summary()
        try:
            await asyncio.wait_for(self.send({"type": "leave"}), 2)
            await asyncio.wait_for(self.ws.close(), 2)
        except Exception:  # noqa: BLE001
            pass
        for task in (reader, ticker, *self.tasks):
            task.cancel()
        return result

    def close_all(self):
        for peer in self.peers.values():
            peer.close()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ws", required=True, help="signalling URL, e.g. ws://127.0.0.1:8443/ws")
    p.add_argument("--room", required=True)
    p.add_argument("--name", default="gst")
    p.add_argument("--token", default=None, help="room token, if the room has one")
    p.add_argument("--duration", type=float, default=10.0,
                   help="seconds to keep the call up after the first peer connected (0: until the remote leaves)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="give up when no peer connected after this many seconds since start (0: never)")
    p.add_argument("--send-media", dest="send_media", action=argparse.BooleanOptionalAction, default=True,
                   help="send the VP8 + Opus test pattern (default: yes)")
    p.add_argument("--role", choices=("answer", "offer"), default="answer",
                   help="answer (default): only answer offers; offer: also offer to the members already in the room "
                   "when joining (to test an answerer)")
    p.add_argument("--data-channel", dest="data_channel", action=argparse.BooleanOptionalAction, default=True,
                   help="with --role offer: open a 'chat' data channel and send 'echo:hello from NAME' (default: yes)")
    p.add_argument("--end-of-candidates", dest="end_of_candidates", action=argparse.BooleanOptionalAction,
                   default=True, help="send an empty candidate when gathering completes (default: yes)")
    p.add_argument("--local-address", dest="local_address", action="append", default=[], metavar="IP",
                   help="gather ICE candidates on this address only (repeatable). Default: let libnice pick, "
                   "except when an interface is named veth*/docker*/virbr*/vnet* (which libnice ignores): "
                   "then every up non-loopback IPv4 address")
    p.add_argument("-v", "--verbose", action="store_true", help="also log every SDP and the SSRCs sent")
    p.add_argument("--exit-when-alone", dest="exit_when_alone", action=argparse.BooleanOptionalAction,
                   default=True, help="finish when the last remote member leaves (default: yes)")
    return p.parse_args(argv)


def main(argv=None):
    global NAME
    args = parse_args(argv)
    NAME = args.name
    Gst.init(None)
    if Gst.ElementFactory.find("webrtcbin") is None or Gst.ElementFactory.find("nicesrc") is None:
        sys.stdout.write(json.dumps({"ok": False, "video_frames_decoded": 0, "audio_buffers_decoded": 0,
                                     "members_seen": 0, "connection_state": "new", "data_messages": [],
                                     "errors": ["webrtcbin or libnice GStreamer elements are missing"]}) + "\n")
        return 2

    app_holder = {}

    async def runner():
        app = App(args)
        app_holder["app"] = app
        return await app.run()

    result = None
    try:
        result = asyncio.run(runner())
    except KeyboardInterrupt:
        pass
    except Exception as e:  # noqa: BLE001
        app = app_holder.get("app")
        if app is not None:
            app.error("internal error: %r" % e)
    finally:
        app = app_holder.get("app")
        if app is not None:
            if result is None:
                result = app.summary()
            app.close_all()
    if result is None:
        result = {"ok": False, "video_frames_decoded": 0, "audio_buffers_decoded": 0, "members_seen": 0,
                  "connection_state": "new", "data_messages": [], "errors": ["did not start"]}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
