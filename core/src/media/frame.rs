//! Value types for encoded media going out ([`MediaSample`]) and coming in ([`EncodedFrame`]).

use std::time::Duration;

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
}
