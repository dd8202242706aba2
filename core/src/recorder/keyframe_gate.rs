//! Keeps undecodable video out of a recording. Sans-I/O.
//!
//! A video track starts closed: nothing is written before its first
//! keyframe. After a loss the reference chain is broken, so the gate closes
//! again until the next keyframe. While closed it asks for a keyframe (PLI)
//! at once and then every `interval` until one arrives. Audio frames always
//! pass (every Opus packet decodes on its own); losses are only counted.

use std::time::{Duration, Instant};

use crate::media::EncodedFrame;

/// What the gate decided about a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write it.
    Pass,
    /// Drop it: the decoder could not use it.
    Drop,
}

/// One track's gate.
pub(crate) struct KeyframeGate {
    video: bool,
    open: bool,
    interval: Duration,
    last_request: Option<Instant>,
    /// Keyframe requests made.
    pub requests: u64,
    /// Frames dropped while closed.
    pub dropped: u64,
    /// Losses seen (frames that arrived after a discontinuity).
    pub gaps: u64,
}

impl KeyframeGate {
    /// A gate for a video (`true`) or audio track that repeats keyframe
    /// requests every `interval`.
    pub fn new(video: bool, interval: Duration) -> Self {
        Self {
            video,
            open: !video,
            interval,
            last_request: None,
            requests: 0,
            dropped: 0,
            gaps: 0,
        }
    }

    /// Whether `frame` may be written.
    pub fn on_frame(&mut self, frame: &EncodedFrame) -> Verdict {
        if frame.discontinuity {
            self.gaps += 1;
            if self.video && self.open {
                self.open = false;
                self.last_request = None; // ask at once
            }
        }
        if !self.open && frame.keyframe {
            self.open = true;
        }
        if self.open {
            Verdict::Pass
        } else {
            self.dropped += 1;
            Verdict::Drop
        }
    }

    /// Closes a video gate until the next keyframe (a new file starts).
    pub fn require_keyframe(&mut self) {
        if self.video && self.open {
            self.open = false;
            self.last_request = None;
        }
    }

    /// True when a keyframe request should be sent now.
    pub fn poll_request(&mut self, now: Instant) -> bool {
        if self.open {
            return false;
        }
        let due = self
            .last_request
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if due {
            self.last_request = Some(now);
            self.requests += 1;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use bytes::Bytes;

    fn frame(keyframe: bool, discontinuity: bool) -> EncodedFrame {
        EncodedFrame {
            codec: Codec::Vp8,
            data: Bytes::from_static(b"x"),
            rtp_timestamp: 0,
            timestamp: Duration::ZERO,
            keyframe,
            discontinuity,
            received_at: Instant::now(),
            sender_clock: None,
        }
    }

    #[test]
    fn video_waits_for_a_keyframe_and_asks_for_one_repeatedly() {
        let now = Instant::now();
        let mut gate = KeyframeGate::new(true, Duration::from_secs(1));
        assert!(gate.poll_request(now), "asks when recording starts");
        assert!(!gate.poll_request(now + Duration::from_millis(999)));
        assert_eq!(gate.on_frame(&frame(false, false)), Verdict::Drop);
        assert!(
            gate.poll_request(now + Duration::from_secs(1)),
            "asks again"
        );
        assert_eq!(gate.on_frame(&frame(true, false)), Verdict::Pass);
        assert_eq!(gate.on_frame(&frame(false, false)), Verdict::Pass);
        assert!(!gate.poll_request(now + Duration::from_secs(5)));
        assert_eq!(gate.requests, 2);
    }

    #[test]
    fn a_loss_closes_video_until_the_next_keyframe() {
        let now = Instant::now();
        let mut gate = KeyframeGate::new(true, Duration::from_secs(1));
        gate.on_frame(&frame(true, false));
        assert_eq!(gate.on_frame(&frame(false, true)), Verdict::Drop);
        assert!(gate.poll_request(now), "asks at once after the loss");
        assert_eq!(gate.on_frame(&frame(false, false)), Verdict::Drop);
        assert_eq!(gate.on_frame(&frame(true, false)), Verdict::Pass);
        assert_eq!((gate.gaps, gate.dropped), (1, 2));
    }

    #[test]
    fn audio_always_passes_and_counts_gaps() {
        let mut gate = KeyframeGate::new(false, Duration::from_secs(1));
        let mut lost = frame(true, true);
        lost.codec = Codec::Opus;
        assert_eq!(gate.on_frame(&lost), Verdict::Pass);
        assert!(!gate.poll_request(Instant::now()));
        assert_eq!(gate.gaps, 1);
    }
}
