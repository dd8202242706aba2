//! [`LayerSwitch`]: which packets of a (possibly simulcast, possibly
//! scalable) source go into one outgoing stream, and with which numbers.
//!
//! The caller names a [`LayerTarget`]: a simulcast encoding (its SSRC) and
//! the highest spatial and temporal layer wanted within it. Going down
//! within the encoding happens at once (a decoder of a lower layer does not
//! need the layers above it; VP9's marker bit moves to the top layer kept).
//! Going to another encoding, or up a spatial layer, waits for a keyframe
//! of the target (asked for with [`SwitchEvent::RequestKeyframe`], again every
//! `keyframe_interval` while waiting); the previous layer keeps flowing until
//! then. Temporal layers go up at a switching-up point. A source that was
//! silent for `resume_after` starts again at a keyframe. The numbers are the
//! [`Rewriter`]'s.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::packet_info::PacketInfo;
use super::rewriter::{Rewriter, Rewritten};
use crate::codec::Codec;

/// The layers one outgoing stream wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LayerTarget {
    /// The simulcast encoding (its SSRC; the only one without simulcast).
    pub ssrc: u32,
    /// Highest spatial layer within the encoding (VP9/AV1 SVC).
    pub max_spatial: u8,
    /// Highest temporal layer.
    pub max_temporal: u8,
}

impl LayerTarget {
    /// Every layer of encoding `ssrc`.
    pub(crate) fn all_of(ssrc: u32) -> Self {
        Self {
            ssrc,
            max_spatial: u8::MAX,
            max_temporal: u8::MAX,
        }
    }
}

/// What the caller has to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwitchEvent {
    /// Ask the source for a keyframe of encoding `ssrc`.
    RequestKeyframe {
        /// The encoding.
        ssrc: u32,
    },
    /// The stream now carries `to` (from `from`, or starting).
    Switched {
        /// The layers carried before, if any.
        from: Option<LayerTarget>,
        /// The layers carried from now on.
        to: LayerTarget,
    },
}

/// A packet's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Send it with these numbers and this marker bit.
    Forward {
        /// Sequence number, timestamp, VP8 ids.
        numbers: Rewritten,
        /// The RTP marker bit to send.
        marker: bool,
    },
    /// Leave it out.
    Drop,
}

/// Layer selection and rewriting for one outgoing stream (see the module documentation).
#[derive(Debug)]
pub(crate) struct LayerSwitch {
    codec: Codec,
    rewriter: Rewriter,
    current: Option<LayerTarget>,
    target: Option<LayerTarget>,
    /// Highest temporal layer forwarded now (raised at switching-up points).
    temporal: u8,
    /// When the current encoding's latest packet arrived.
    last_packet: Option<Instant>,
    /// When a keyframe of the target was last asked for.
    requested_at: Option<Instant>,
    keyframe_interval: Duration,
    resume_after: Duration,
    /// The first segment may start at any packet (for a receiver with a
    /// keyframe gate of its own).
    start_anywhere: bool,
    events: VecDeque<SwitchEvent>,
}

impl LayerSwitch {
    /// A stream of `codec` that forwards nothing until it has a target.
    pub(crate) fn new(codec: Codec, keyframe_interval: Duration, resume_after: Duration) -> Self {
        Self {
            codec,
            rewriter: Rewriter::new(codec.clock_rate()),
            current: None,
            target: None,
            temporal: 0,
            last_packet: None,
            requested_at: None,
            keyframe_interval,
            resume_after,
            start_anywhere: false,
            events: VecDeque::new(),
        }
    }

    /// Lets the very first segment start at any packet of the target, not
    /// only at a keyframe: the stream then begins as the source does (its
    /// reader waits for a keyframe itself); later switches still wait.
    pub(crate) fn start_anywhere(mut self) -> Self {
        self.start_anywhere = true;
        self
    }

    /// The layers being forwarded.
    pub(crate) fn current(&self) -> Option<LayerTarget> {
        self.current
    }

    /// The layers wanted.
    pub(crate) fn target(&self) -> Option<LayerTarget> {
        self.target
    }

    /// Output minus input timestamp of the encoding forwarded now.
    pub(crate) fn timestamp_offset(&self) -> Option<(u32, u32)> {
        let source = self.rewriter.source()?;
        Some((source, self.rewriter.timestamp_offset()?))
    }

    /// Sets the layers wanted (`None`: forward nothing, e.g. a paused leg).
    pub(crate) fn set_target(&mut self, target: Option<LayerTarget>, now: Instant) {
        if self.target == target {
            return;
        }
        self.target = target;
        let Some(target) = target else {
            self.current = None;
            return;
        };
        match self.current {
            Some(current)
                if current.ssrc == target.ssrc && target.max_spatial <= current.max_spatial =>
            {
                // Down (or sideways) within the encoding: at once.
                self.current = Some(target);
                self.temporal = self.temporal.min(target.max_temporal);
                if current != target {
                    self.events.push_back(SwitchEvent::Switched {
                        from: Some(current),
                        to: target,
                    });
                }
            }
            _ => self.request_keyframe(target.ssrc, now),
        }
    }

    /// Starts over at the target's next keyframe (e.g. after a pause the
    /// receiver may have lost its references).
    pub(crate) fn restart(&mut self, now: Instant) {
        self.current = None;
        if let Some(target) = self.target {
            self.request_keyframe(target.ssrc, now);
        }
    }

    fn request_keyframe(&mut self, ssrc: u32, now: Instant) {
        if self.codec.kind() == crate::codec::MediaKind::Video {
            self.events.push_back(SwitchEvent::RequestKeyframe { ssrc });
        }
        self.requested_at = Some(now);
    }

    /// Decides about `packet` (of encoding `ssrc`, read as `info`), which
    /// arrived `now`. `aligned` gives the packet's timestamp on the clock
    /// of the encoding forwarded so far, when known (sender reports).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        ssrc: u32,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        info: &PacketInfo,
        now: Instant,
        aligned: impl FnOnce(u32, u32) -> Option<u32>,
    ) -> Verdict {
        // A source that comes back after a pause starts at a keyframe.
        if let Some(current) = self.current
            && current.ssrc == ssrc
            && self
                .last_packet
                .is_some_and(|t| now.saturating_duration_since(t) >= self.resume_after)
        {
            self.restart(now);
        }
        if let Some(target) = self.target
            && self.current != Some(target)
            && target.ssrc == ssrc
            && ((info.keyframe && info.spatial_id == 0)
                || (self.start_anywhere && self.rewriter.source().is_none()))
        {
            let from = self.current;
            let same_source = self.rewriter.source() == Some(ssrc);
            if !same_source || from.is_none() {
                let aligned_timestamp = self
                    .rewriter
                    .source()
                    .filter(|&s| s != ssrc)
                    .and_then(|previous| aligned(previous, timestamp));
                self.rewriter
                    .begin(ssrc, sequence, timestamp, info, aligned_timestamp, now);
            }
            self.current = Some(target);
            self.temporal = target.max_temporal;
            self.requested_at = None;
            self.events
                .push_back(SwitchEvent::Switched { from, to: target });
        }
        let Some(current) = self.current else {
            self.repeat_request(now);
            return Verdict::Drop;
        };
        if current.ssrc != ssrc {
            self.repeat_request(now);
            return Verdict::Drop;
        }
        self.last_packet = Some(now);
        if self.current != self.target {
            self.repeat_request(now);
        }
        if info.keyframe && info.spatial_id == 0 {
            // Every temporal layer may follow a keyframe.
            self.temporal = current.max_temporal;
        } else if info.temporal_id > self.temporal
            && info.temporal_id <= current.max_temporal
            && info.layer_sync
            && info.frame_start
        {
            self.temporal = info.temporal_id;
        }
        if info.empty || info.spatial_id > current.max_spatial || info.temporal_id > self.temporal {
            self.rewriter.drop_packet(ssrc, sequence, info);
            return Verdict::Drop;
        }
        match self.rewriter.rewrite(ssrc, sequence, timestamp, info, now) {
            Some(numbers) => Verdict::Forward {
                numbers,
                // VP9: the picture ends with the top spatial layer kept.
                marker: marker
                    || (self.codec == Codec::Vp9
                        && info.frame_end
                        && info.spatial_id == current.max_spatial),
            },
            None => Verdict::Drop,
        }
    }

    /// While waiting for a keyframe, asks again every `keyframe_interval`.
    fn repeat_request(&mut self, now: Instant) {
        let Some(target) = self.target else { return };
        if self.current == Some(target) {
            return;
        }
        if self
            .requested_at
            .is_none_or(|t| now.saturating_duration_since(t) >= self.keyframe_interval)
        {
            self.request_keyframe(target.ssrc, now);
        }
    }

    /// The next thing to act on.
    pub(crate) fn poll_event(&mut self) -> Option<SwitchEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn key(tid: u8) -> PacketInfo {
        PacketInfo {
            frame_start: true,
            keyframe: true,
            layer_sync: true,
            temporal_id: tid,
            ..Default::default()
        }
    }

    fn delta(tid: u8, sync: bool) -> PacketInfo {
        PacketInfo {
            frame_start: true,
            temporal_id: tid,
            layer_sync: sync,
            ..Default::default()
        }
    }

    fn forwarded(v: Verdict) -> Option<u16> {
        match v {
            Verdict::Forward { numbers, .. } => Some(numbers.sequence_number),
            Verdict::Drop => None,
        }
    }

    fn events(s: &mut LayerSwitch) -> Vec<SwitchEvent> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    #[test]
    fn a_leg_starts_on_a_keyframe_and_asks_for_one() {
        let t = Instant::now();
        let mut s = LayerSwitch::new(Codec::Vp8, SECOND, 2 * SECOND);
        s.set_target(Some(LayerTarget::all_of(1)), t);
        assert_eq!(events(&mut s), [SwitchEvent::RequestKeyframe { ssrc: 1 }]);
        assert_eq!(
            forwarded(s.push(1, 10, 0, false, &delta(0, false), t, |_, _| None)),
            None
        );
        // Asked again only after the interval.
        assert!(events(&mut s).is_empty());
        let later = t + SECOND;
        assert_eq!(
            forwarded(s.push(1, 11, 0, false, &delta(0, false), later, |_, _| None)),
            None
        );
        assert_eq!(events(&mut s), [SwitchEvent::RequestKeyframe { ssrc: 1 }]);
        assert_eq!(
            forwarded(s.push(1, 12, 3000, false, &key(0), later, |_, _| None)),
            Some(12)
        );
        assert_eq!(
            events(&mut s),
            [SwitchEvent::Switched {
                from: None,
                to: LayerTarget::all_of(1)
            }]
        );
        assert_eq!(
            forwarded(s.push(1, 13, 6000, true, &delta(0, false), later, |_, _| None)),
            Some(13)
        );
    }

    #[test]
    fn simulcast_switches_wait_for_the_new_layers_keyframe_and_stay_continuous() {
        let t = Instant::now();
        let mut s = LayerSwitch::new(Codec::Vp8, SECOND, 2 * SECOND);
        s.set_target(Some(LayerTarget::all_of(1)), t);
        s.push(1, 100, 0, false, &key(0), t, |_, _| None);
        s.set_target(Some(LayerTarget::all_of(2)), t);
        assert!(events(&mut s).contains(&SwitchEvent::RequestKeyframe { ssrc: 2 }));
        // The old layer flows on; the new one's delta frames are not taken.
        assert_eq!(
            forwarded(s.push(2, 5000, 0, false, &delta(0, false), t, |_, _| None)),
            None
        );
        assert_eq!(
            forwarded(s.push(1, 101, 3000, false, &delta(0, false), t, |_, _| None)),
            Some(101)
        );
        let switched = s.push(2, 5001, 90_000, false, &key(0), t, |prev, ts| {
            assert_eq!((prev, ts), (1, 90_000));
            Some(6000)
        });
        let Verdict::Forward { numbers, .. } = switched else {
            panic!("{switched:?}")
        };
        assert_eq!((numbers.sequence_number, numbers.timestamp), (102, 6000));
        assert_eq!(
            forwarded(s.push(1, 102, 6000, false, &delta(0, false), t, |_, _| None)),
            None
        );
        assert_eq!(
            forwarded(s.push(2, 5002, 93_000, false, &delta(0, false), t, |_, _| None)),
            Some(103)
        );
    }

    #[test]
    fn temporal_layers_go_down_at_once_and_up_at_a_switching_point() {
        let t = Instant::now();
        let mut s = LayerSwitch::new(Codec::Vp8, SECOND, 2 * SECOND);
        let low = LayerTarget {
            max_temporal: 0,
            ..LayerTarget::all_of(1)
        };
        s.set_target(Some(low), t);
        assert_eq!(
            forwarded(s.push(1, 1, 0, false, &key(0), t, |_, _| None)),
            Some(1)
        );
        assert_eq!(
            forwarded(s.push(1, 2, 1, false, &delta(2, true), t, |_, _| None)),
            None
        );
        assert_eq!(
            forwarded(s.push(1, 3, 2, false, &delta(1, true), t, |_, _| None)),
            None
        );
        assert_eq!(
            forwarded(s.push(1, 4, 3, false, &delta(0, false), t, |_, _| None)),
            Some(2)
        );
        // Up: within the encoding, at a switching-up point, no keyframe needed.
        s.set_target(Some(LayerTarget::all_of(1)), t);
        events(&mut s);
        assert_eq!(
            forwarded(s.push(1, 5, 4, false, &delta(2, false), t, |_, _| None)),
            None
        );
        let up = s.push(1, 6, 5, false, &key(0), t, |_, _| None);
        assert_eq!(forwarded(up), Some(3));
        assert_eq!(
            forwarded(s.push(1, 7, 6, false, &delta(2, false), t, |_, _| None)),
            Some(4)
        );
        // Down again: at once.
        s.set_target(Some(low), t);
        assert_eq!(
            forwarded(s.push(1, 8, 7, false, &delta(2, false), t, |_, _| None)),
            None
        );
        assert_eq!(
            forwarded(s.push(1, 9, 8, false, &delta(0, false), t, |_, _| None)),
            Some(5)
        );
    }

    #[test]
    fn vp9_spatial_layers_above_the_target_are_cut_and_the_marker_moves() {
        let t = Instant::now();
        let mut s = LayerSwitch::new(Codec::Vp9, SECOND, 2 * SECOND);
        let target = LayerTarget {
            max_spatial: 1,
            ..LayerTarget::all_of(1)
        };
        s.set_target(Some(target), t);
        let layer = |sid: u8, key: bool, end: bool| PacketInfo {
            frame_start: true,
            frame_end: end,
            keyframe: key,
            spatial_id: sid,
            ..Default::default()
        };
        assert_eq!(
            forwarded(s.push(1, 1, 0, false, &layer(0, true, true), t, |_, _| None)),
            Some(1)
        );
        let top_kept = s.push(1, 2, 0, false, &layer(1, true, true), t, |_, _| None);
        assert!(matches!(top_kept, Verdict::Forward { marker: true, .. }));
        assert_eq!(
            forwarded(s.push(1, 3, 0, true, &layer(2, true, true), t, |_, _| None)),
            None
        );
        assert_eq!(
            forwarded(s.push(1, 4, 1, false, &layer(0, false, true), t, |_, _| None)),
            Some(3)
        );
    }

    #[test]
    fn a_source_back_from_a_pause_restarts_at_a_keyframe() {
        let t = Instant::now();
        let mut s = LayerSwitch::new(Codec::Vp8, SECOND, 2 * SECOND);
        s.set_target(Some(LayerTarget::all_of(1)), t);
        s.push(1, 1, 0, false, &key(0), t, |_, _| None);
        events(&mut s);
        let back = t + 3 * SECOND;
        assert_eq!(
            forwarded(s.push(1, 2, 3000, false, &delta(0, false), back, |_, _| None)),
            None
        );
        assert_eq!(events(&mut s), [SwitchEvent::RequestKeyframe { ssrc: 1 }]);
        assert_eq!(
            forwarded(s.push(1, 90, 6000, false, &key(0), back, |_, _| None)),
            Some(2)
        );
        // Audio needs no keyframe: it resumes with the next packet.
        let mut a = LayerSwitch::new(Codec::Opus, SECOND, 2 * SECOND);
        let opus = PacketInfo::read(Codec::Opus, &[1], false);
        a.set_target(Some(LayerTarget::all_of(9)), t);
        assert_eq!(
            forwarded(a.push(9, 1, 0, true, &opus, t, |_, _| None)),
            Some(1)
        );
        assert_eq!(
            forwarded(a.push(9, 50, 48_000, true, &opus, back, |_, _| None)),
            Some(2)
        );
        assert!(
            events(&mut a)
                .iter()
                .all(|e| !matches!(e, SwitchEvent::RequestKeyframe { .. }))
        );
    }

    #[test]
    fn a_receive_path_may_start_anywhere_but_switches_on_keyframes() {
        let t = Instant::now();
        let mut s = LayerSwitch::new(Codec::Vp8, SECOND, Duration::MAX).start_anywhere();
        s.set_target(Some(LayerTarget::all_of(1)), t);
        assert_eq!(
            forwarded(s.push(1, 7, 0, false, &delta(0, false), t, |_, _| None)),
            Some(7)
        );
        s.set_target(Some(LayerTarget::all_of(2)), t);
        assert_eq!(
            forwarded(s.push(2, 70, 0, false, &delta(0, false), t, |_, _| None)),
            None
        );
        assert_eq!(
            forwarded(s.push(2, 71, 0, false, &key(0), t, |_, _| None)),
            Some(8)
        );
    }

    #[test]
    fn no_target_forwards_nothing() {
        let t = Instant::now();
        let mut s = LayerSwitch::new(Codec::Vp8, SECOND, 2 * SECOND);
        assert_eq!(
            forwarded(s.push(1, 1, 0, false, &key(0), t, |_, _| None)),
            None
        );
        s.set_target(Some(LayerTarget::all_of(1)), t);
        assert_eq!(
            forwarded(s.push(1, 2, 0, false, &key(0), t, |_, _| None)),
            Some(2)
        );
        s.set_target(None, t);
        assert_eq!(
            forwarded(s.push(1, 3, 0, false, &delta(0, false), t, |_, _| None)),
            None
        );
    }
}
