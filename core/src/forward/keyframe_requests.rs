//! [`KeyframeThrottle`]: keyframe requests toward a publisher, coalesced and
//! rate-limited per encoding.
//!
//! Every leg that starts, switches, or hears a PLI/FIR from its subscriber
//! asks the source for a keyframe. The publisher gets at most one request
//! per encoding per `min_interval`: the first at once, those that come
//! within the interval after it as one more when the interval is over (so
//! a late asker is not left waiting for the next natural keyframe), none
//! for askers a keyframe of that encoding already satisfied. A subscriber
//! that floods PLIs costs the publisher one keyframe per interval.

use std::time::{Duration, Instant};

/// Keyframe requests toward one publisher track (see the module documentation).
#[derive(Debug)]
pub(crate) struct KeyframeThrottle {
    min_interval: Duration,
    encodings: Vec<Entry>,
    /// Requests received from legs.
    pub requested: u64,
    /// Requests sent to the publisher.
    pub sent: u64,
}

#[derive(Debug)]
struct Entry {
    ssrc: u32,
    last_sent: Option<Instant>,
    pending: bool,
}

impl KeyframeThrottle {
    /// At most one request per encoding per `min_interval`.
    pub(crate) fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            encodings: Vec::new(),
            requested: 0,
            sent: 0,
        }
    }

    /// A leg asks for a keyframe of encoding `ssrc`.
    pub(crate) fn request(&mut self, ssrc: u32) {
        self.requested += 1;
        match self.encodings.iter_mut().find(|e| e.ssrc == ssrc) {
            Some(entry) => entry.pending = true,
            None => self.encodings.push(Entry {
                ssrc,
                last_sent: None,
                pending: true,
            }),
        }
    }

    /// A keyframe of `ssrc` went by: whoever waited for one has it.
    pub(crate) fn on_keyframe(&mut self, ssrc: u32) {
        if let Some(entry) = self.encodings.iter_mut().find(|e| e.ssrc == ssrc) {
            entry.pending = false;
        }
    }

    /// The next encoding to ask the publisher for a keyframe of, now.
    pub(crate) fn poll_request(&mut self, now: Instant) -> Option<u32> {
        let interval = self.min_interval;
        let entry = self.encodings.iter_mut().find(|e| {
            e.pending
                && e.last_sent
                    .is_none_or(|t| now.saturating_duration_since(t) >= interval)
        })?;
        entry.pending = false;
        entry.last_sent = Some(now);
        self.sent += 1;
        Some(entry.ssrc)
    }

    /// When a deferred request becomes due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.encodings
            .iter()
            .filter(|e| e.pending)
            .map(|e| {
                e.last_sent
                    .map_or_else(Instant::now, |t| t + self.min_interval)
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(500);

    #[test]
    fn the_first_request_goes_out_at_once_and_later_ones_coalesce() {
        let t = Instant::now();
        let mut k = KeyframeThrottle::new(INTERVAL);
        k.request(1);
        assert_eq!(k.poll_request(t), Some(1));
        assert_eq!(k.poll_request(t), None);
        // Three legs ask within the interval: one request when it is over.
        for _ in 0..3 {
            k.request(1);
        }
        assert_eq!(k.poll_request(t + Duration::from_millis(100)), None);
        assert_eq!(k.poll_timeout(), Some(t + INTERVAL));
        assert_eq!(k.poll_request(t + INTERVAL), Some(1));
        assert_eq!(k.poll_request(t + INTERVAL), None);
        assert_eq!((k.requested, k.sent), (4, 2));
    }

    #[test]
    fn encodings_are_throttled_apart_and_a_keyframe_satisfies_waiters() {
        let t = Instant::now();
        let mut k = KeyframeThrottle::new(INTERVAL);
        k.request(1);
        k.request(2);
        let mut sent = [k.poll_request(t), k.poll_request(t)];
        sent.sort();
        assert_eq!(sent, [Some(1), Some(2)]);
        k.request(2);
        k.on_keyframe(2);
        assert_eq!(k.poll_timeout(), None);
        assert_eq!(k.poll_request(t + INTERVAL), None);
    }

    #[test]
    fn a_flood_costs_one_request_per_interval() {
        let t = Instant::now();
        let mut k = KeyframeThrottle::new(INTERVAL);
        let mut sent = 0;
        // 1000 PLIs a second for 5 s.
        for ms in 0..5000u64 {
            let now = t + Duration::from_millis(ms);
            k.request(7);
            while k.poll_request(now).is_some() {
                sent += 1;
            }
        }
        assert_eq!(k.requested, 5000);
        assert!((10..=11).contains(&sent), "{sent}");
    }
}
