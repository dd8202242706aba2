//! Notices a track whose packets keep arriving but give no usable frames
//! (none at all, or only video frames that cannot be decoded because a
//! reference was lost), asks for a keyframe while that lasts (throttled),
//! and reports it. Sans-I/O: packets, frames and the time in; decisions out.
//!
//! A video frame is usable when it is a keyframe or follows a usable frame
//! without a discontinuity; after a loss, frames until the next keyframe
//! are counted as dropped while waiting for a keyframe. Audio frames are
//! always usable. A track whose packets stop (muted, paused) is not stalled.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::frame::EncodedFrame;

/// Default time without a usable frame, packets arriving, before a track
/// counts as stalled.
pub(crate) const DEFAULT_STALL_BOUND: Duration = Duration::from_secs(1);

/// What the watch decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StallOutput {
    /// Ask the sender for a keyframe (video only).
    RequestKeyframe,
    /// The track has stalled: no usable frame for `duration`, while
    /// `packets` packets arrived.
    Stalled {
        /// Time since the last usable frame (or the first packet).
        duration: Duration,
        /// Packets that arrived in that time.
        packets: u64,
    },
    /// Usable frames come again after a stall of `duration`.
    Recovered {
        /// How long the stall lasted.
        duration: Duration,
    },
}

/// One track's watch.
#[derive(Debug)]
pub(crate) struct StallWatch {
    video: bool,
    bound: Duration,
    interval: Duration,
    /// The last usable frame, or the first packet before there was one.
    anchor: Option<Instant>,
    last_packet: Option<Instant>,
    packets_since_usable: u64,
    /// Video whose reference chain is broken until the next keyframe.
    waiting_for_keyframe: bool,
    stalled: bool,
    last_request: Option<Instant>,
    out: VecDeque<StallOutput>,
    /// Frames dropped while waiting for a keyframe.
    pub waiting_drops: u64,
    /// Stalls seen.
    pub stalls: u64,
    /// Keyframe requests decided.
    pub requests: u64,
}

impl StallWatch {
    /// A watch for a video (`true`) or audio track: stalled after `bound`
    /// without usable frames, a keyframe request every `interval` while so.
    pub fn new(video: bool, bound: Duration, interval: Duration) -> Self {
        Self {
            video,
            bound,
            interval,
            anchor: None,
            last_packet: None,
            packets_since_usable: 0,
            waiting_for_keyframe: video,
            stalled: false,
            last_request: None,
            out: VecDeque::new(),
            waiting_drops: 0,
            stalls: 0,
            requests: 0,
        }
    }

    /// Whether the track is stalled now.
    pub fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// A packet arrived at `now`.
    pub fn on_packet(&mut self, now: Instant) {
        self.anchor.get_or_insert(now);
        self.last_packet = Some(now);
        self.packets_since_usable += 1;
    }

    /// A frame came out at `now`; returns whether a decoder can use it.
    pub fn on_frame(&mut self, frame: &EncodedFrame, now: Instant) -> bool {
        if self.video {
            if frame.keyframe {
                self.waiting_for_keyframe = false;
            } else if frame.discontinuity {
                self.waiting_for_keyframe = true;
            }
            if self.waiting_for_keyframe {
                self.waiting_drops += 1;
                return false;
            }
        }
        if self.stalled {
            let since = self.anchor.unwrap_or(now);
            self.out.push_back(StallOutput::Recovered {
                duration: now.saturating_duration_since(since),
            });
            self.stalled = false;
        }
        self.anchor = Some(now);
        self.packets_since_usable = 0;
        self.last_request = None;
        true
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.packets_since_usable == 0 {
            return None;
        }
        if !self.stalled {
            return Some(self.anchor? + self.bound);
        }
        match (self.video, self.last_request) {
            (true, Some(last)) => Some(last + self.interval),
            (true, None) => self.anchor,
            (false, _) => None,
        }
    }

    /// Decides at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let (Some(anchor), Some(last_packet)) = (self.anchor, self.last_packet) else {
            return;
        };
        let starved = self.packets_since_usable > 0
            && now.saturating_duration_since(anchor) >= self.bound
            && now.saturating_duration_since(last_packet) < self.bound;
        if !starved {
            return;
        }
        if !self.stalled {
            self.stalled = true;
            self.stalls += 1;
            self.out.push_back(StallOutput::Stalled {
                duration: now.saturating_duration_since(anchor),
                packets: self.packets_since_usable,
            });
        }
        let due = self
            .last_request
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if self.video && due {
            self.last_request = Some(now);
            self.requests += 1;
            self.out.push_back(StallOutput::RequestKeyframe);
        }
    }

    /// The next decision, if any.
    pub fn poll_output(&mut self) -> Option<StallOutput> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use bytes::Bytes;

    fn frame(keyframe: bool, discontinuity: bool, at: Instant) -> EncodedFrame {
        EncodedFrame {
            codec: Codec::Vp9,
            data: Bytes::from_static(b"x"),
            rtp_timestamp: 0,
            timestamp: Duration::ZERO,
            keyframe,
            discontinuity,
            received_at: at,
            sender_clock: None,
        }
    }

    fn outputs(w: &mut StallWatch) -> Vec<StallOutput> {
        std::iter::from_fn(|| w.poll_output()).collect()
    }

    const SECOND: Duration = Duration::from_secs(1);

    /// Packets every 33 ms from `from` for `span`.
    fn packets(w: &mut StallWatch, from: Instant, span: Duration) -> Instant {
        let mut t = from;
        while t < from + span {
            w.on_packet(t);
            w.handle_timeout(t);
            t += Duration::from_millis(33);
        }
        t
    }

    #[test]
    fn packets_without_frames_stall_and_ask_for_keyframes_throttled() {
        let start = Instant::now();
        let mut w = StallWatch::new(true, SECOND, SECOND);
        w.on_packet(start);
        assert_eq!(w.poll_timeout(), Some(start + SECOND));
        let t = packets(&mut w, start, Duration::from_millis(990));
        assert!(outputs(&mut w).is_empty(), "within the bound");
        let t = packets(&mut w, t, Duration::from_millis(100));
        let out = outputs(&mut w);
        assert!(matches!(out[0], StallOutput::Stalled { packets, .. } if packets > 25));
        assert_eq!(out[1], StallOutput::RequestKeyframe);
        // Half a second later: no new request yet; a second later: one.
        let t = packets(&mut w, t, Duration::from_millis(500));
        assert!(outputs(&mut w).is_empty());
        packets(&mut w, t, Duration::from_millis(600));
        assert_eq!(outputs(&mut w), vec![StallOutput::RequestKeyframe]);
        assert_eq!((w.stalls, w.requests), (1, 2));
    }

    #[test]
    fn frames_after_a_loss_are_unusable_until_a_keyframe() {
        let start = Instant::now();
        let mut w = StallWatch::new(true, SECOND, SECOND);
        w.on_packet(start);
        assert!(
            !w.on_frame(&frame(false, false, start), start),
            "no keyframe yet"
        );
        assert!(w.on_frame(&frame(true, false, start), start));
        assert!(w.on_frame(&frame(false, false, start), start));
        assert!(
            !w.on_frame(&frame(false, true, start), start),
            "after a loss"
        );
        assert!(!w.on_frame(&frame(false, false, start), start));
        // Broken frames keep coming for a second: a stall.
        let t = packets(&mut w, start, Duration::from_millis(1100));
        assert!(!w.on_frame(&frame(false, false, t), t));
        assert!(w.is_stalled());
        assert!(w.on_frame(&frame(true, false, t), t));
        let out = outputs(&mut w);
        assert!(matches!(out[0], StallOutput::Stalled { duration, .. } if duration >= SECOND));
        assert_eq!(out[1], StallOutput::RequestKeyframe);
        assert!(matches!(out[2], StallOutput::Recovered { duration } if duration >= SECOND));
        assert_eq!(out.len(), 3);
        assert_eq!(w.waiting_drops, 4);
    }

    #[test]
    fn a_track_whose_packets_stop_is_not_stalled() {
        let start = Instant::now();
        let mut w = StallWatch::new(true, SECOND, SECOND);
        w.on_packet(start);
        w.on_frame(&frame(true, false, start), start);
        w.on_packet(start + Duration::from_millis(10)); // then silence (muted)
        w.handle_timeout(start + Duration::from_secs(5));
        assert!(outputs(&mut w).is_empty());
        assert!(!w.is_stalled());
    }

    #[test]
    fn usable_frames_keep_a_track_healthy() {
        let start = Instant::now();
        let mut w = StallWatch::new(false, SECOND, SECOND);
        let mut t = start;
        for _ in 0..200 {
            w.on_packet(t);
            assert!(
                w.on_frame(&frame(false, true, t), t),
                "audio is always usable"
            );
            w.handle_timeout(t);
            t += Duration::from_millis(20);
        }
        assert!(outputs(&mut w).is_empty());
        assert_eq!(w.poll_timeout(), None);
    }
}
