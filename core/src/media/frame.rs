//! Value types for encoded media going out ([`MediaSample`]) and coming in ([`EncodedFrame`]).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::Codec;

/// One encoded sample handed to a [`LocalTrack`](super::LocalTrack).
#[derive(Debug, Clone)]
pub struct MediaSample {
    /// Encoded bitstream of one frame (Opus packet, VP8/VP9 frame, H.264
    /// access unit in Annex-B, AV1 temporal unit as OBUs).
    pub data: Bytes,
    /// Presentation time of the sample on the track's own timeline, from any
    /// origin; it becomes the RTP timestamp.
    pub timestamp: Duration,
}

impl MediaSample {
    /// A sample with the given data and presentation time.
    pub fn new(data: impl Into<Bytes>, timestamp: Duration) -> Self {
        Self {
            data: data.into(),
            timestamp,
        }
    }
}

/// One encoded frame reassembled from RTP by a [`RemoteTrack`](super::RemoteTrack).
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// Codec of the bitstream.
    pub codec: Codec,
    /// The frame (same bitstream formats as [`MediaSample::data`]).
    pub data: Bytes,
    /// RTP timestamp of the frame's packets.
    pub rtp_timestamp: u32,
    /// Presentation time relative to the first frame of the track, from the
    /// RTP timestamps (rollover handled).
    pub timestamp: Duration,
    /// True when the frame can be decoded on its own (always true for audio).
    pub keyframe: bool,
    /// True when packets were lost or dropped before this frame.
    pub discontinuity: bool,
    /// When the frame's last packet arrived.
    pub received_at: Instant,
    /// The sender's latest clock mapping (from an RTCP sender report) known
    /// when the frame was complete; `None` until the first report arrives.
    pub sender_clock: Option<SenderClock>,
}

/// A sender's wallclock ↔ RTP clock mapping at one instant, from an RTCP
/// sender report. Tracks of one sender share the wallclock, which is what
/// aligns audio with video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderClock {
    /// NTP time (seconds since 1900 in the upper 32 bits, fraction in the lower).
    pub ntp_time: u64,
    /// The RTP timestamp that corresponds to `ntp_time`.
    pub rtp_timestamp: u32,
}

impl SenderClock {
    /// The sender's wallclock (nanoseconds since 1900) at RTP timestamp
    /// `rtp` of a stream clocked at `clock_rate` Hz. Timestamps within half
    /// the 32-bit range before or after the report are placed correctly.
    pub fn wallclock_nanos(&self, rtp: u32, clock_rate: u32) -> i64 {
        self.wallclock_nanos_at(rtp, f64::from(clock_rate))
    }

    /// Like [`wallclock_nanos`](Self::wallclock_nanos) with a measured clock
    /// rate (ticks per second of the sender's wallclock), to follow an RTP
    /// clock that drifts against the wallclock.
    pub fn wallclock_nanos_at(&self, rtp: u32, ticks_per_second: f64) -> i64 {
        let ticks = f64::from(rtp.wrapping_sub(self.rtp_timestamp) as i32);
        self.ntp_nanos() + (ticks * 1e9 / ticks_per_second.max(1.0)).round() as i64
    }

    /// The NTP time as nanoseconds since 1900.
    pub fn ntp_nanos(&self) -> i64 {
        let seconds = (self.ntp_time >> 32) as i64;
        let fraction = ((self.ntp_time & 0xFFFF_FFFF) * 1_000_000_000) >> 32;
        seconds * 1_000_000_000 + fraction as i64
    }

    /// A mapping that places RTP timestamp `rtp` at wallclock `nanos` (since 1900).
    pub fn from_wallclock_nanos(nanos: i64, rtp: u32) -> SenderClock {
        let nanos = nanos.max(0) as u64;
        let seconds = nanos / 1_000_000_000;
        let fraction = ((nanos % 1_000_000_000) << 32) / 1_000_000_000;
        SenderClock {
            ntp_time: (seconds << 32) | fraction,
            rtp_timestamp: rtp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SenderClock;

    #[test]
    fn sender_clock_maps_rtp_time_both_ways_across_wrap() {
        let clock = SenderClock::from_wallclock_nanos(3_900_000_000_000_000_000, u32::MAX - 899);
        let at = clock.wallclock_nanos(u32::MAX - 899, 90_000);
        assert!((at - 3_900_000_000_000_000_000).abs() <= 1);
        // 1800 ticks later at 90 kHz (past the wrap) is 20 ms later.
        let later = clock.wallclock_nanos(900, 90_000);
        assert!((later - at - 20_000_000).abs() <= 1);
        let earlier = clock.wallclock_nanos(u32::MAX - 899 - 48_000, 48_000);
        assert!((at - earlier - 1_000_000_000).abs() <= 1);
    }
}
