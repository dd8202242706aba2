//! [`Leg`]: one forwarded track on one member's connection — the outgoing
//! stream a subscriber receives.
//!
//! Per packet (on the source track's receive task, under the leg's own
//! lock, never across an await): the [`LayerSwitch`] decides and numbers,
//! the packet is rebuilt with the leg's SSRC, payload type, header
//! extensions and VP8 picture ids, and queued to the connection without
//! waiting (a full queue drops it, counted: it never reached the
//! connection's send buffer, so the subscriber sees a loss). The layers
//! come from the [`LayerPolicy`]; keyframe requests go to the source's throttle; the
//! publisher's clock, mapped through the leg's timestamp offset, goes to
//! the connection's sender reports ([`OutgoingFeedback`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtc::rtp;
use webrtc::rtp_transceiver::RtpSender;

use super::extensions::ExtensionMap;
use super::layer_policy::{LayerPolicy, LayerPreference, PolicyTuning};
use super::source::Source;
use super::stats::{ForwardedLayer, LegStats};
use crate::call::stream_feedback::{FeedbackRegistry, OutgoingFeedback};
use crate::codec::Codec;
use crate::media::SenderClock;
use crate::media::binding_track::{BindingTrack, asks_keyframe};
use crate::media::local_track::lock;
use crate::media::rtp_tap::TappedPacket;
use crate::rtp::encodings::Encoding;
use crate::rtp::layer_switch::{LayerSwitch, SwitchEvent, Verdict};
use crate::rtp::packet_info::{PacketInfo, Vp8Ids};
use crate::rtp::rewriter::Rewritten;
use crate::signalling::MemberId;

/// How a leg is set up.
pub(crate) struct LegSetup {
    pub member: MemberId,
    pub ssrc: u32,
    pub codec: Codec,
    pub binding: Arc<BindingTrack>,
    pub sender: Arc<dyn RtpSender>,
    pub registry: Weak<FeedbackRegistry>,
    pub preference: LayerPreference,
    pub tuning: PolicyTuning,
    pub keyframe_interval: std::time::Duration,
    pub resume_after: std::time::Duration,
}

/// One forwarded track on one member's connection (see the module documentation).
pub(crate) struct Leg {
    member: MemberId,
    ssrc: u32,
    binding: Arc<BindingTrack>,
    sender: Arc<dyn RtpSender>,
    feedback: Arc<OutgoingFeedback>,
    registry: Weak<FeedbackRegistry>,
    state: Mutex<LegState>,
    packets: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
    keyframe_requests: AtomicU64,
}

struct LegState {
    switch: LayerSwitch,
    policy: LayerPolicy,
    payload_type: Option<u8>,
    extensions: ExtensionMap,
    connected: bool,
    encodings: Vec<Encoding>,
    reports_seen: u64,
}

impl LegState {
    /// The leg can send: the connection is up and a payload type negotiated.
    fn ready(&self) -> bool {
        self.connected && self.payload_type.is_some()
    }
}

impl Leg {
    /// A leg that sends nothing until it is negotiated and connected.
    pub(crate) fn new(setup: LegSetup) -> Self {
        let feedback = Arc::new(OutgoingFeedback::new(setup.codec.clock_rate()));
        if let Some(registry) = setup.registry.upgrade() {
            registry.register(setup.ssrc, feedback.clone());
        }
        let mut policy = LayerPolicy::new(setup.tuning);
        policy.set_preference(setup.preference);
        Self {
            member: setup.member,
            ssrc: setup.ssrc,
            binding: setup.binding,
            sender: setup.sender,
            feedback,
            registry: setup.registry,
            state: Mutex::new(LegState {
                switch: LayerSwitch::new(setup.codec, setup.keyframe_interval, setup.resume_after),
                policy,
                payload_type: None,
                extensions: ExtensionMap::default(),
                connected: false,
                encodings: Vec::new(),
                reports_seen: 0,
            }),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            keyframe_requests: AtomicU64::new(0),
        }
    }

    /// The member the leg sends to.
    pub(crate) fn member(&self) -> &MemberId {
        &self.member
    }

    /// The leg's SSRC.
    pub(crate) fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The connection's sender of the leg.
    pub(crate) fn sender(&self) -> Arc<dyn RtpSender> {
        self.sender.clone()
    }

    /// Stops handling the leg's RTCP (the leg is being removed).
    pub(crate) fn close(&self) {
        if let Some(registry) = self.registry.upgrade() {
            registry.unregister(self.ssrc);
        }
    }

    /// A packet of the source arrived.
    pub(crate) fn on_packet(&self, tapped: &TappedPacket<'_>, source: &Source) {
        let now = tapped.arrival;
        let packet = tapped.packet;
        let mut state = lock(&self.state);
        let Some(payload_type) = state.payload_type.filter(|_| state.connected) else {
            return;
        };
        self.check_reports(&mut state, source, now);
        let ssrc = packet.header.ssrc;
        let verdict = state.switch.push(
            ssrc,
            packet.header.sequence_number,
            packet.header.timestamp,
            packet.header.marker,
            tapped.info,
            now,
            |previous, timestamp| source.align(ssrc, previous, timestamp),
        );
        self.handle_events(&mut state, source);
        let Verdict::Forward { numbers, marker } = verdict else {
            return;
        };
        let out = build_packet(
            packet,
            tapped.info,
            &numbers,
            marker,
            self.ssrc,
            payload_type,
            &state.extensions,
        );
        drop(state);
        let bytes = out.payload.len() as u64;
        match self.binding.try_write_rtp(out) {
            Ok(true) => {
                self.packets.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Ok(false) | Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The source's encodings changed.
    pub(crate) fn on_encodings(&self, encodings: &[Encoding], source: &Source, now: Instant) {
        let mut state = lock(&self.state);
        state.encodings = encodings.to_vec();
        self.retarget(&mut state, source, now);
    }

    /// RTCP from the subscriber about the leg (PLI/FIR).
    pub(crate) fn on_rtcp(&self, packets: &[Box<dyn rtc::rtcp::Packet>], source: &Source) {
        if !asks_keyframe(packets) {
            return;
        }
        self.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        let current = lock(&self.state).switch.current();
        if let Some(current) = current {
            source.request_keyframe(current.ssrc);
        }
    }

    /// The subscriber's layer preference.
    pub(crate) fn set_preference(&self, preference: LayerPreference, source: &Source) {
        let mut state = lock(&self.state);
        state.policy.set_preference(preference);
        self.retarget(&mut state, source, Instant::now());
    }

    /// What negotiation gave the leg: its payload type (`None`: the codec
    /// was not negotiated) and its header extensions.
    pub(crate) fn set_negotiated(
        &self,
        payload_type: Option<u8>,
        extensions: ExtensionMap,
        source: &Source,
    ) {
        let mut state = lock(&self.state);
        state.payload_type = payload_type;
        state.extensions = extensions;
        self.retarget(&mut state, source, Instant::now());
    }

    /// Whether the connection is up.
    pub(crate) fn set_connected(&self, connected: bool, source: &Source) {
        let mut state = lock(&self.state);
        if state.connected == connected {
            return;
        }
        state.connected = connected;
        self.retarget(&mut state, source, Instant::now());
    }

    /// Maps the publisher's clock onto the leg's timestamps for its sender reports.
    pub(crate) fn refresh_clock(&self, source: &Source) {
        let mapping = lock(&self.state).switch.timestamp_offset();
        let clock = mapping.and_then(|(ssrc, offset)| {
            let clock = source.clock(ssrc)?;
            Some(SenderClock {
                ntp_time: clock.ntp_time,
                rtp_timestamp: clock.rtp_timestamp.wrapping_add(offset),
            })
        });
        if clock.is_some() {
            self.feedback.set_clock(clock);
        }
    }

    /// A snapshot of the leg's counters and state.
    pub(crate) fn stats(&self) -> LegStats {
        let (current, cap, downgrades, preference, rank) = {
            let state = lock(&self.state);
            let current = state.switch.current();
            let rank = current.and_then(|c| state.encodings.iter().position(|e| e.ssrc == c.ssrc));
            let layer = current.map(|c| {
                let encoding = state.encodings.iter().find(|e| e.ssrc == c.ssrc);
                ForwardedLayer {
                    ssrc: c.ssrc,
                    rid: encoding.and_then(|e| e.rid.clone()),
                    encoding: rank.unwrap_or(0) as u8,
                    max_spatial: (c.max_spatial != u8::MAX).then_some(c.max_spatial),
                    max_temporal: (c.max_temporal != u8::MAX).then_some(c.max_temporal),
                }
            });
            (
                layer,
                state.policy.cap(),
                state.policy.downgrades,
                state.policy.preference(),
                rank,
            )
        };
        let _ = rank;
        let receiver = self.feedback.receiver();
        let counters = self.feedback.counters();
        LegStats {
            member: self.member.clone(),
            ssrc: self.ssrc,
            forwarding: current.is_some(),
            layer: current,
            preference,
            quality_cap: cap.map(|c| c as u8),
            downgrades,
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            packets_dropped: self.dropped.load(Ordering::Relaxed),
            keyframe_requests: self.keyframe_requests.load(Ordering::Relaxed),
            nacks: counters.nacks,
            nacked_packets: counters.nacked_packets,
            retransmissions: counters.retransmissions,
            retransmitted_bytes: counters.retransmitted_bytes,
            sender_reports_left_out: counters.reports_left_out,
            rtt_ms: receiver.rtt.map(|rtt| rtt.as_secs_f64() * 1000.0),
            fraction_lost: receiver.fraction_lost,
            packets_lost: u64::from(receiver.total_lost),
        }
    }

    /// Feeds new receiver reports to the policy.
    fn check_reports(&self, state: &mut LegState, source: &Source, now: Instant) {
        let count = self.feedback.report_count();
        if count == state.reports_seen {
            return;
        }
        state.reports_seen = count;
        let report = self.feedback.receiver();
        let forwarded = state
            .switch
            .current()
            .and_then(|c| state.encodings.iter().position(|e| e.ssrc == c.ssrc));
        let encodings = state.encodings.len();
        state.policy.on_report(&report, forwarded, encodings, now);
        self.retarget(state, source, now);
    }

    fn retarget(&self, state: &mut LegState, source: &Source, now: Instant) {
        let target = if state.ready() {
            state
                .policy
                .choose(&state.encodings)
                .or(state.switch.target())
        } else {
            None
        };
        state.switch.set_target(target, now);
        self.handle_events(state, source);
    }

    fn handle_events(&self, state: &mut LegState, source: &Source) {
        while let Some(event) = state.switch.poll_event() {
            match event {
                SwitchEvent::RequestKeyframe { ssrc } => source.request_keyframe(ssrc),
                SwitchEvent::Switched { from, to } => {
                    tracing::debug!(member = %self.member, leg = self.ssrc,
                        from = ?from.map(|f| f.ssrc), to = to.ssrc, "leg switches layer");
                    let clock = state.switch.timestamp_offset().and_then(|(ssrc, offset)| {
                        let clock = source.clock(ssrc)?;
                        Some(SenderClock {
                            ntp_time: clock.ntp_time,
                            rtp_timestamp: clock.rtp_timestamp.wrapping_add(offset),
                        })
                    });
                    if clock.is_some() {
                        self.feedback.set_clock(clock);
                    }
                }
            }
        }
    }
}

/// The packet a leg sends for `source`: the leg's SSRC, payload type and
/// numbers, the header extensions it negotiated (by URI), the VP8 picture
/// ids rewritten when they change (the only time the payload is copied).
pub(crate) fn build_packet(
    source: &rtp::Packet,
    info: &PacketInfo,
    numbers: &Rewritten,
    marker: bool,
    ssrc: u32,
    payload_type: u8,
    extensions: &ExtensionMap,
) -> rtp::Packet {
    let mut header = rtp::header::Header {
        version: 2,
        marker,
        payload_type,
        sequence_number: numbers.sequence_number,
        timestamp: numbers.timestamp,
        ssrc,
        csrc: source.header.csrc.clone(),
        ..Default::default()
    };
    if !extensions.is_empty() {
        for extension in &source.header.extensions {
            if let Some(id) = extensions.leg_id(extension.id) {
                header.extensions.push(rtp::header::Extension {
                    id,
                    payload: extension.payload.clone(),
                });
            }
        }
        if !header.extensions.is_empty() {
            header.extension = true;
            let two_byte = header
                .extensions
                .iter()
                .any(|e| e.id > 14 || e.payload.is_empty() || e.payload.len() > 16);
            header.extension_profile = if two_byte {
                rtp::header::EXTENSION_PROFILE_TWO_BYTE
            } else {
                rtp::header::EXTENSION_PROFILE_ONE_BYTE
            };
        }
    }
    let payload = match info.vp8 {
        Some(ids) if numbers.changes_vp8(&ids) => rewrite_vp8(&source.payload, &ids, numbers),
        _ => source.payload.clone(),
    };
    rtp::Packet { header, payload }
}

/// A copy of a VP8 payload with the picture id and TL0PICIDX of `numbers`.
fn rewrite_vp8(payload: &Bytes, ids: &Vp8Ids, numbers: &Rewritten) -> Bytes {
    let mut bytes = BytesMut::from(&payload[..]);
    if let Some(id) = numbers.picture_id
        && ids.picture_id.is_some()
    {
        if ids.long_picture_id {
            bytes[ids.picture_id_at] = 0x80 | ((id >> 8) as u8 & 0x7f);
            bytes[ids.picture_id_at + 1] = id as u8;
        } else {
            bytes[ids.picture_id_at] = id as u8 & 0x7f;
        }
    }
    if let (Some(tl0), Some(_)) = (numbers.tl0_pic_idx, ids.tl0_pic_idx) {
        bytes[ids.tl0_at] = tl0;
    }
    bytes.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp8_packet() -> rtp::Packet {
        rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                ssrc: 1,
                sequence_number: 5,
                timestamp: 9,
                payload_type: 120,
                extension: true,
                extension_profile: rtp::header::EXTENSION_PROFILE_ONE_BYTE,
                extensions: vec![
                    rtp::header::Extension {
                        id: 1,
                        payload: Bytes::from_static(b"0"),
                    },
                    rtp::header::Extension {
                        id: 3,
                        payload: Bytes::from_static(&[0x85]),
                    },
                ],
                ..Default::default()
            },
            // X=1, S=1; I L T; 15-bit picture id 0x0102; TL0PICIDX 7; TID 0; key payload header.
            payload: Bytes::from_static(&[0x90, 0xe0, 0x81, 0x02, 7, 0x00, 0x10, 0xaa]),
        }
    }

    #[test]
    fn packets_go_out_with_the_legs_numbers_ids_and_extensions() {
        let source = vp8_packet();
        let info = PacketInfo::read(Codec::Vp8, &source.payload, false);
        let map = ExtensionMap::new(
            [
                ("urn:ietf:params:rtp-hdrext:sdes:mid", 1),
                ("urn:ietf:params:rtp-hdrext:ssrc-audio-level", 3),
            ],
            &[("urn:ietf:params:rtp-hdrext:ssrc-audio-level", 11)],
        );
        let same = Rewritten {
            sequence_number: 100,
            timestamp: 2000,
            picture_id: Some(0x0102),
            tl0_pic_idx: Some(7),
        };
        let out = build_packet(&source, &info, &same, true, 42, 96, &map);
        assert_eq!(
            (
                out.header.ssrc,
                out.header.payload_type,
                out.header.sequence_number,
                out.header.timestamp
            ),
            (42, 96, 100, 2000)
        );
        assert!(out.header.marker && out.header.extension);
        assert_eq!(out.header.extensions.len(), 1);
        assert_eq!(
            (
                out.header.extensions[0].id,
                &out.header.extensions[0].payload[..]
            ),
            (11, &[0x85][..])
        );
        assert_eq!(
            out.payload.as_ptr(),
            source.payload.as_ptr(),
            "unchanged ids: no copy"
        );

        let moved = Rewritten {
            picture_id: Some(0x7ffe),
            tl0_pic_idx: Some(200),
            ..same
        };
        let out = build_packet(
            &source,
            &info,
            &moved,
            false,
            42,
            96,
            &ExtensionMap::default(),
        );
        assert!(!out.header.extension && out.header.extensions.is_empty());
        let again = PacketInfo::read(Codec::Vp8, &out.payload, false)
            .vp8
            .unwrap();
        assert_eq!(
            (again.picture_id, again.tl0_pic_idx),
            (Some(0x7ffe), Some(200))
        );
        assert_eq!(&out.payload[5..], &source.payload[5..]);
    }
}
