//! Statistics of the forwarding unit: per forwarded track, its source and
//! every leg.

use serde::Serialize;

use super::layer_policy::LayerPreference;
use crate::signalling::MemberId;

/// The layers a leg forwards now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ForwardedLayer {
    /// SSRC of the source encoding.
    pub ssrc: u32,
    /// Its rid, with simulcast.
    pub rid: Option<String>,
    /// Its rank among the source's encodings (0: the lowest).
    pub encoding: u8,
    /// Highest spatial layer forwarded within it (`None`: all).
    pub max_spatial: Option<u8>,
    /// Highest temporal layer forwarded within it (`None`: all).
    pub max_temporal: Option<u8>,
}

/// One leg: a forwarded track as one member receives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LegStats {
    /// The member receiving it.
    pub member: MemberId,
    /// The leg's SSRC (what the member's stats call the stream).
    pub ssrc: u32,
    /// Packets are being forwarded (false: waiting for a keyframe, paused,
    /// not connected yet, or the source is silent).
    pub forwarding: bool,
    /// The layers forwarded now.
    #[serde(skip)]
    pub layer: Option<ForwardedLayer>,
    /// The member's preference.
    #[serde(skip)]
    pub preference: LayerPreference,
    /// Highest encoding the leg's losses allow now (`None`: no limit).
    pub quality_cap: Option<u8>,
    /// Times the leg's losses took it a layer down.
    pub downgrades: u64,
    /// Packets sent.
    pub packets: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// Packets the connection could not take (queue full) or not send yet.
    pub packets_dropped: u64,
    /// Keyframe requests (PLI/FIR) from the member.
    pub keyframe_requests: u64,
    /// NACKs from the member.
    pub nacks: u64,
    /// Sequence numbers those NACKs asked for.
    pub nacked_packets: u64,
    /// Packets resent to the member from the leg's send buffer (never asked
    /// of the publisher).
    pub retransmissions: u64,
    /// Payload bytes resent.
    pub retransmitted_bytes: u64,
    /// Sender reports left out before the publisher's clock was known.
    pub sender_reports_left_out: u64,
    /// Round trip from the member's receiver reports, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Fraction lost in the member's latest receiver report (0.0–1.0).
    pub fraction_lost: f64,
    /// Packets lost in all, as the member counts them.
    pub packets_lost: u64,
}

/// One forwarded track: its source (shared by every copy of the same
/// remote track) and its legs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ForwardedTrackStats {
    /// The forwarded track's id in the call it is sent to.
    pub track_id: String,
    /// The member whose track it is.
    pub source_member: MemberId,
    /// The remote track it forwards.
    pub source_track_id: String,
    /// Packets received from the publisher.
    pub packets_received: u64,
    /// Payload bytes received from the publisher.
    pub bytes_received: u64,
    /// Keyframe requests from legs (starts, switches, subscribers' PLIs).
    pub keyframe_requests_received: u64,
    /// Keyframe requests sent to the publisher (coalesced, rate-limited).
    pub keyframe_requests_sent: u64,
    /// One entry per member it is sent to.
    pub legs: Vec<LegStats>,
}
