//! [`RemoteTrack`]: a track another member sends, delivered as encoded frames.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::frame::{EncodedFrame, SenderClock};
use super::frame_assembler::{AssemblerStats, FrameAssembler};
use super::local_track::lock;
use super::rtp_tap::{RtpSink, Sinks, TappedPacket};
use super::stall_watch::{DEFAULT_STALL_BOUND, StallOutput, StallWatch};
use super::track_health::{FrameDrops, StallReport};
use super::track_layers::{ReceivedLayers, TrackLayer};
use crate::codec::{Codec, MediaKind};
use crate::error::{Error, Result};
use crate::rtp::encodings::Encoding;
use crate::rtp::packet_info::PacketInfo;
use crate::signalling::MemberId;

/// Frames buffered for a reader before the oldest are dropped.
const FRAME_QUEUE: usize = 256;
/// How long a missing packet is waited for (NACK retransmission) by default.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(200);
/// While a video track is stalled, a keyframe request goes out this often.
const STALL_KEYFRAME_INTERVAL: Duration = Duration::from_secs(1);
/// `max_spatial_layer` when every layer is kept.
const ALL_LAYERS: u8 = u8::MAX;

/// What a remote track tells its owner while it runs.
pub(crate) enum TrackNotice {
    /// Packets arrive but no usable frames (see [`StallReport`]).
    Stalled(StallReport),
}

/// A track received from another member: encoded frames reassembled from RTP.
///
/// Cheap to clone. Frames are read with [`recv`](Self::recv), or by any
/// number of independent readers through [`subscribe`](Self::subscribe). A
/// reader that falls more than a few seconds behind loses frames (the next
/// one it gets is marked as a discontinuity); it never holds up the others.
#[derive(Clone)]
pub struct RemoteTrack {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    stream_id: String,
    member: MemberId,
    codec: Codec,
    /// The codec as negotiated (MIME type, clock, format parameters).
    format: rtc::rtp_transceiver::rtp_sender::RTCRtpCodec,
    /// Header extensions the sender's connection negotiated (URI, id).
    header_extensions: Mutex<Vec<(String, u16)>>,
    ssrc: u32,
    track: Arc<dyn TrackRemote>,
    /// The queue [`RemoteTrack::recv`] reads; dropped (to save its memory)
    /// when another reader subscribes before `recv` was ever called, and
    /// made again by the first `recv`.
    frames: tokio::sync::Mutex<Option<mpsc::Receiver<EncodedFrame>>>,
    recv_used: std::sync::atomic::AtomicBool,
    subscribers: Mutex<Readers>,
    latency_ms: AtomicU64,
    max_spatial_layer: AtomicU8,
    /// The sender's clock mapped onto the frames' timestamps.
    sender_clock: Mutex<Option<SenderClock>>,
    stats: Mutex<AssemblerStats>,
    health: Mutex<Health>,
    /// The layers as the receive task last saw them, lowest first.
    layers: Mutex<Vec<TrackLayer>>,
    /// The encoding the frames come from (0: none yet).
    frame_source: AtomicU32,
    /// RTP sinks, and what a new one is told first.
    tap: Mutex<Tap>,
    /// `Tap::sinks.generation`, readable without the lock.
    tap_generation: AtomicU64,
    stop: tokio::sync::Notify,
}

/// The RTP sinks of a track and what a sink added later learns first.
#[derive(Default)]
struct Tap {
    sinks: Sinks,
    encodings: Vec<Encoding>,
    clocks: Vec<(u32, SenderClock)>,
    ended: bool,
}

struct Subscriber {
    tx: mpsc::Sender<EncodedFrame>,
    dropped: bool,
    /// The queue `recv` reads.
    default: bool,
}

/// What the pump last published about unusable frames.
#[derive(Default)]
struct Health {
    drops: FrameDrops,
    stalls: u64,
    stalled: bool,
    last_error: Option<String>,
}

/// Most video frames kept for late readers (about 10 s at 30 fps).
const MAX_CACHED_FRAMES: usize = 300;

/// The readers of a track, and for video the frames since the last keyframe,
/// which a new reader gets first so that it can start decoding at once.
struct Readers {
    list: Vec<Subscriber>,
    since_keyframe: Vec<EncodedFrame>,
    ended: bool,
}

/// An independent reader of a [`RemoteTrack`]'s frames (see [`RemoteTrack::subscribe`]).
#[derive(Debug)]
pub struct FrameSubscription {
    rx: mpsc::Receiver<EncodedFrame>,
}

impl FrameSubscription {
    /// The next frame; `None` once the track has ended and every frame was read.
    pub async fn recv(&mut self) -> Option<EncodedFrame> {
        self.rx.recv().await
    }
}

impl std::fmt::Debug for RemoteTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTrack")
            .field("id", &self.inner.id)
            .field("member", &self.inner.member)
            .field("codec", &self.inner.codec)
            .finish()
    }
}

impl RemoteTrack {
    /// Wraps a webrtc remote track and starts reassembling its frames.
    /// Returns `None` when the track's codec is not one rtcgate carries.
    pub(crate) async fn start(
        member: MemberId,
        track: Arc<dyn TrackRemote>,
        on_end: impl FnOnce(RemoteTrack) + Send + 'static,
        on_notice: impl Fn(TrackNotice) + Send + Sync + 'static,
    ) -> std::result::Result<RemoteTrack, String> {
        let ssrc = track.ssrcs().await.first().copied().unwrap_or_default();
        let format = track.codec(ssrc).await.unwrap_or_default();
        let mime = &format.mime_type;
        let codec =
            Codec::from_mime_type(mime).ok_or_else(|| format!("unsupported codec {mime:?}"))?;
        let (tx, rx) = mpsc::channel(FRAME_QUEUE);
        let remote = RemoteTrack {
            inner: Arc::new(Inner {
                id: track.track_id().await,
                stream_id: track.stream_id().await,
                member,
                codec,
                format,
                header_extensions: Mutex::new(Vec::new()),
                ssrc,
                track,
                frames: tokio::sync::Mutex::new(Some(rx)),
                recv_used: std::sync::atomic::AtomicBool::new(false),
                subscribers: Mutex::new(Readers {
                    list: vec![Subscriber {
                        tx,
                        dropped: false,
                        default: true,
                    }],
                    since_keyframe: Vec::new(),
                    ended: false,
                }),
                latency_ms: AtomicU64::new(DEFAULT_LATENCY.as_millis() as u64),
                max_spatial_layer: AtomicU8::new(ALL_LAYERS),
                sender_clock: Mutex::new(None),
                stats: Mutex::new(AssemblerStats::default()),
                health: Mutex::new(Health::default()),
                layers: Mutex::new(Vec::new()),
                frame_source: AtomicU32::new(0),
                tap: Mutex::new(Tap::default()),
                tap_generation: AtomicU64::new(0),
                stop: tokio::sync::Notify::new(),
            }),
        };
        let reader = remote.clone();
        tokio::spawn(async move {
            reader.pump(&on_notice).await;
            let mut readers = lock(&reader.inner.subscribers);
            readers.list.clear();
            readers.ended = true;
            drop(readers);
            let sinks = {
                let mut tap = lock(&reader.inner.tap);
                tap.ended = true;
                std::mem::take(&mut tap.sinks.list)
            };
            for sink in sinks {
                sink.on_end();
            }
            on_end(reader);
        });
        Ok(remote)
    }

    async fn pump(&self, on_notice: &(dyn Fn(TrackNotice) + Send + Sync)) {
        let codec = self.inner.codec;
        let mut assembler = FrameAssembler::new(codec, FrameAssembler::DEFAULT_WINDOW);
        let video = codec.kind() == MediaKind::Video;
        let mut watch = StallWatch::new(video, DEFAULT_STALL_BOUND, STALL_KEYFRAME_INTERVAL);
        let mut layers = ReceivedLayers::new(codec, self.inner.ssrc, Instant::now());
        self.publish_layers(&layers, Instant::now());
        // The receive task's own copy of the sinks, refreshed when the list changes.
        let mut sinks: Vec<Arc<dyn RtpSink>> = Vec::new();
        let mut sinks_generation = 0;
        loop {
            assembler.set_max_delay(Some(self.latency()));
            assembler.set_max_spatial_layer(self.max_spatial_layer());
            let deadline = [
                assembler.poll_timeout(),
                watch.poll_timeout(),
                layers.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let event = tokio::select! {
                event = self.inner.track.poll() => event,
                _ = self.inner.stop.notified() => None,
                _ = sleep_until(deadline) => {
                    let now = Instant::now();
                    if layers.handle_timeout(now) {
                        self.publish_layers(&layers, now);
                    }
                    self.request_layer_keyframes(&mut layers);
                    assembler.handle_timeout(now);
                    self.deliver(&mut assembler, &mut watch, now);
                    self.watch(&mut watch, &assembler, now, on_notice);
                    continue;
                }
            };
            let Some(event) = event else { break };
            match event {
                TrackRemoteEvent::OnRtpPacket(packet) => {
                    let now = Instant::now();
                    let generation = self.inner.tap_generation.load(Ordering::Acquire);
                    if generation != sinks_generation {
                        sinks = lock(&self.inner.tap).sinks.list.clone();
                        sinks_generation = generation;
                    }
                    let info = PacketInfo::read(codec, &packet.payload, packet.header.marker);
                    for sink in &sinks {
                        sink.on_packet(&TappedPacket {
                            packet: &packet,
                            info: &info,
                            arrival: now,
                        });
                    }
                    watch.on_packet(now);
                    let (changed, for_frames) = layers.on_packet(packet, &info, now);
                    if changed {
                        self.publish_layers(&layers, now);
                    }
                    self.request_layer_keyframes(&mut layers);
                    if let Some(packet) = for_frames {
                        assembler.push_at(packet, now);
                    }
                    self.deliver(&mut assembler, &mut watch, now);
                    self.watch(&mut watch, &assembler, now, on_notice);
                }
                TrackRemoteEvent::OnRtcpPacket(packets) => self.on_rtcp(&packets, &mut layers),
                TrackRemoteEvent::OnOpen(init) => {
                    let now = Instant::now();
                    if layers.on_open(init.ssrc, init.rid, now) {
                        self.publish_layers(&layers, now);
                    }
                    self.request_layer_keyframes(&mut layers);
                }
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
        assembler.flush();
        self.deliver(&mut assembler, &mut watch, Instant::now());
        tracing::debug!(track = %self.inner.id, member = %self.inner.member, "remote track ended");
    }

    /// Publishes the layers (for [`layers`](Self::layers) and the RTP sinks).
    fn publish_layers(&self, layers: &ReceivedLayers, now: Instant) {
        *lock(&self.inner.layers) = layers.layers();
        self.inner
            .frame_source
            .store(layers.frame_source().unwrap_or(0), Ordering::Relaxed);
        *lock(&self.inner.sender_clock) = layers.frame_clock();
        let mut tap = lock(&self.inner.tap);
        tap.encodings = layers.encodings().to_vec();
        for sink in &tap.sinks.list {
            sink.on_encodings(&tap.encodings, now);
        }
    }

    /// Asks for the keyframes the frames' layer switch waits for.
    fn request_layer_keyframes(&self, layers: &mut ReceivedLayers) {
        for ssrc in layers.keyframe_requests() {
            let track = self.clone();
            tokio::spawn(async move {
                if let Err(error) = track.request_keyframe_of(ssrc).await {
                    tracing::debug!(track = track.id(), %error, "keyframe request failed");
                }
            });
        }
        let source = layers.frame_source().unwrap_or(0);
        if self.inner.frame_source.swap(source, Ordering::Relaxed) != source {
            *lock(&self.inner.sender_clock) = layers.frame_clock();
        }
    }

    /// Runs the stall watch at `now`: keyframe requests, reports, counters.
    fn watch(
        &self,
        watch: &mut StallWatch,
        assembler: &FrameAssembler,
        now: Instant,
        on_notice: &(dyn Fn(TrackNotice) + Send + Sync),
    ) {
        watch.handle_timeout(now);
        let stats = assembler.stats();
        let drops = FrameDrops {
            depacketization: stats.depacketization_errors,
            incomplete: stats.incomplete_frames,
            waiting_for_keyframe: watch.waiting_drops,
        };
        while let Some(output) = watch.poll_output() {
            match output {
                StallOutput::RequestKeyframe => {
                    let track = self.clone();
                    tokio::spawn(async move {
                        if let Err(error) = track.request_keyframe().await {
                            tracing::debug!(track = track.id(), %error, "keyframe request failed");
                        }
                    });
                }
                StallOutput::Stalled { duration, packets } => {
                    let report = StallReport {
                        member: self.inner.member.clone(),
                        track_id: self.inner.id.clone(),
                        codec: self.inner.codec,
                        duration,
                        packets,
                        drops,
                        last_error: assembler.last_error().map(str::to_owned),
                    };
                    tracing::warn!("{report}");
                    on_notice(TrackNotice::Stalled(report));
                }
                StallOutput::Recovered { duration } => {
                    tracing::info!(track = %self.inner.id, member = %self.inner.member,
                        "usable frames again after {:.1} s", duration.as_secs_f64());
                }
            }
        }
        let mut health = lock(&self.inner.health);
        health.drops = drops;
        health.stalls = watch.stalls;
        health.stalled = watch.is_stalled();
        if let Some(error) = assembler.last_error()
            && health.last_error.as_deref() != Some(error)
        {
            health.last_error = Some(error.to_owned());
        }
    }

    /// Hands the assembler's finished frames to every reader.
    fn deliver(&self, assembler: &mut FrameAssembler, watch: &mut StallWatch, now: Instant) {
        let clock = *lock(&self.inner.sender_clock);
        let video = self.inner.codec.kind() == MediaKind::Video;
        let mut readers = lock(&self.inner.subscribers);
        while let Some(mut frame) = assembler.poll_frame() {
            watch.on_frame(&frame, now);
            frame.sender_clock = clock;
            if video {
                let cache = &mut readers.since_keyframe;
                if frame.keyframe {
                    cache.clear();
                    cache.push(frame.clone());
                } else if !cache.is_empty()
                    && !frame.discontinuity
                    && cache.len() < MAX_CACHED_FRAMES
                {
                    cache.push(frame.clone());
                } else {
                    cache.clear(); // no decodable start until the next keyframe
                }
            }
            readers.list.retain_mut(|sub| {
                let mut copy = frame.clone();
                copy.discontinuity |= sub.dropped;
                match sub.tx.try_send(copy) {
                    Ok(()) => {
                        sub.dropped = false;
                        true
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        sub.dropped = true;
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            });
        }
        *lock(&self.inner.stats) = assembler.stats();
    }

    fn on_rtcp(&self, packets: &[Box<dyn rtc::rtcp::Packet>], layers: &mut ReceivedLayers) {
        for packet in packets {
            let Some(report) = packet.as_any().downcast_ref::<SenderReport>() else {
                continue;
            };
            let clock = SenderClock {
                ntp_time: report.ntp_time,
                rtp_timestamp: report.rtp_time,
            };
            layers.on_sender_report(report.ssrc, clock);
            *lock(&self.inner.sender_clock) = layers.frame_clock();
            let mut tap = lock(&self.inner.tap);
            match tap.clocks.iter_mut().find(|(s, _)| *s == report.ssrc) {
                Some(entry) => entry.1 = clock,
                None => tap.clocks.push((report.ssrc, clock)),
            }
            for sink in &tap.sinks.list {
                sink.on_sender_report(report.ssrc, clock);
            }
        }
    }

    /// Adds a raw RTP sink ([`RtpSink`]): it first learns the encodings and
    /// their sender clocks, then gets every packet from now on, then the end.
    pub(crate) fn add_rtp_sink(&self, sink: Arc<dyn RtpSink>) {
        let mut tap = lock(&self.inner.tap);
        if tap.ended {
            drop(tap);
            sink.on_end();
            return;
        }
        sink.on_encodings(&tap.encodings, Instant::now());
        for &(ssrc, clock) in &tap.clocks {
            sink.on_sender_report(ssrc, clock);
        }
        tap.sinks.add(sink);
        self.inner
            .tap_generation
            .store(tap.sinks.generation, Ordering::Release);
    }

    /// Removes a sink added with [`add_rtp_sink`](Self::add_rtp_sink).
    pub(crate) fn remove_rtp_sink(&self, sink: &Arc<dyn RtpSink>) {
        let mut tap = lock(&self.inner.tap);
        tap.sinks.remove(sink);
        self.inner
            .tap_generation
            .store(tap.sinks.generation, Ordering::Release);
    }

    /// The codec as negotiated with the sender (format parameters included).
    pub(crate) fn format(&self) -> &rtc::rtp_transceiver::rtp_sender::RTCRtpCodec {
        &self.inner.format
    }

    /// The header extensions the sender's connection negotiated (URI, id).
    pub(crate) fn header_extensions(&self) -> Vec<(String, u16)> {
        lock(&self.inner.header_extensions).clone()
    }

    /// Records the negotiated header extensions (see [`header_extensions`](Self::header_extensions)).
    pub(crate) fn set_header_extensions(&self, extensions: Vec<(String, u16)>) {
        *lock(&self.inner.header_extensions) = extensions;
    }

    /// Whether two handles are the same track.
    pub(crate) fn same_as(&self, other: &RemoteTrack) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Ends the track: the reader gets the frames already queued, then `None`.
    pub(crate) fn stop(&self) {
        self.inner.stop.notify_one();
    }

    /// Track id (from the sender's `msid`).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Stream id (from the sender's `msid`).
    pub fn stream_id(&self) -> &str {
        &self.inner.stream_id
    }

    /// The member sending this track.
    pub fn member(&self) -> &MemberId {
        &self.inner.member
    }

    /// Codec of the frames.
    pub fn codec(&self) -> Codec {
        self.inner.codec
    }

    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        self.inner.codec.kind()
    }

    /// SSRC of the RTP stream (of its first encoding, when the sender uses
    /// simulcast: see [`layers`](Self::layers)).
    pub fn ssrc(&self) -> u32 {
        self.inner.ssrc
    }

    /// The track's layers: one per simulcast encoding the sender sends
    /// (with its rid), lowest first; a single one without simulcast.
    pub fn layers(&self) -> Vec<TrackLayer> {
        lock(&self.inner.layers).clone()
    }

    /// The layer the frames come from now. With simulcast that is the
    /// highest layer flowing: when it stops the frames go down a layer,
    /// when a higher one flows they go up, each time starting at a keyframe
    /// of the new layer, their timestamps continuing (docs/bridge.md).
    pub fn current_layer(&self) -> Option<TrackLayer> {
        let ssrc = self.inner.frame_source.load(Ordering::Relaxed);
        lock(&self.inner.layers)
            .iter()
            .find(|l| l.ssrc == ssrc)
            .cloned()
    }

    /// Reassembly counters (packets, losses, duplicates, frames, keyframes).
    pub fn stats(&self) -> AssemblerStats {
        *lock(&self.inner.stats)
    }

    /// Frames a decoder could not use so far, by cause. Those lost or not
    /// depacketized are missing from the frames delivered; those waiting
    /// for a keyframe are delivered (after one marked as a discontinuity).
    pub fn frame_drops(&self) -> FrameDrops {
        lock(&self.inner.health).drops
    }

    /// How many times the track stalled: packets arriving, no usable
    /// frame for about a second ([`CallEvent::TrackStalled`](crate::CallEvent::TrackStalled)).
    pub fn stalls(&self) -> u64 {
        lock(&self.inner.health).stalls
    }

    /// Whether the track is stalled now.
    pub fn is_stalled(&self) -> bool {
        lock(&self.inner.health).stalled
    }

    /// The latest depacketization error, if any.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.inner.health).last_error.clone()
    }

    /// Keeps the lowest `layers` spatial layers of a scalable VP9 or AV1
    /// stream in the frames delivered (`Some(1)`: the lowest resolution
    /// only); `None`, the default, keeps them all. Every reader of the track
    /// gets the same layers; other codecs ignore it.
    pub fn set_spatial_layers(&self, layers: Option<u8>) {
        let max = layers.map_or(ALL_LAYERS, |n| n.saturating_sub(1));
        self.inner.max_spatial_layer.store(max, Ordering::Relaxed);
    }

    /// How many spatial layers are kept (see [`set_spatial_layers`](Self::set_spatial_layers)).
    pub fn spatial_layers(&self) -> Option<u8> {
        self.max_spatial_layer().map(|max| max + 1)
    }

    fn max_spatial_layer(&self) -> Option<u8> {
        match self.inner.max_spatial_layer.load(Ordering::Relaxed) {
            ALL_LAYERS => None,
            layer => Some(layer),
        }
    }

    /// The next frame; `None` once the track has ended and every frame was read.
    pub async fn recv(&self) -> Option<EncodedFrame> {
        self.inner.recv_used.store(true, Ordering::Release);
        let mut frames = self.inner.frames.lock().await;
        if frames.is_none() {
            *frames = Some(self.add_reader(true));
        }
        frames.as_mut()?.recv().await
    }

    /// A new independent reader of the frames. For video it starts with the
    /// frames since the latest keyframe (when they are all still at hand),
    /// so it can decode at once; then every frame from now on.
    pub fn subscribe(&self) -> FrameSubscription {
        let rx = self.add_reader(false);
        // Nobody reads through `recv` (yet): stop filling its queue. `recv`
        // marks itself used before taking the lock, so it either keeps its
        // queue or finds it gone and makes a new one.
        if let Ok(mut frames) = self.inner.frames.try_lock()
            && !self.inner.recv_used.load(Ordering::Acquire)
        {
            lock(&self.inner.subscribers).list.retain(|s| !s.default);
            *frames = None;
        }
        FrameSubscription { rx }
    }

    fn add_reader(&self, default: bool) -> mpsc::Receiver<EncodedFrame> {
        let (tx, rx) = mpsc::channel(FRAME_QUEUE + MAX_CACHED_FRAMES);
        let mut readers = lock(&self.inner.subscribers);
        for frame in &readers.since_keyframe {
            let _ = tx.try_send(frame.clone());
        }
        if !readers.ended {
            readers.list.push(Subscriber {
                tx,
                dropped: false,
                default,
            });
        }
        rx
    }

    /// How long a missing packet is waited for before the frames after it
    /// are delivered without it (default 200 ms). Longer waits
    /// let more NACK retransmissions arrive; shorter ones deliver sooner.
    pub fn set_latency(&self, latency: Duration) {
        self.inner
            .latency_ms
            .store(latency.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    /// The current wait for missing packets (see [`set_latency`](Self::set_latency)).
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.inner.latency_ms.load(Ordering::Relaxed))
    }

    /// The sender's clock mapping from its latest RTCP sender report.
    pub fn sender_clock(&self) -> Option<SenderClock> {
        *lock(&self.inner.sender_clock)
    }

    /// Asks the sender for a keyframe (RTCP PLI) of the layer the frames
    /// come from. Video only.
    pub async fn request_keyframe(&self) -> Result<()> {
        let ssrc = match self.inner.frame_source.load(Ordering::Relaxed) {
            0 => self.inner.ssrc,
            ssrc => ssrc,
        };
        self.request_keyframe_of(ssrc).await
    }

    /// Asks the sender for a keyframe of encoding `ssrc` (RTCP PLI).
    pub(crate) async fn request_keyframe_of(&self, ssrc: u32) -> Result<()> {
        if self.kind() != MediaKind::Video {
            return Err(Error::invalid_argument(
                "keyframes exist only for video tracks",
            ));
        }
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: ssrc,
        };
        self.inner
            .track
            .write_rtcp(vec![Box::new(pli)])
            .await
            .map_err(Error::webrtc)
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}
