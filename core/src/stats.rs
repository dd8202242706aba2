//! [`CallStats`]: one snapshot type for a call, per member and per track.

use std::collections::HashMap;
use std::time::Instant;

use rtc::peer_connection::transport::RTCIceServerTransportProtocol;
use rtc::statistics::stats::ice_candidate::RTCIceCandidateStats;
use serde::Serialize;
use webrtc::peer_connection::{RTCStatsReport, RTCStatsReportEntry, StatsSelector};

use crate::call::ConnectionState;
use crate::media::{FrameDrops, RemoteTrack};
use crate::signalling::MemberInfo;

/// Statistics of a whole call.
#[derive(Debug, Clone, Serialize)]
pub struct CallStats {
    /// Room name.
    pub room: String,
    /// Our member id.
    pub self_id: String,
    /// One entry per other member.
    pub members: Vec<MemberStats>,
}

/// Statistics of the connection with one member.
#[derive(Debug, Clone, Serialize)]
pub struct MemberStats {
    /// The member.
    pub member: MemberInfo,
    /// Connection state (`connecting`, `connected`, …).
    pub connection_state: &'static str,
    /// The selected ICE candidate pair, once connected.
    pub candidate_pair: Option<CandidatePairStats>,
    /// Tracks received from the member.
    pub inbound: Vec<InboundTrackStats>,
    /// Tracks sent to the member.
    pub outbound: Vec<OutboundTrackStats>,
}

/// The ICE candidate pair in use (the transport's selected pair).
#[derive(Debug, Clone, Serialize)]
pub struct CandidatePairStats {
    /// Our end.
    pub local: CandidateStats,
    /// The member's end.
    pub remote: CandidateStats,
    /// Current round-trip time from ICE consent checks, in milliseconds.
    pub rtt_ms: f64,
    /// Bytes sent on the pair.
    pub bytes_sent: u64,
    /// Bytes received on the pair.
    pub bytes_received: u64,
}

/// One end of a candidate pair, with the fields of W3C `RTCIceCandidateStats`
/// that say where traffic goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateStats {
    /// `host`, `srflx`, `prflx` or `relay` (`unknown` only if the report
    /// lacks the candidate, which rtcgate's webrtc-rs fork no longer allows).
    pub candidate_type: String,
    /// IP address; `None` when the stack hides it.
    pub address: Option<String>,
    /// Port.
    pub port: u16,
    /// `udp` or `tcp`: how traffic reaches this candidate.
    pub protocol: String,
    /// For our relay candidates, how we reach the TURN server (`udp`, `tcp`,
    /// `tls`); `None` for other candidates and for the member's.
    pub relay_protocol: Option<String>,
}

/// A received RTP stream.
#[derive(Debug, Clone, Serialize)]
pub struct InboundTrackStats {
    /// SSRC.
    pub ssrc: u32,
    /// `audio` or `video`.
    pub kind: String,
    /// Payload bytes received.
    pub bytes: u64,
    /// Packets received.
    pub packets: u64,
    /// Packets lost (cumulative, as RTCP reports it).
    pub packets_lost: i64,
    /// Interarrival jitter in milliseconds.
    pub jitter_ms: f64,
    /// Receive bitrate since the previous snapshot, bits per second.
    pub bitrate_bps: f64,
    /// Id of the remote track the stream feeds (`None` for a stream rtcgate
    /// has no track for, such as an unsupported codec).
    pub track_id: Option<String>,
    /// Frames reassembled from the stream.
    pub frames: u64,
    /// Frames a decoder could not use, by cause.
    pub frame_drops: FrameDrops,
    /// Times the track stalled (packets arriving, no usable frame for about a second).
    pub stalls: u64,
}

/// A sent RTP stream.
#[derive(Debug, Clone, Serialize)]
pub struct OutboundTrackStats {
    /// SSRC.
    pub ssrc: u32,
    /// `audio` or `video`.
    pub kind: String,
    /// Payload bytes sent.
    pub bytes: u64,
    /// Packets sent.
    pub packets: u64,
    /// Round-trip time from RTCP receiver reports, milliseconds (0 until known).
    pub rtt_ms: f64,
    /// Fraction lost reported by the receiver (0.0–1.0).
    pub fraction_lost: f64,
    /// NACKs (RTCP retransmission requests) the receiver sent for the stream.
    pub nacks: u64,
    /// Send bitrate since the previous snapshot, bits per second.
    pub bitrate_bps: f64,
}

/// Remembers byte counters between snapshots to derive bitrates.
#[derive(Debug, Default)]
pub(crate) struct BitrateMeter {
    last: HashMap<(bool, u32), (u64, Instant)>,
}

impl BitrateMeter {
    /// Bits per second for stream `key` since the previous call (0 the first time).
    pub(crate) fn rate(&mut self, key: (bool, u32), bytes: u64, now: Instant) -> f64 {
        let rate = match self.last.get(&key) {
            Some(&(prev_bytes, prev_time)) if now > prev_time => {
                bytes.saturating_sub(prev_bytes) as f64 * 8.0 / (now - prev_time).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last.insert(key, (bytes, now));
        rate
    }
}

/// Clock rate of the streams rtcgate carries, by kind (Opus 48 kHz, video 90 kHz).
fn clock_rate(kind: &str) -> f64 {
    if kind == "audio" { 48_000.0 } else { 90_000.0 }
}

fn state_name(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Connecting => "connecting",
        ConnectionState::Connected => "connected",
        ConnectionState::Disconnected => "disconnected",
        ConnectionState::Failed => "failed",
        ConnectionState::Closed => "closed",
    }
}

pub(crate) async fn collect_member_stats(link: &crate::call::peer::PeerLink) -> MemberStats {
    let now = Instant::now();
    let report = link
        .peer_connection()
        .get_stats(now, StatsSelector::None)
        .await;
    let mut meter = link.bitrate_meter();
    let mut stats = summarise(
        link.member().clone(),
        state_name(link.state()),
        &report,
        &mut meter,
        now,
    );
    add_track_health(&mut stats.inbound, &link.remote_tracks());
    stats
}

/// Fills in what rtcgate's own receive path knows about each stream.
fn add_track_health(inbound: &mut [InboundTrackStats], tracks: &[RemoteTrack]) {
    for stream in inbound {
        if let Some(track) = tracks.iter().find(|t| t.ssrc() == stream.ssrc) {
            stream.track_id = Some(track.id().to_owned());
            stream.frames = track.stats().frames;
            stream.frame_drops = track.frame_drops();
            stream.stalls = track.stalls();
        }
    }
}

fn summarise(
    member: MemberInfo,
    connection_state: &'static str,
    report: &RTCStatsReport,
    meter: &mut BitrateMeter,
    now: Instant,
) -> MemberStats {
    let inbound = report
        .inbound_rtp_streams()
        .map(|s| {
            let received = &s.received_rtp_stream_stats;
            let ssrc = received.rtp_stream_stats.ssrc;
            InboundTrackStats {
                ssrc,
                kind: received.rtp_stream_stats.kind.to_string(),
                bytes: s.bytes_received,
                packets: received.packets_received,
                packets_lost: received.packets_lost,
                // RTCP jitter is in RTP timestamp units of the stream's clock.
                jitter_ms: received.jitter * 1000.0
                    / clock_rate(&received.rtp_stream_stats.kind.to_string()),
                bitrate_bps: meter.rate((true, ssrc), s.bytes_received, now),
                track_id: None,
                frames: 0,
                frame_drops: FrameDrops::default(),
                stalls: 0,
            }
        })
        .collect();
    let remote_inbound: Vec<_> = report
        .iter()
        .filter_map(|e| match e {
            RTCStatsReportEntry::RemoteInboundRtp(r) => Some(r),
            _ => None,
        })
        .collect();
    let outbound = report
        .outbound_rtp_streams()
        .map(|s| {
            let sent = &s.sent_rtp_stream_stats;
            let ssrc = sent.rtp_stream_stats.ssrc;
            let remote = remote_inbound
                .iter()
                .find(|r| r.received_rtp_stream_stats.rtp_stream_stats.ssrc == ssrc);
            OutboundTrackStats {
                ssrc,
                kind: sent.rtp_stream_stats.kind.to_string(),
                bytes: sent.bytes_sent,
                packets: sent.packets_sent,
                rtt_ms: remote.map_or(0.0, |r| r.round_trip_time * 1000.0),
                fraction_lost: remote.map_or(0.0, |r| r.fraction_lost),
                nacks: u64::from(s.nack_count),
                bitrate_bps: meter.rate((false, ssrc), sent.bytes_sent, now),
            }
        })
        .collect();
    MemberStats {
        member,
        connection_state,
        candidate_pair: selected_pair(report),
        inbound,
        outbound,
    }
}

/// The transport's selected candidate pair, with both candidates.
fn selected_pair(report: &RTCStatsReport) -> Option<CandidatePairStats> {
    let selected = &report.transport()?.selected_candidate_pair_id;
    let Some(RTCStatsReportEntry::IceCandidatePair(pair)) = report.get(selected) else {
        return None;
    };
    let candidate = |id: &str| match report.get(id) {
        Some(RTCStatsReportEntry::LocalCandidate(c) | RTCStatsReportEntry::RemoteCandidate(c)) => {
            candidate_stats(c)
        }
        _ => CandidateStats {
            candidate_type: "unknown".to_owned(),
            address: None,
            port: 0,
            protocol: String::new(),
            relay_protocol: None,
        },
    };
    Some(CandidatePairStats {
        local: candidate(&pair.local_candidate_id),
        remote: candidate(&pair.remote_candidate_id),
        rtt_ms: pair.current_round_trip_time * 1000.0,
        bytes_sent: pair.bytes_sent,
        bytes_received: pair.bytes_received,
    })
}

fn candidate_stats(c: &RTCIceCandidateStats) -> CandidateStats {
    CandidateStats {
        candidate_type: c.candidate_type.to_string(),
        address: c.address.clone(),
        port: c.port,
        protocol: c.protocol.clone(),
        relay_protocol: match c.relay_protocol {
            RTCIceServerTransportProtocol::Udp => Some("udp".to_owned()),
            RTCIceServerTransportProtocol::Tcp => Some("tcp".to_owned()),
            RTCIceServerTransportProtocol::Tls => Some("tls".to_owned()),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bitrate_is_derived_between_snapshots() {
        let mut meter = BitrateMeter::default();
        let t0 = Instant::now();
        assert_eq!(meter.rate((true, 1), 1000, t0), 0.0);
        let rate = meter.rate((true, 1), 2000, t0 + Duration::from_secs(1));
        assert!((rate - 8000.0).abs() < 1e-6);
    }
}
