//! Reassembles encoded frames from RTP packets: reordering within a window,
//! de-duplication, loss detection and depacketization. Sans-I/O: packets and
//! the time they arrived in, frames out, no clocks or sockets.
//!
//! A missing packet is waited for until either `window` later packets are
//! buffered or its successor has waited `max_delay` (the time a NACK
//! retransmission gets), whichever comes first.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::{av1::Av1Depacketizer, h264::H264Packet, opus::OpusPacket, vp8::Vp8Packet};
use rtc::rtp::packet::Packet;
use rtc::rtp::packetizer::Depacketizer;

use super::frame::EncodedFrame;
use super::keyframe::is_keyframe;
use super::vp9::Vp9Depacketizer;
use crate::codec::{Codec, MediaKind};

/// Counters of the frame reassembly of one remote stream ([`RemoteTrack::stats`](crate::RemoteTrack::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Packets accepted (not counting duplicates).
    pub packets: u64,
    /// Packets seen twice (retransmissions, probing) and dropped.
    pub duplicates: u64,
    /// Packets never received before the reorder window gave up on them.
    pub lost: u64,
    /// Packets dropped because they could not be depacketized or started mid-frame.
    pub discarded: u64,
    /// Frames dropped because a packet of theirs could not be depacketized
    /// (malformed or unexpected payload; the last one is in the warning a stalled track logs).
    pub depacketization_errors: u64,
    /// Frames dropped because packets of theirs were lost (or the stream
    /// was joined in the middle of them).
    pub incomplete_frames: u64,
    /// Frames produced.
    pub frames: u64,
    /// Keyframes produced.
    pub keyframes: u64,
    /// Payload bytes of the frames produced.
    pub bytes: u64,
}

struct PartialFrame {
    rtp_timestamp: u32,
    received_at: Instant,
}

/// The codec-specific part: payloads of one frame in, the frame out.
enum Payloads {
    /// rtc-rtp's depacketizer, whose pieces are joined here.
    Rtc {
        depacketizer: Box<dyn Depacketizer + Send>,
        data: BytesMut,
    },
    /// rtcgate's own (`media::vp9`): layer frames into superframes.
    Vp9(Vp9Depacketizer),
}

impl Payloads {
    fn new(codec: Codec) -> Self {
        let depacketizer: Box<dyn Depacketizer + Send> = match codec {
            Codec::Opus => Box::<OpusPacket>::default(),
            Codec::Vp8 => Box::<Vp8Packet>::default(),
            Codec::Vp9 => return Payloads::Vp9(Vp9Depacketizer::default()),
            Codec::H264 => Box::<H264Packet>::default(),
            Codec::Av1 => Box::new(Av1Depacketizer::new()),
        };
        Payloads::Rtc {
            depacketizer,
            data: BytesMut::new(),
        }
    }

    fn is_head(&self, payload: &Bytes) -> bool {
        match self {
            Payloads::Rtc { depacketizer, .. } => depacketizer.is_partition_head(payload),
            Payloads::Vp9(_) => Vp9Depacketizer::is_frame_start(payload),
        }
    }

    fn is_tail(&self, marker: bool, payload: &Bytes) -> bool {
        match self {
            Payloads::Rtc { depacketizer, .. } => depacketizer.is_partition_tail(marker, payload),
            // RFC 9628: the marker bit ends the picture (all its layers).
            Payloads::Vp9(_) => marker,
        }
    }

    fn push(&mut self, payload: &Bytes) -> Result<(), String> {
        match self {
            Payloads::Rtc { depacketizer, data } => {
                let piece = depacketizer
                    .depacketize(payload)
                    .map_err(|e| e.to_string())?;
                data.extend_from_slice(&piece);
                Ok(())
            }
            Payloads::Vp9(vp9) => vp9.push(payload).map_err(|e| e.to_string()),
        }
    }

    /// The frame the payloads so far make (`None`: nothing to show for them).
    fn finish(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            Payloads::Rtc { data, .. } => {
                let data = std::mem::take(data);
                Ok((!data.is_empty()).then(|| data.freeze()))
            }
            Payloads::Vp9(vp9) => vp9.finish().map_err(|e| e.to_string()),
        }
    }

    /// Forgets the frame in progress.
    fn reset(&mut self, codec: Codec) {
        match self {
            Payloads::Rtc { .. } => *self = Payloads::new(codec),
            Payloads::Vp9(vp9) => vp9.reset(),
        }
    }
}

/// Turns the RTP packets of one stream into [`EncodedFrame`]s, in order.
pub struct FrameAssembler {
    codec: Codec,
    payloads: Payloads,
    max_spatial_layer: Option<u8>,
    last_error: Option<String>,
    window: usize,
    max_delay: Option<Duration>,
    buffer: BTreeMap<u64, (Packet, Instant)>,
    highest: Option<u64>,
    next: Option<u64>,
    current: Option<PartialFrame>,
    /// RTP timestamp of the latest frame dropped, so that its other packets
    /// do not count as more dropped frames.
    dropped_timestamp: Option<u32>,
    discontinuity: bool,
    first_timestamp: Option<u32>,
    last_timestamp: u32,
    timestamp_base: u64,
    out: VecDeque<EncodedFrame>,
    stats: AssemblerStats,
}

impl FrameAssembler {
    /// Default number of packets held back waiting for a missing one.
    pub const DEFAULT_WINDOW: usize = 64;

    /// A new assembler for `codec` that waits for at most `window` packets
    /// past a gap before declaring the missing packets lost.
    pub fn new(codec: Codec, window: usize) -> Self {
        Self {
            codec,
            payloads: Payloads::new(codec),
            max_spatial_layer: None,
            last_error: None,
            window: window.max(1),
            max_delay: None,
            buffer: BTreeMap::new(),
            highest: None,
            next: None,
            current: None,
            dropped_timestamp: None,
            discontinuity: false,
            first_timestamp: None,
            last_timestamp: 0,
            timestamp_base: 0,
            out: VecDeque::new(),
            stats: AssemblerStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }

    /// The latest depacketization error, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Keeps VP9 and AV1 spatial layers up to `layer` (0 = the lowest);
    /// `None`, the default, keeps them all. Other codecs ignore it.
    pub fn set_max_spatial_layer(&mut self, layer: Option<u8>) {
        self.max_spatial_layer = layer;
        if let Payloads::Vp9(vp9) = &mut self.payloads {
            vp9.set_max_spatial_layer(layer);
        }
    }

    /// Also gives up on a missing packet once the packet after it has waited
    /// `max_delay` (`None`: only the packet-count window applies).
    pub fn set_max_delay(&mut self, max_delay: Option<Duration>) {
        self.max_delay = max_delay;
    }

    /// Feeds one RTP packet that arrived now.
    #[cfg(test)]
    pub fn push(&mut self, packet: Packet) {
        self.push_at(packet, Instant::now());
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run: the
    /// moment the oldest wait for a missing packet runs out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let max_delay = self.max_delay?;
        let (_, (_, arrived)) = self.buffer.first_key_value()?;
        Some(*arrived + max_delay)
    }

    /// Gives up on missing packets whose wait has run out at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.poll_timeout().is_some_and(|deadline| deadline <= now) {
            self.skip_gap();
        }
    }

    /// Feeds one RTP packet that arrived at `now`.
    pub fn push_at(&mut self, packet: Packet, now: Instant) {
        let seq = self.extend(packet.header.sequence_number);
        if self.next.is_some_and(|next| seq < next) || self.buffer.contains_key(&seq) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.packets += 1;
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        self.next.get_or_insert(seq);
        self.buffer.insert(seq, (packet, now));
        self.drain();
        if self.buffer.len() > self.window {
            self.skip_gap();
        }
    }

    /// Gives up on every missing packet and releases what is buffered.
    pub fn flush(&mut self) {
        while !self.buffer.is_empty() {
            self.skip_gap();
        }
    }

    /// The next complete frame, if any.
    pub fn poll_frame(&mut self) -> Option<EncodedFrame> {
        self.out.pop_front()
    }

    fn extend(&self, seq: u16) -> u64 {
        let Some(highest) = self.highest else {
            // Start high so that packets just before the first one do not underflow.
            return (1 << 32) + u64::from(seq);
        };
        let delta = seq.wrapping_sub(highest as u16) as i16;
        (highest as i64 + i64::from(delta)) as u64
    }

    fn drain(&mut self) {
        while let Some(next) = self.next {
            let Some((packet, arrived)) = self.buffer.remove(&next) else {
                break;
            };
            self.next = Some(next + 1);
            self.process(packet, arrived);
        }
    }

    fn skip_gap(&mut self) {
        let (Some(next), Some((&first, _))) = (self.next, self.buffer.first_key_value()) else {
            return;
        };
        self.stats.lost += first - next;
        self.next = Some(first);
        self.abandon_frame();
        self.drain();
    }

    /// Drops the frame in progress because packets of it were lost.
    fn abandon_frame(&mut self) {
        if let Some(frame) = self.current.take() {
            self.stats.discarded += 1;
            self.stats.incomplete_frames += 1;
            self.dropped_timestamp = Some(frame.rtp_timestamp);
        }
        self.payloads.reset(self.codec);
        self.discontinuity = true;
    }

    /// Drops the frame in progress because its packets could not be depacketized.
    fn reject_frame(&mut self, error: String) {
        if let Some(frame) = self.current.take() {
            self.dropped_timestamp = Some(frame.rtp_timestamp);
        }
        self.stats.depacketization_errors += 1;
        tracing::debug!(codec = %self.codec, %error, "frame dropped");
        self.last_error = Some(error);
        self.payloads.reset(self.codec);
        self.discontinuity = true;
    }

    fn process(&mut self, packet: Packet, arrived: Instant) {
        let payload = packet.payload;
        if payload.is_empty() {
            return; // padding
        }
        let timestamp = packet.header.timestamp;
        if self
            .current
            .as_ref()
            .is_some_and(|f| f.rtp_timestamp != timestamp)
        {
            self.finish_frame();
        }
        if self.current.is_none() {
            if !self.payloads.is_head(&payload) {
                // The start of this frame was lost (or came before we did).
                self.stats.discarded += 1;
                if self.dropped_timestamp != Some(timestamp) {
                    self.stats.incomplete_frames += 1;
                    self.dropped_timestamp = Some(timestamp);
                }
                self.discontinuity = true;
                return;
            }
            self.current = Some(PartialFrame {
                rtp_timestamp: timestamp,
                received_at: arrived,
            });
        }
        if let Err(error) = self.payloads.push(&payload) {
            self.stats.discarded += 1;
            self.reject_frame(error);
            return;
        }
        if let Some(frame) = self.current.as_mut() {
            frame.received_at = frame.received_at.max(arrived);
        }
        let ends_frame = match self.codec.kind() {
            MediaKind::Audio => true,
            MediaKind::Video => self.payloads.is_tail(packet.header.marker, &payload),
        };
        if ends_frame {
            self.finish_frame();
        }
    }

    fn finish_frame(&mut self) {
        let Some(frame) = self.current.take() else {
            return;
        };
        let data = match self.payloads.finish() {
            Ok(Some(data)) => data,
            Ok(None) => return,
            Err(error) => {
                self.current = Some(frame);
                self.reject_frame(error);
                return;
            }
        };
        let data = match (self.codec, self.max_spatial_layer) {
            (Codec::Av1, None) => with_temporal_delimiter(data),
            (Codec::Av1, Some(max)) => {
                with_temporal_delimiter(super::av1_layers::keep_spatial_layers(data, max))
            }
            _ => data,
        };
        let keyframe = is_keyframe(self.codec, &data);
        let timestamp = self.presentation_time(frame.rtp_timestamp);
        self.stats.frames += 1;
        self.stats.keyframes += u64::from(keyframe);
        self.stats.bytes += data.len() as u64;
        self.out.push_back(EncodedFrame {
            codec: self.codec,
            data,
            rtp_timestamp: frame.rtp_timestamp,
            timestamp,
            keyframe,
            discontinuity: std::mem::take(&mut self.discontinuity),
            received_at: frame.received_at,
            sender_clock: None,
        });
    }

    fn presentation_time(&mut self, rtp_timestamp: u32) -> Duration {
        let first = *self.first_timestamp.get_or_insert(rtp_timestamp);
        if self.stats.frames > 1 && rtp_timestamp < self.last_timestamp {
            let backwards = self.last_timestamp - rtp_timestamp;
            if backwards > u32::MAX / 2 {
                self.timestamp_base += 1 << 32; // rollover
            }
        }
        self.last_timestamp = rtp_timestamp;
        let ticks =
            (self.timestamp_base + u64::from(rtp_timestamp)).saturating_sub(u64::from(first));
        Duration::from_nanos(
            ticks.saturating_mul(1_000_000_000) / u64::from(self.codec.clock_rate()),
        )
    }
}

/// An AV1 temporal delimiter OBU (type 2, with an empty size field).
const AV1_TEMPORAL_DELIMITER: [u8; 2] = [0x12, 0x00];

/// The RTP payload format drops AV1 temporal delimiters (its section 5: they
/// are implied by the RTP timestamp); a low-overhead bitstream needs one at the
/// start of every temporal unit, so it is put back.
fn with_temporal_delimiter(data: Bytes) -> Bytes {
    let obu_type = |header: u8| (header >> 3) & 0x0f;
    if data.first().is_some_and(|&h| obu_type(h) == 2) {
        return data;
    }
    let mut unit = BytesMut::with_capacity(AV1_TEMPORAL_DELIMITER.len() + data.len());
    unit.extend_from_slice(&AV1_TEMPORAL_DELIMITER);
    unit.extend_from_slice(&data);
    unit.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp::header::Header;

    fn vp8_packet(seq: u16, ts: u32, start: bool, marker: bool, body: &[u8]) -> Packet {
        let mut payload = vec![if start { 0x10 } else { 0x00 }];
        payload.extend_from_slice(body);
        Packet {
            header: Header {
                version: 2,
                sequence_number: seq,
                timestamp: ts,
                marker,
                payload_type: 96,
                ssrc: 1,
                ..Default::default()
            },
            payload: Bytes::from(payload),
        }
    }

    fn frames(a: &mut FrameAssembler) -> Vec<EncodedFrame> {
        std::iter::from_fn(|| a.poll_frame()).collect()
    }

    #[test]
    fn reorders_and_joins_fragments() {
        let mut a = FrameAssembler::new(Codec::Vp8, 16);
        a.push(vp8_packet(10, 0, true, false, &[0x00, 1, 2]));
        a.push(vp8_packet(12, 3000, true, true, &[0x01, 9, 9]));
        a.push(vp8_packet(11, 0, false, true, &[3, 4, 5]));
        let out = frames(&mut a);
        assert_eq!(out.len(), 2);
        assert_eq!(&out[0].data[..], &[0x00, 1, 2, 3, 4, 5]);
        assert!(out[0].keyframe);
        assert!(!out[1].keyframe);
        assert_eq!(out[1].timestamp, Duration::from_nanos(33_333_333));
        assert!(!out[1].discontinuity);
    }

    #[test]
    fn drops_duplicates() {
        let mut a = FrameAssembler::new(Codec::Vp8, 16);
        a.push(vp8_packet(1, 0, true, true, &[0x00, 1, 1]));
        a.push(vp8_packet(1, 0, true, true, &[0x00, 1, 1]));
        a.push(vp8_packet(2, 3000, true, true, &[0x01, 2, 2]));
        a.push(vp8_packet(2, 3000, true, true, &[0x01, 2, 2]));
        assert_eq!(frames(&mut a).len(), 2);
        assert_eq!(a.stats().duplicates, 2);
    }

    #[test]
    fn gives_up_on_lost_packets_after_the_window() {
        let mut a = FrameAssembler::new(Codec::Vp8, 2);
        a.push(vp8_packet(1, 0, true, false, &[0x00, 1, 1]));
        // seq 2 (the end of frame 0) is lost
        a.push(vp8_packet(3, 3000, true, true, &[0x01, 3, 3]));
        a.push(vp8_packet(4, 6000, true, true, &[0x01, 4, 4]));
        assert!(frames(&mut a).is_empty(), "still waiting within the window");
        a.push(vp8_packet(5, 9000, true, true, &[0x01, 5, 5]));
        let out = frames(&mut a);
        assert_eq!(out.len(), 3);
        assert!(out[0].discontinuity);
        assert_eq!(out[0].rtp_timestamp, 3000);
        assert_eq!(a.stats().lost, 1);
        assert_eq!(a.stats().discarded, 1);
    }

    #[test]
    fn gives_up_on_lost_packets_after_the_delay() {
        let start = Instant::now();
        let mut a = FrameAssembler::new(Codec::Vp8, 64);
        a.set_max_delay(Some(Duration::from_millis(100)));
        a.push_at(vp8_packet(1, 0, true, true, &[0x00, 1, 1]), start);
        assert_eq!(frames(&mut a).len(), 1);
        assert_eq!(a.poll_timeout(), None, "nothing missing");
        // seq 2 is lost; seq 3 waits for it.
        a.push_at(vp8_packet(3, 6000, true, true, &[0x01, 3, 3]), start);
        let deadline = a.poll_timeout().expect("waiting for seq 2");
        assert_eq!(deadline, start + Duration::from_millis(100));
        a.handle_timeout(start + Duration::from_millis(99));
        assert!(frames(&mut a).is_empty(), "a retransmission may still come");
        a.handle_timeout(deadline);
        let out = frames(&mut a);
        assert_eq!(out.len(), 1);
        assert!(out[0].discontinuity);
        assert_eq!(a.stats().lost, 1);
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn a_late_retransmission_within_the_delay_fills_the_gap() {
        let start = Instant::now();
        let mut a = FrameAssembler::new(Codec::Vp8, 64);
        a.set_max_delay(Some(Duration::from_millis(100)));
        a.push_at(vp8_packet(1, 0, true, true, &[0x00, 1, 1]), start);
        a.push_at(vp8_packet(3, 6000, true, true, &[0x01, 3, 3]), start);
        a.handle_timeout(start + Duration::from_millis(50));
        let arrived = start + Duration::from_millis(60);
        a.push_at(vp8_packet(2, 3000, true, true, &[0x01, 2, 2]), arrived);
        let out = frames(&mut a);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|f| !f.discontinuity));
        assert_eq!(out[1].received_at, arrived);
        assert_eq!(a.stats().lost, 0);
    }

    #[test]
    fn handles_sequence_rollover() {
        let mut a = FrameAssembler::new(Codec::Vp8, 8);
        a.push(vp8_packet(65535, 0, true, true, &[0x00, 1, 1]));
        a.push(vp8_packet(0, 3000, true, true, &[0x01, 1, 1]));
        a.push(vp8_packet(1, 6000, true, true, &[0x01, 1, 1]));
        assert_eq!(frames(&mut a).len(), 3);
        assert_eq!(a.stats().lost, 0);
    }

    /// Every shipped clip, payloaded as `LocalTrack` does and reassembled,
    /// comes out frame for frame, byte for byte (AV1 with its temporal
    /// delimiters put back; H.264 without its access unit delimiters).
    #[test]
    fn clips_round_trip_byte_exact() {
        for name in [
            "testsrc-opus.ogg",
            "testsrc-vp8.ivf",
            "testsrc-vp9.ivf",
            "testsrc-h264.h264",
            "testsrc-av1.ivf",
        ] {
            let clip = crate::media::Clip::open(format!(
                "{}/../examples/media/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let codec = clip.codec();
            let mut payloader =
                crate::media::local_track::payloader_for(codec, &codec.rtp_codec()).unwrap();
            let mut assembler = FrameAssembler::new(codec, FrameAssembler::DEFAULT_WINDOW);
            let (mut seq, mut out) = (0u16, Vec::new());
            let sent: Vec<_> = clip.samples(0).collect();
            // rtc's H.264 payloader drops access unit delimiters (NAL type 9):
            // RTP does not carry them. The clip has one, with a 4-byte start
            // code, at the start of every access unit.
            let expected = |data: &Bytes| match codec {
                Codec::H264 => {
                    assert_eq!(&data[..5], &[0, 0, 0, 1, 0x09], "{name}: AUD first");
                    data.slice(6..)
                }
                _ => data.clone(),
            };
            for (i, sample) in sent.iter().enumerate() {
                let chunks = payloader.payload(1200, &sample.data).unwrap();
                for (j, chunk) in chunks.iter().enumerate() {
                    assembler.push(Packet {
                        header: Header {
                            version: 2,
                            sequence_number: seq,
                            timestamp: i as u32 * 3000,
                            marker: j == chunks.len() - 1,
                            payload_type: 96,
                            ssrc: 1,
                            ..Default::default()
                        },
                        payload: chunk.clone(),
                    });
                    seq = seq.wrapping_add(1);
                }
                out.extend(frames(&mut assembler));
            }
            assembler.flush();
            out.extend(frames(&mut assembler));
            let bad: Vec<_> = sent
                .iter()
                .zip(&out)
                .enumerate()
                .filter(|(_, (s, f))| expected(&s.data) != f.data)
                .map(|(i, (s, f))| (i, s.data.len(), f.data.len()))
                .collect();
            assert!(
                bad.is_empty() && out.len() == sent.len(),
                "{name}: {} of {} frames out; differing (index, sent, received): {:?}",
                out.len(),
                sent.len(),
                &bad[..bad.len().min(5)]
            );
        }
    }

    #[test]
    fn starts_at_a_partition_head() {
        let mut a = FrameAssembler::new(Codec::Vp8, 8);
        a.push(vp8_packet(5, 0, false, true, &[7, 7, 7]));
        a.push(vp8_packet(6, 3000, true, true, &[0x00, 1, 1]));
        let out = frames(&mut a);
        assert_eq!(out.len(), 1);
        assert!(out[0].discontinuity);
    }

    /// Chromium's VP9 (one layer, then three spatial layers) comes out one
    /// frame per picture: rtc-rtp 0.21's depacketizer failed these after
    /// the first inter frames.
    #[test]
    fn chromium_vp9_comes_out_whole() {
        for name in ["chromium-vp9-l1t1.rtp", "chromium-vp9-l3t3-key.rtp"] {
            let packets = crate::media::rtp_dump::read(name);
            let pictures = packets.iter().filter(|p| p.header.marker).count();
            let mut a = FrameAssembler::new(Codec::Vp9, FrameAssembler::DEFAULT_WINDOW);
            for packet in packets {
                a.push(packet);
            }
            a.flush();
            let out = frames(&mut a);
            assert_eq!(out.len(), pictures, "{name}: {:?}", a.stats());
            assert!(out[0].keyframe && out.iter().all(|f| !f.discontinuity));
            let stats = a.stats();
            assert_eq!(
                (stats.depacketization_errors, stats.incomplete_frames),
                (0, 0)
            );
        }
    }

    /// A payload that cannot be depacketized costs its frame, is counted,
    /// and the next frame is marked as following a discontinuity.
    #[test]
    fn depacketization_errors_are_counted() {
        let mut packets = crate::media::rtp_dump::read("chromium-vp9-l1t1.rtp");
        // Cut packet 2 (a key frame's first packet) inside its descriptor.
        packets[2].payload = packets[2].payload.slice(..2);
        let mut a = FrameAssembler::new(Codec::Vp9, FrameAssembler::DEFAULT_WINDOW);
        for packet in packets {
            a.push(packet);
        }
        a.flush();
        let out = frames(&mut a);
        let stats = a.stats();
        assert_eq!(stats.depacketization_errors, 1, "{stats:?}");
        assert!(a.last_error().unwrap().contains("descriptor"));
        assert!(out[1].discontinuity, "the frame after the dropped one");
    }

    #[test]
    fn frames_missing_packets_are_counted_once() {
        let mut a = FrameAssembler::new(Codec::Vp8, 2);
        a.push(vp8_packet(1, 0, true, true, &[0x00, 1, 1]));
        // Frame 3000 lost its first packet (seq 2); its two others arrive.
        a.push(vp8_packet(3, 3000, false, false, &[2, 2]));
        a.push(vp8_packet(4, 3000, false, true, &[2, 2]));
        a.push(vp8_packet(5, 6000, true, true, &[0x00, 3, 3]));
        a.flush();
        assert_eq!(frames(&mut a).len(), 2);
        assert_eq!(a.stats().incomplete_frames, 1);
    }
}
