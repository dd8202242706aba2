//! The layers (simulcast encodings) of a remote track, and which one its
//! frames come from.
//!
//! A simulcast sender (Chromium with `sendEncodings` and rids) sends one
//! RTP stream per encoding, each with its own SSRC, sequence numbers and
//! timestamps, all on one track; webrtc-rs reports each encoding when its
//! first packet arrives (`OnOpen` with its SSRC and rid). [`ReceivedLayers`]
//! keeps them apart: the frames of the track come from **one encoding at a
//! time**, the highest that is flowing. It goes down when that encoding
//! stops and back up when a higher one flows again, each time at a keyframe
//! of the new encoding (asked for), with sequence numbers and timestamps
//! continued across the switch (`rtp::layer_switch`) and the sender's clock
//! mapped onto them, so the frames read as one stream. A track without
//! simulcast has one encoding and its packets pass as they came.

use std::time::{Duration, Instant};

use rtc::rtp;

use super::frame::SenderClock;
use crate::codec::{Codec, MediaKind};
use crate::rtp::encodings::{Encoding, Encodings};
use crate::rtp::layer_switch::{LayerSwitch, LayerTarget, SwitchEvent, Verdict};
use crate::rtp::packet_info::PacketInfo;

/// An encoding stops being *active* after this long without packets.
pub(crate) const ACTIVE_WINDOW: Duration = Duration::from_millis(500);
/// While waiting for a keyframe of a new encoding, it is asked for this often.
const KEYFRAME_INTERVAL: Duration = Duration::from_secs(1);

/// One layer (simulcast encoding) of a [`RemoteTrack`](super::RemoteTrack).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackLayer {
    /// SSRC of the encoding's RTP stream.
    pub ssrc: u32,
    /// Its RTP stream id (`rid`) when the sender uses simulcast.
    pub rid: Option<String>,
    /// Picture width of its latest keyframe that showed one (VP8, H.264).
    pub width: Option<u32>,
    /// Picture height, as `width`.
    pub height: Option<u32>,
    /// Receive bitrate over the last whole second, bits per second.
    pub bitrate_bps: u64,
    /// Packets are arriving (the latest less than half a second ago).
    pub active: bool,
}

impl From<&Encoding> for TrackLayer {
    fn from(e: &Encoding) -> Self {
        TrackLayer {
            ssrc: e.ssrc,
            rid: e.rid.clone(),
            width: e.size.map(|s| s.0),
            height: e.size.map(|s| s.1),
            bitrate_bps: e.bitrate_bps,
            active: e.active,
        }
    }
}

/// The receive side's layers (see the module documentation). Sans-I/O.
#[derive(Debug)]
pub(crate) struct ReceivedLayers {
    codec: Codec,
    encodings: Encodings,
    clocks: Vec<(u32, SenderClock)>,
    frames: LayerSwitch,
}

impl ReceivedLayers {
    /// The layers of a track of `codec` whose first encoding is `ssrc`.
    pub(crate) fn new(codec: Codec, ssrc: u32, now: Instant) -> Self {
        let mut encodings = Encodings::new(ACTIVE_WINDOW);
        encodings.add(ssrc, None);
        let mut frames = LayerSwitch::new(codec, KEYFRAME_INTERVAL, Duration::MAX).start_anywhere();
        frames.set_target(Some(LayerTarget::all_of(ssrc)), now);
        let mut layers = Self {
            codec,
            encodings,
            clocks: Vec::new(),
            frames,
        };
        layers.drain_requests();
        layers
    }

    /// The encodings, lowest first.
    pub(crate) fn encodings(&self) -> &[Encoding] {
        self.encodings.list()
    }

    /// The layers, lowest first.
    pub(crate) fn layers(&self) -> Vec<TrackLayer> {
        self.encodings.list().iter().map(TrackLayer::from).collect()
    }

    /// The encoding the frames come from now.
    pub(crate) fn frame_source(&self) -> Option<u32> {
        self.frames.current().map(|t| t.ssrc)
    }

    /// The sender's clock mapped onto the frames' timestamps.
    pub(crate) fn frame_clock(&self) -> Option<SenderClock> {
        let (source, offset) = self.frames.timestamp_offset()?;
        let clock = self.clock_of(source)?;
        Some(SenderClock {
            ntp_time: clock.ntp_time,
            rtp_timestamp: clock.rtp_timestamp.wrapping_add(offset),
        })
    }

    /// The latest sender-report mapping of encoding `ssrc`.
    pub(crate) fn clock_of(&self, ssrc: u32) -> Option<SenderClock> {
        self.clocks
            .iter()
            .find(|(s, _)| *s == ssrc)
            .map(|(_, c)| *c)
    }

    /// The sender's encoding `ssrc` (with its `rid`) opened. True when the
    /// list of layers changed.
    pub(crate) fn on_open(&mut self, ssrc: u32, rid: Option<String>, now: Instant) -> bool {
        let changed = self.encodings.add(ssrc, rid);
        if changed {
            self.retarget(now);
        }
        changed
    }

    /// A sender report of encoding `ssrc`.
    pub(crate) fn on_sender_report(&mut self, ssrc: u32, clock: SenderClock) {
        match self.clocks.iter_mut().find(|(s, _)| *s == ssrc) {
            Some(entry) => entry.1 = clock,
            None => self.clocks.push((ssrc, clock)),
        }
    }

    /// Takes a packet that arrived `now`: returns whether the layers
    /// changed, and the packet (renumbered) when it goes to the frames.
    pub(crate) fn on_packet(
        &mut self,
        mut packet: rtp::Packet,
        info: &PacketInfo,
        now: Instant,
    ) -> (bool, Option<rtp::Packet>) {
        let ssrc = packet.header.ssrc;
        let size = if info.keyframe {
            keyframe_size(self.codec, &packet.payload, info)
        } else {
            None
        };
        let changed = self
            .encodings
            .on_packet(ssrc, packet.payload.len(), size, now);
        if changed {
            self.retarget(now);
        }
        let clock_rate = self.codec.clock_rate();
        let clocks = &self.clocks;
        let verdict = self.frames.push(
            ssrc,
            packet.header.sequence_number,
            packet.header.timestamp,
            packet.header.marker,
            info,
            now,
            |previous, timestamp| {
                let find = |s: u32| clocks.iter().find(|(c, _)| *c == s).map(|(_, c)| *c);
                Some(align_timestamp(
                    timestamp,
                    &find(ssrc)?,
                    &find(previous)?,
                    clock_rate,
                ))
            },
        );
        let packet = match verdict {
            Verdict::Forward { numbers, marker } => {
                packet.header.sequence_number = numbers.sequence_number;
                packet.header.timestamp = numbers.timestamp;
                packet.header.marker = marker;
                Some(packet)
            }
            Verdict::Drop => None,
        };
        (changed, packet)
    }

    /// Marks quiet encodings inactive; true when the layers changed.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> bool {
        let changed = self.encodings.refresh(now);
        if changed {
            self.retarget(now);
        }
        changed
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.encodings.list().len() < 2 {
            return None;
        }
        self.encodings.poll_timeout()
    }

    /// Encodings a keyframe should be asked for (for the frames' switch).
    pub(crate) fn keyframe_requests(&mut self) -> Vec<u32> {
        self.drain_requests()
    }

    fn drain_requests(&mut self) -> Vec<u32> {
        let mut requests = Vec::new();
        while let Some(event) = self.frames.poll_event() {
            match event {
                SwitchEvent::RequestKeyframe { ssrc } => {
                    if !requests.contains(&ssrc) {
                        requests.push(ssrc);
                    }
                }
                SwitchEvent::Switched { from, to } => {
                    if from.is_some() {
                        tracing::debug!(from = ?from.map(|f| f.ssrc), to = to.ssrc, "frames switch encoding");
                    }
                }
            }
        }
        requests
    }

    /// The frames follow the highest active encoding (or stay where they
    /// are while none is active).
    fn retarget(&mut self, now: Instant) {
        if self.encodings.list().len() < 2 || self.codec.kind() == MediaKind::Audio {
            return;
        }
        if let Some(highest) = self.encodings.highest_active() {
            self.frames
                .set_target(Some(LayerTarget::all_of(highest.ssrc)), now);
        }
    }
}

/// `timestamp` of a stream whose sender reports map it by `clock`, placed on
/// the RTP clock of another stream of the same sender mapped by `other`
/// (both clocked at `clock_rate`): simulcast encodings share the capture
/// clock but not their RTP timestamps.
pub(crate) fn align_timestamp(
    timestamp: u32,
    clock: &SenderClock,
    other: &SenderClock,
    clock_rate: u32,
) -> u32 {
    let nanos = clock.wallclock_nanos(timestamp, clock_rate);
    let delta = nanos - other.ntp_nanos();
    let ticks = (delta as f64 * f64::from(clock_rate) / 1e9).round() as i64;
    other.rtp_timestamp.wrapping_add(ticks as u32)
}

/// The picture size a keyframe packet shows in its first bytes (VP8 frame
/// header; an H.264 SPS in a single NAL unit or STAP-A).
fn keyframe_size(codec: Codec, payload: &[u8], info: &PacketInfo) -> Option<(u32, u32)> {
    match codec {
        Codec::Vp8 => super::picture_size(Codec::Vp8, payload.get(info.media_at..)?),
        Codec::H264 => {
            let sps: &[u8] = match payload.first()? & 0x1f {
                7 => payload,
                24 => {
                    let size =
                        usize::from(u16::from_be_bytes([*payload.get(1)?, *payload.get(2)?]));
                    let nal = payload.get(3..3 + size)?;
                    (nal.first()? & 0x1f == 7).then_some(nal)?
                }
                _ => return None,
            };
            let mut annex_b = Vec::with_capacity(sps.len() + 4);
            annex_b.extend_from_slice(&[0, 0, 0, 1]);
            annex_b.extend_from_slice(sps);
            super::picture_size(Codec::H264, &annex_b)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp::header::Header;

    /// A VP8 packet of encoding `ssrc`: keyframes carry a `width`-wide picture.
    fn vp8(ssrc: u32, seq: u16, ts: u32, key: bool, width: u16) -> (rtp::Packet, PacketInfo) {
        let mut payload = vec![
            0x10,
            if key { 0x10 } else { 0x11 },
            0x02,
            0x00,
            0x9d,
            0x01,
            0x2a,
        ];
        payload.extend_from_slice(&width.to_le_bytes());
        payload.extend_from_slice(&(width * 9 / 16).to_le_bytes());
        let info = PacketInfo::read(Codec::Vp8, &payload, true);
        let packet = rtp::Packet {
            header: Header {
                version: 2,
                ssrc,
                sequence_number: seq,
                timestamp: ts,
                marker: true,
                ..Default::default()
            },
            payload: payload.into(),
        };
        (packet, info)
    }

    #[test]
    fn frames_follow_the_highest_flowing_encoding_switching_at_keyframes() {
        let t0 = Instant::now();
        let mut layers = ReceivedLayers::new(Codec::Vp8, 1, t0);
        let feed = |layers: &mut ReceivedLayers, ssrc, seq, ts, key, at| {
            let (packet, info) = vp8(ssrc, seq, ts, key, if ssrc == 1 { 320 } else { 1280 });
            layers
                .on_packet(packet, &info, at)
                .1
                .map(|p| p.header.sequence_number)
        };
        // The first encoding passes as it came, from its first packet on.
        assert_eq!(feed(&mut layers, 1, 500, 0, false, t0), Some(500));
        assert_eq!(feed(&mut layers, 1, 501, 3000, true, t0), Some(501));
        // A second, larger encoding opens: the frames wait for its keyframe.
        assert!(layers.on_open(2, Some("f".into()), t0));
        let (packet, info) = vp8(2, 9000, 77_000, false, 1280);
        let (_, out) = layers.on_packet(packet, &info, t0);
        assert!(out.is_none());
        assert_eq!(layers.keyframe_requests(), [2]);
        assert_eq!(feed(&mut layers, 1, 502, 6000, false, t0), Some(502));
        assert_eq!(feed(&mut layers, 2, 9001, 80_000, true, t0), Some(503));
        assert_eq!(layers.frame_source(), Some(2));
        assert_eq!(
            layers.layers().iter().map(|l| l.width).collect::<Vec<_>>(),
            [Some(320), Some(1280)]
        );
        assert_eq!(feed(&mut layers, 1, 503, 9000, false, t0), None);
        // The top encoding stops: down to the first one, at its keyframe.
        let t1 = t0 + Duration::from_millis(600);
        assert_eq!(feed(&mut layers, 1, 504, 12_000, false, t1), None);
        assert!(layers.handle_timeout(t1));
        assert_eq!(layers.keyframe_requests(), [1]);
        assert_eq!(feed(&mut layers, 1, 505, 15_000, true, t1), Some(504));
        assert_eq!(layers.frame_source(), Some(1));
    }

    #[test]
    fn timestamps_align_through_sender_reports() {
        let base = 3_900_000_000_000_000_000i64;
        let low = SenderClock::from_wallclock_nanos(base, 1_000);
        let high = SenderClock::from_wallclock_nanos(base + 10_000_000, 500_000);
        // 100 ms after the low report on the low clock is 90 ms after the high one.
        let aligned = align_timestamp(1_000 + 9_000, &low, &high, 90_000);
        assert_eq!(aligned, 500_000 + 8_100);
        assert_eq!(
            align_timestamp(500_000 + 8_100, &high, &low, 90_000),
            10_000
        );
    }

    #[test]
    fn the_sender_clock_is_mapped_onto_the_frames_timestamps() {
        let t0 = Instant::now();
        let mut layers = ReceivedLayers::new(Codec::Vp8, 1, t0);
        let base = 3_900_000_000_000_000_000i64;
        layers.on_sender_report(1, SenderClock::from_wallclock_nanos(base, 1000));
        let (packet, info) = vp8(1, 10, 1000, true, 320);
        layers.on_packet(packet, &info, t0);
        assert_eq!(layers.frame_clock().unwrap().rtp_timestamp, 1000);
        // Switch to encoding 2, whose clock says its timestamp 50_000 is 10 ms
        // after the first encoding's 1000: the frames continue at 1900.
        layers.on_open(2, None, t0);
        layers.on_sender_report(
            2,
            SenderClock::from_wallclock_nanos(base + 10_000_000, 50_000),
        );
        let (packet, info) = vp8(2, 3, 50_000, true, 640);
        let (_, out) = layers.on_packet(packet, &info, t0);
        assert_eq!(out.unwrap().header.timestamp, 1900);
        let clock = layers.frame_clock().unwrap();
        assert!((clock.wallclock_nanos(1900, 90_000) - (base + 10_000_000)).abs() <= 1);
    }
}
