//! Places the frames of one participant's tracks on one timeline. Sans-I/O.
//!
//! Every track's RTP timestamps are turned into the sender's wallclock with
//! the NTP ↔ RTP mapping of its latest RTCP sender report: tracks of one
//! sender share that wallclock, so audio and video keep the offset they were
//! sent with, gaps (pauses, muted tracks, Opus DTX) stay gaps, and the RTP
//! clocks' drift against the wallclock is corrected report by report. Frames
//! are held until their track's first report (at most `report_wait`; after
//! that the arrival time stands in for the wallclock), then released in
//! timeline order across tracks once every other track has caught up or the
//! frame has waited `interleave`. The first released frame is time zero.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use crate::media::{EncodedFrame, SenderClock};

/// Nanoseconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET_NANOS: i64 = 2_208_988_800 * 1_000_000_000;

/// A frame with its place on the participant's timeline.
#[derive(Debug)]
pub(crate) struct TimedFrame {
    /// Index of the track (as returned by [`Timeline::add_track`]).
    pub track: usize,
    /// Time since the start of the timeline.
    pub pts: Duration,
    /// The frame.
    pub frame: EncodedFrame,
}

struct TrackClock {
    clock_rate: u32,
    clock: Option<SenderClock>,
    /// The RTP clock's rate measured between sender reports (ticks per
    /// wallclock second); the nominal rate until two reports are apart.
    measured_rate: f64,
    /// The report the rate is measured from.
    rate_base: Option<SenderClock>,
    held: VecDeque<EncodedFrame>,
    held_since: Option<Instant>,
    newest: Option<i64>,
    last_pts: Option<Duration>,
}

/// Reports at least this far apart measure the RTP clock's rate.
const RATE_WINDOW_NANOS: i64 = 2_000_000_000;
/// A measured rate further than this from the nominal one is not believed.
const MAX_DRIFT: f64 = 0.01;

impl TrackClock {
    /// A new sender report: the mapping to use from now on, and (between
    /// reports far enough apart) the RTP clock's true rate.
    fn on_report(&mut self, clock: SenderClock) {
        self.clock = Some(clock);
        let Some(base) = self.rate_base else {
            self.rate_base = Some(clock);
            return;
        };
        let elapsed = clock.ntp_nanos() - base.ntp_nanos();
        if elapsed < RATE_WINDOW_NANOS {
            return;
        }
        let ticks = f64::from(clock.rtp_timestamp.wrapping_sub(base.rtp_timestamp) as i32);
        let rate = ticks * 1e9 / elapsed as f64;
        let nominal = f64::from(self.clock_rate);
        if (rate / nominal - 1.0).abs() <= MAX_DRIFT {
            self.measured_rate = rate;
        }
    }
}

struct Queued {
    track: usize,
    frame: EncodedFrame,
    queued_at: Instant,
}

/// The timeline of one participant.
pub(crate) struct Timeline {
    tracks: Vec<TrackClock>,
    report_wait: Duration,
    interleave: Duration,
    epoch: (Instant, i64),
    queue: BTreeMap<(i64, u64), Queued>,
    sequence: u64,
    origin: Option<i64>,
    fallbacks: u32,
}

impl Timeline {
    /// A timeline that waits up to `report_wait` for sender reports and up
    /// to `interleave` for other tracks to catch up.
    pub fn new(report_wait: Duration, interleave: Duration, now: Instant) -> Self {
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i64;
        Self {
            tracks: Vec::new(),
            report_wait,
            interleave,
            epoch: (now, unix + NTP_UNIX_OFFSET_NANOS),
            queue: BTreeMap::new(),
            sequence: 0,
            origin: None,
            fallbacks: 0,
        }
    }

    /// Adds a track with an RTP clock of `clock_rate` Hz; returns its index.
    pub fn add_track(&mut self, clock_rate: u32) -> usize {
        self.tracks.push(TrackClock {
            clock_rate,
            clock: None,
            measured_rate: f64::from(clock_rate),
            rate_base: None,
            held: VecDeque::new(),
            held_since: None,
            newest: None,
            last_pts: None,
        });
        self.tracks.len() - 1
    }

    /// Tracks that never got a sender report in time and are timed by arrival.
    pub fn fallbacks(&self) -> u32 {
        self.fallbacks
    }

    /// Adds a frame of `track` (frames of one track come in RTP order).
    pub fn push(&mut self, track: usize, frame: EncodedFrame, now: Instant) {
        let Some(state) = self.tracks.get_mut(track) else {
            return;
        };
        if let Some(clock) = frame.sender_clock
            && state.clock != Some(clock)
        {
            state.on_report(clock);
        }
        if state.clock.is_none() {
            state.held_since.get_or_insert(now);
            state.held.push_back(frame);
            return;
        }
        self.release_held(track, now);
        self.enqueue(track, frame, now);
    }

    fn release_held(&mut self, track: usize, now: Instant) {
        let held: Vec<EncodedFrame> = self.tracks[track].held.drain(..).collect();
        self.tracks[track].held_since = None;
        for frame in held {
            self.enqueue(track, frame, now);
        }
    }

    fn enqueue(&mut self, track: usize, frame: EncodedFrame, now: Instant) {
        let state = &mut self.tracks[track];
        let Some(clock) = state.clock else { return };
        let at = clock.wallclock_nanos_at(frame.rtp_timestamp, state.measured_rate);
        // A later sender report may place a frame before the previous one:
        // frames of a track keep their order, at least 1 ms apart.
        let at = state.newest.map_or(at, |newest| at.max(newest + 1_000_000));
        state.newest = Some(at);
        self.sequence += 1;
        self.queue.insert(
            (at, self.sequence),
            Queued {
                track,
                frame,
                queued_at: now,
            },
        );
    }

    /// Gives tracks that waited too long for a sender report a clock from
    /// the arrival time of their first held frame.
    fn fall_back(&mut self, now: Instant, force: bool) {
        for track in 0..self.tracks.len() {
            let state = &mut self.tracks[track];
            let Some(since) = state.held_since else {
                continue;
            };
            if !force && now.saturating_duration_since(since) < self.report_wait {
                continue;
            }
            let Some(first) = state.held.front() else {
                continue;
            };
            let arrival = self.epoch.1
                + first
                    .received_at
                    .saturating_duration_since(self.epoch.0)
                    .as_nanos() as i64;
            state.clock = Some(SenderClock::from_wallclock_nanos(
                arrival,
                first.rtp_timestamp,
            ));
            self.fallbacks += 1;
            tracing::debug!(
                track,
                "no sender report in time: timing the track by arrival"
            );
            self.release_held(track, now);
        }
    }

    /// The next frame in timeline order, once it is safe to release.
    pub fn poll(&mut self, now: Instant) -> Option<TimedFrame> {
        self.fall_back(now, false);
        if self.tracks.iter().any(|t| !t.held.is_empty()) {
            return None; // a track still waits for its first sender report
        }
        let (&(at, _), head) = self.queue.first_key_value()?;
        let waited = now.saturating_duration_since(head.queued_at) >= self.interleave;
        let others_caught_up = self
            .tracks
            .iter()
            .enumerate()
            .all(|(i, t)| i == head.track || t.newest.is_none_or(|n| n >= at));
        if !waited && !others_caught_up {
            return None;
        }
        Some(self.release_first())
    }

    /// Releases everything still held or queued (end of recording).
    pub fn drain(&mut self, now: Instant) -> Vec<TimedFrame> {
        self.fall_back(now, true);
        let mut out = Vec::new();
        while !self.queue.is_empty() {
            out.push(self.release_first());
        }
        out
    }

    fn release_first(&mut self) -> TimedFrame {
        let ((at, _), queued) = self.queue.pop_first().expect("queue not empty");
        let origin = *self.origin.get_or_insert(at);
        let state = &mut self.tracks[queued.track];
        let mut pts = Duration::from_nanos(at.saturating_sub(origin).max(0) as u64);
        if let Some(last) = state.last_pts {
            // Later sender reports may move a frame back a little: keep each
            // track strictly increasing.
            pts = pts.max(last + Duration::from_millis(1));
        }
        state.last_pts = Some(pts);
        TimedFrame {
            track: queued.track,
            pts,
            frame: queued.frame,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use bytes::Bytes;

    const NTP_BASE: i64 = 3_900_000_000 * 1_000_000_000;

    fn frame(codec: Codec, rtp: u32, clock: Option<SenderClock>, at: Instant) -> EncodedFrame {
        EncodedFrame {
            codec,
            data: Bytes::from_static(b"x"),
            rtp_timestamp: rtp,
            timestamp: Duration::ZERO,
            keyframe: true,
            discontinuity: false,
            received_at: at,
            sender_clock: clock,
        }
    }

    /// A sender whose audio (48 kHz) and video (90 kHz) RTP clocks start at
    /// unrelated offsets, with sender reports tying both to one wallclock.
    fn clocks() -> (SenderClock, SenderClock) {
        (
            SenderClock::from_wallclock_nanos(NTP_BASE, 1_000_000),
            SenderClock::from_wallclock_nanos(NTP_BASE, 4_000_000_000),
        )
    }

    #[test]
    fn audio_and_video_keep_the_offset_they_were_sent_with() {
        let now = Instant::now();
        let (audio_clock, video_clock) = clocks();
        let mut timeline = Timeline::new(Duration::from_secs(2), Duration::from_millis(300), now);
        let audio = timeline.add_track(48_000);
        let video = timeline.add_track(90_000);
        // Audio from wallclock 0 every 20 ms; video from 300 ms every 33 ms,
        // arriving later than audio (held longer by its jitter buffer).
        for i in 0..50u32 {
            let rtp = 1_000_000 + i * 960;
            timeline.push(audio, frame(Codec::Opus, rtp, Some(audio_clock), now), now);
        }
        for i in 0..20u32 {
            let rtp = 4_000_000_000u32.wrapping_add(27_000 + i * 3_000);
            timeline.push(video, frame(Codec::Vp8, rtp, Some(video_clock), now), now);
        }
        let out = timeline.drain(now);
        assert_eq!(out.len(), 70);
        let first_video = out.iter().find(|f| f.track == video).unwrap();
        assert_eq!(out[0].track, audio);
        assert_eq!(out[0].pts, Duration::ZERO);
        assert_eq!(first_video.pts.as_millis(), 300);
        assert!(
            out.windows(2).all(|w| w[0].pts <= w[1].pts),
            "interleaved in order"
        );
    }

    #[test]
    fn frames_wait_for_the_first_sender_report_then_map_with_it() {
        let now = Instant::now();
        let (audio_clock, _) = clocks();
        let mut timeline = Timeline::new(Duration::from_secs(2), Duration::ZERO, now);
        let audio = timeline.add_track(48_000);
        timeline.push(audio, frame(Codec::Opus, 1_000_000, None, now), now);
        timeline.push(audio, frame(Codec::Opus, 1_000_960, None, now), now);
        assert!(timeline.poll(now).is_none(), "held until a report");
        timeline.push(
            audio,
            frame(Codec::Opus, 1_001_920, Some(audio_clock), now),
            now,
        );
        let pts: Vec<u128> = std::iter::from_fn(|| timeline.poll(now))
            .map(|f| f.pts.as_millis())
            .collect();
        assert_eq!(pts, vec![0, 20, 40]);
        assert_eq!(timeline.fallbacks(), 0);
    }

    #[test]
    fn without_reports_arrival_time_stands_in_after_the_wait() {
        let now = Instant::now();
        let mut timeline = Timeline::new(Duration::from_millis(500), Duration::ZERO, now);
        let audio = timeline.add_track(48_000);
        timeline.push(audio, frame(Codec::Opus, 5, None, now), now);
        assert!(timeline.poll(now + Duration::from_millis(499)).is_none());
        let first = timeline
            .poll(now + Duration::from_millis(500))
            .expect("fallback");
        assert_eq!(first.pts, Duration::ZERO);
        assert_eq!(timeline.fallbacks(), 1);
    }

    #[test]
    fn dtx_gaps_stay_gaps_and_tracks_never_go_backwards() {
        let now = Instant::now();
        let (audio_clock, _) = clocks();
        let mut timeline = Timeline::new(Duration::from_secs(2), Duration::ZERO, now);
        let audio = timeline.add_track(48_000);
        timeline.push(
            audio,
            frame(Codec::Opus, 1_000_000, Some(audio_clock), now),
            now,
        );
        // 2 s of silence (DTX) on the RTP clock.
        timeline.push(
            audio,
            frame(Codec::Opus, 1_096_000, Some(audio_clock), now),
            now,
        );
        // A new report that places the next frame 10 ms *earlier* than the last.
        let moved = SenderClock::from_wallclock_nanos(NTP_BASE + 1_990_000_000, 1_096_960);
        timeline.push(audio, frame(Codec::Opus, 1_096_960, Some(moved), now), now);
        let pts: Vec<u128> = timeline
            .drain(now)
            .iter()
            .map(|f| f.pts.as_millis())
            .collect();
        assert_eq!(pts, vec![0, 2000, 2001]);
    }

    #[test]
    fn a_drifting_rtp_clock_follows_the_sender_reports() {
        // The sender's audio clock runs 0.1 % fast against its wallclock: 30
        // minutes of 20 ms frames carry 30 min × 1.001 of RTP time. With only
        // the first report the file would run 1.8 s long; following each
        // report (every 5 s) and the rate measured between them, it stays on
        // the wallclock to the millisecond, also between reports.
        let now = Instant::now();
        let mut timeline = Timeline::new(Duration::from_secs(2), Duration::ZERO, now);
        let audio = timeline.add_track(48_000);
        let frames = 30 * 60 * 50u32;
        let rtp_at = |i: u32| (f64::from(i) * 960.0 * 1.001) as u32;
        let mut last = Duration::ZERO;
        for i in 0..frames {
            let report_index = i - i % 250; // a report every 5 s
            let clock = SenderClock::from_wallclock_nanos(
                NTP_BASE + i64::from(report_index) * 20_000_000,
                rtp_at(report_index),
            );
            timeline.push(audio, frame(Codec::Opus, rtp_at(i), Some(clock), now), now);
            while let Some(out) = timeline.poll(now) {
                last = out.pts;
            }
        }
        let expected = Duration::from_millis(20) * (frames - 1);
        let error = last.as_secs_f64() - expected.as_secs_f64();
        assert!(error.abs() < 0.001, "off by {error:.4}s after 30 min");
    }
}
