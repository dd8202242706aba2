//! [`Encodings`]: the simulcast encodings of one remote track (one per SSRC;
//! a track without simulcast has one), ranked lowest first, and which of
//! them are flowing.
//!
//! Rank follows the picture size of each encoding's keyframes (the caller
//! reads it) when every encoding has shown one, else the bitrate: rid names say nothing reliable about order. An encoding is
//! *active* while its packets keep coming (the latest within
//! `active_window`); a sender that drops an encoding (bandwidth, CPU) just
//! stops sending it.

use std::time::{Duration, Instant};

/// One encoding as seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoding {
    /// Its SSRC.
    pub ssrc: u32,
    /// Its RTP stream id (`a=rid`), for simulcast.
    pub rid: Option<String>,
    /// Picture size of its latest keyframe that showed one.
    pub size: Option<(u32, u32)>,
    /// Bits per second over the last whole second.
    pub bitrate_bps: u64,
    /// Packets are arriving.
    pub active: bool,
    /// When its latest packet arrived.
    pub last_packet: Option<Instant>,
    window_start: Option<Instant>,
    window_bytes: u64,
}

impl Encoding {
    fn new(ssrc: u32, rid: Option<String>) -> Self {
        Self {
            ssrc,
            rid,
            size: None,
            bitrate_bps: 0,
            active: false,
            last_packet: None,
            window_start: None,
            window_bytes: 0,
        }
    }
}

/// The encodings of one track (see the module documentation).
#[derive(Debug)]
pub(crate) struct Encodings {
    active_window: Duration,
    list: Vec<Encoding>,
}

impl Encodings {
    /// No encoding yet; `active_window` is how long an encoding stays active
    /// without packets.
    pub(crate) fn new(active_window: Duration) -> Self {
        Self {
            active_window,
            list: Vec::new(),
        }
    }

    /// The encodings, lowest first.
    pub(crate) fn list(&self) -> &[Encoding] {
        &self.list
    }

    /// Rank of encoding `ssrc` (0: lowest).
    #[cfg(test)]
    pub(crate) fn rank(&self, ssrc: u32) -> Option<usize> {
        self.list.iter().position(|e| e.ssrc == ssrc)
    }

    /// The highest active encoding.
    pub(crate) fn highest_active(&self) -> Option<&Encoding> {
        self.list.iter().rev().find(|e| e.active)
    }

    /// Learns of encoding `ssrc` (with its rid) before or at its first packet.
    /// Returns true when the list changed.
    pub(crate) fn add(&mut self, ssrc: u32, rid: Option<String>) -> bool {
        if let Some(known) = self.list.iter_mut().find(|e| e.ssrc == ssrc) {
            if known.rid.is_none() && rid.is_some() {
                known.rid = rid;
                return true;
            }
            return false;
        }
        self.list.push(Encoding::new(ssrc, rid));
        self.sort();
        true
    }

    /// Counts a packet of `ssrc` with `payload_len` bytes that arrived
    /// `now`; `keyframe_size` is the picture size its keyframe shows, if it
    /// starts one that shows it. Returns true when the list changed (an
    /// encoding appeared, became active, moved, or has a new bitrate: once
    /// a second per encoding).
    pub(crate) fn on_packet(
        &mut self,
        ssrc: u32,
        payload_len: usize,
        keyframe_size: Option<(u32, u32)>,
        now: Instant,
    ) -> bool {
        let mut changed = false;
        if !self.list.iter().any(|e| e.ssrc == ssrc) {
            self.list.push(Encoding::new(ssrc, None));
            self.sort();
            changed = true;
        }
        let encoding = self
            .list
            .iter_mut()
            .find(|e| e.ssrc == ssrc)
            .expect("just added");
        encoding.last_packet = Some(now);
        if !encoding.active {
            encoding.active = true;
            changed = true;
        }
        let start = *encoding.window_start.get_or_insert(now);
        encoding.window_bytes += payload_len as u64;
        let span = now.saturating_duration_since(start);
        if span >= Duration::from_secs(1) {
            encoding.bitrate_bps = (encoding.window_bytes as f64 * 8.0 / span.as_secs_f64()) as u64;
            encoding.window_start = Some(now);
            encoding.window_bytes = 0;
            self.sort();
            changed = true;
        }
        if let Some(size) = keyframe_size {
            let encoding = self
                .list
                .iter_mut()
                .find(|e| e.ssrc == ssrc)
                .expect("known");
            if encoding.size != Some(size) {
                encoding.size = Some(size);
                changed |= self.sort();
            }
        }
        changed
    }

    /// Marks encodings without packets for `active_window` as inactive.
    /// Returns true when one changed.
    pub(crate) fn refresh(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for encoding in &mut self.list {
            let quiet = encoding
                .last_packet
                .is_none_or(|t| now.saturating_duration_since(t) >= self.active_window);
            if encoding.active && quiet {
                encoding.active = false;
                changed = true;
            }
        }
        changed
    }

    /// When the next encoding may turn inactive.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.list
            .iter()
            .filter(|e| e.active)
            .filter_map(|e| e.last_packet)
            .min()
            .map(|t| t + self.active_window)
    }

    /// Sorts lowest first; true when the order changed.
    fn sort(&mut self) -> bool {
        let before: Vec<u32> = self.list.iter().map(|e| e.ssrc).collect();
        let by_size = self.list.iter().all(|e| e.size.is_some());
        if by_size {
            self.list
                .sort_by_key(|e| e.size.map(|(w, h)| u64::from(w) * u64::from(h)));
        } else {
            self.list.sort_by_key(|e| e.bitrate_bps);
        }
        self.list.iter().map(|e| e.ssrc).ne(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_rank_by_keyframe_size_and_turn_inactive_when_quiet() {
        let t = Instant::now();
        let mut e = Encodings::new(Duration::from_millis(500));
        assert!(e.add(30, Some("f".into())));
        assert!(e.add(10, Some("q".into())));
        for (ssrc, w, h) in [(30, 1280, 720), (10, 320, 180), (20, 640, 360)] {
            assert!(e.on_packet(ssrc, 1000, Some((w, h)), t));
        }
        let order: Vec<u32> = e.list().iter().map(|x| x.ssrc).collect();
        assert_eq!(order, [10, 20, 30]);
        assert_eq!(e.list()[2].size, Some((1280, 720)));
        assert_eq!(e.highest_active().unwrap().ssrc, 30);
        assert_eq!(e.poll_timeout(), Some(t + Duration::from_millis(500)));
        // The top encoding stops; the others go on.
        let later = t + Duration::from_millis(600);
        e.on_packet(10, 100, None, later);
        e.on_packet(20, 100, None, later);
        assert!(e.refresh(later));
        assert_eq!(e.highest_active().unwrap().ssrc, 20);
        assert!(!e.refresh(later));
        assert_eq!(e.rank(30), Some(2));
    }

    #[test]
    fn without_sizes_encodings_rank_by_bitrate() {
        let t = Instant::now();
        let mut e = Encodings::new(Duration::from_millis(500));
        for ms in 0..=1000u64 {
            let now = t + Duration::from_millis(ms);
            if ms % 10 == 0 {
                e.on_packet(1, 1000, None, now);
                e.on_packet(2, 100, None, now);
            }
        }
        let order: Vec<u32> = e.list().iter().map(|x| x.ssrc).collect();
        assert_eq!(order, [2, 1]);
        assert!(e.list()[1].bitrate_bps > 700_000);
    }
}
