//! The raw RTP tap of a [`RemoteTrack`](super::RemoteTrack): every packet as
//! it arrives, after SRTP and after RTX retransmissions are unwrapped,
//! before the frame assembler (so before any reordering or waiting), with
//! its arrival time, its encoding and what its payload descriptor says.
//!
//! Sinks are called on the track's receive task, synchronously, with a
//! borrowed packet: no copy, no allocation, no lock held across an await.
//! A sink must return quickly (a forwarding leg queues the packet to its
//! connection without waiting) and never block.

use std::sync::Arc;
use std::time::Instant;

use rtc::rtp;

use super::frame::SenderClock;
use crate::rtp::encodings::Encoding;
use crate::rtp::packet_info::PacketInfo;

/// One tapped packet.
#[derive(Debug)]
pub(crate) struct TappedPacket<'a> {
    /// The packet as received (RTX unwrapped: the encoding's own SSRC and numbers).
    pub packet: &'a rtp::Packet,
    /// What its payload descriptor says (keyframe, layer ids, VP8 picture ids).
    pub info: &'a PacketInfo,
    /// When it arrived.
    pub arrival: Instant,
}

/// Receives a remote track's RTP as it arrives (see the module documentation).
pub(crate) trait RtpSink: Send + Sync {
    /// A packet arrived.
    fn on_packet(&self, packet: &TappedPacket<'_>);

    /// The track's encodings changed (one appeared, started or stopped
    /// flowing, or their order changed); lowest first. Also called once
    /// when the sink is added.
    fn on_encodings(&self, encodings: &[Encoding], now: Instant);

    /// A sender report of encoding `ssrc` arrived (also called when the
    /// sink is added, for every encoding with one).
    fn on_sender_report(&self, ssrc: u32, clock: SenderClock);

    /// The track ended.
    fn on_end(&self);
}

/// The sinks of a track, with a generation that changes with the list so
/// the receive task can keep its own copy and look at this one only when
/// it changed.
#[derive(Default)]
pub(crate) struct Sinks {
    pub list: Vec<Arc<dyn RtpSink>>,
    pub generation: u64,
}

impl Sinks {
    /// Adds `sink`.
    pub(crate) fn add(&mut self, sink: Arc<dyn RtpSink>) {
        self.list.push(sink);
        self.generation += 1;
    }

    /// Removes `sink` (compared by address).
    pub(crate) fn remove(&mut self, sink: &Arc<dyn RtpSink>) {
        let before = self.list.len();
        self.list.retain(|s| !Arc::ptr_eq(s, sink));
        if self.list.len() != before {
            self.generation += 1;
        }
    }
}
