//! What a receiver could not use, and why: [`FrameDrops`] counters and the
//! [`StallReport`] of a track whose packets give no usable frames.

use std::time::Duration;

use serde::Serialize;

use crate::codec::Codec;
use crate::signalling::MemberId;

/// Frames left out, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FrameDrops {
    /// A packet of the frame could not be depacketized (malformed or
    /// unexpected payload).
    pub depacketization: u64,
    /// Packets of the frame were lost (or the stream was joined mid-frame).
    pub incomplete: u64,
    /// Video frames that arrived whole but could not be decoded because a
    /// frame they refer to was lost: they wait for the next keyframe.
    pub waiting_for_keyframe: u64,
}

impl FrameDrops {
    /// All frames left out.
    pub fn total(&self) -> u64 {
        self.depacketization + self.incomplete + self.waiting_for_keyframe
    }
}

impl std::ops::AddAssign for FrameDrops {
    fn add_assign(&mut self, other: FrameDrops) {
        self.depacketization += other.depacketization;
        self.incomplete += other.incomplete;
        self.waiting_for_keyframe += other.waiting_for_keyframe;
    }
}

/// A track whose packets keep arriving but that has given no usable frame
/// for a while (about a second): frames are being lost, not just late.
/// A video track asks the sender for a keyframe at the same time, and again
/// about once a second while the stall lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StallReport {
    /// The member sending the track.
    pub member: MemberId,
    /// The track.
    pub track_id: String,
    /// Its codec.
    pub codec: Codec,
    /// Time since the last usable frame (or the track's first packet).
    pub duration: Duration,
    /// Packets that arrived in that time.
    pub packets: u64,
    /// Frames the track has left out since it started, by cause.
    pub drops: FrameDrops,
    /// The latest depacketization error, if any.
    pub last_error: Option<String>,
}

impl std::fmt::Display for StallReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} track {} of {}: no usable frame for {:.1} s while {} packets arrived \
             (frames dropped: {} depacketization errors, {} incomplete, {} waiting for a keyframe)",
            self.codec,
            self.track_id,
            self.member,
            self.duration.as_secs_f64(),
            self.packets,
            self.drops.depacketization,
            self.drops.incomplete,
            self.drops.waiting_for_keyframe
        )?;
        if let Some(error) = &self.last_error {
            write!(f, "; last error: {error}")?;
        }
        Ok(())
    }
}
