//! [`LayerPolicy`]: which layers one leg forwards, from the subscriber's
//! preference, what the publisher sends, and how the leg is doing.
//!
//! - **Preference** ([`LayerPreference`], set through the API): the highest
//!   spatial layer (with simulcast: the encoding, 0 the lowest; with VP9/AV1
//!   SVC: the spatial layer id) and temporal layer wanted.
//! - **What flows**: the highest *active* encoding within the limits; when
//!   none within them is active, the lowest active one (something rather
//!   than nothing); when none is active at all, the leg stays where it is.
//! - **Quality cap**: receiver reports of the leg with `downgrade_loss` or
//!   more loss (or an RTT of a second or more) twice in a row lower the cap
//!   one encoding below the one forwarded; after `hold_off` of reports below
//!   a quarter of that loss, the cap goes up one again. Each downgrade that
//!   follows an upgrade within `hold_off` doubles the hold-off (at most
//!   8×), so a leg that cannot take a layer stops trying it often.
//! - **Seam for bandwidth estimation**: [`LayerPolicy::set_bandwidth`]
//!   caps the choice at the highest encoding whose bitrate fits; nothing
//!   sets it yet (adaptive bitrate comes later).

use std::time::{Duration, Instant};

use crate::call::stream_feedback::ReceiverFeedback;
use crate::rtp::encodings::Encoding;
use crate::rtp::layer_switch::LayerTarget;

/// The layers a subscriber wants from a forwarded track. `None` in a field
/// means the highest there is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerPreference {
    /// Highest spatial layer: with simulcast the encoding (0 is the lowest
    /// resolution), with scalable VP9/AV1 the spatial layer id.
    pub spatial: Option<u8>,
    /// Highest temporal layer (frame rate) within it.
    pub temporal: Option<u8>,
}

impl LayerPreference {
    /// The highest layers there are (the default).
    pub fn highest() -> Self {
        Self::default()
    }

    /// The lowest spatial layer (the smallest resolution), every temporal layer.
    pub fn lowest() -> Self {
        Self::default().with_spatial(Some(0))
    }

    /// Sets the highest spatial layer wanted.
    pub fn with_spatial(mut self, spatial: Option<u8>) -> Self {
        self.spatial = spatial;
        self
    }

    /// Sets the highest temporal layer wanted.
    pub fn with_temporal(mut self, temporal: Option<u8>) -> Self {
        self.temporal = temporal;
        self
    }
}

/// Tuning of [`LayerPolicy`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PolicyTuning {
    /// Loss (fraction) from which a report counts against the layer.
    pub downgrade_loss: f64,
    /// Round trip from which a report counts against the layer.
    pub downgrade_rtt: Duration,
    /// Good reports for this long before trying a layer up again.
    pub hold_off: Duration,
}

/// The layer choice of one leg (see the module documentation). Sans-I/O.
#[derive(Debug)]
pub(crate) struct LayerPolicy {
    tuning: PolicyTuning,
    preference: LayerPreference,
    /// Highest encoding rank the leg's quality allows (`None`: no cap).
    cap: Option<usize>,
    bandwidth_bps: Option<u64>,
    bad_reports: u32,
    hold_off: Duration,
    /// Since when reports were good (for going up), and the last change.
    good_since: Option<Instant>,
    last_upgrade: Option<Instant>,
    /// Downgrades so far (stats).
    pub downgrades: u64,
}

impl LayerPolicy {
    /// A policy with no preference and no cap.
    pub(crate) fn new(tuning: PolicyTuning) -> Self {
        Self {
            tuning,
            preference: LayerPreference::default(),
            cap: None,
            bandwidth_bps: None,
            bad_reports: 0,
            hold_off: tuning.hold_off,
            good_since: None,
            last_upgrade: None,
            downgrades: 0,
        }
    }

    /// The subscriber's preference.
    pub(crate) fn set_preference(&mut self, preference: LayerPreference) {
        self.preference = preference;
    }

    /// The preference set last.
    pub(crate) fn preference(&self) -> LayerPreference {
        self.preference
    }

    /// A bandwidth estimate for the leg (`None`: unknown). Nothing calls it
    /// yet: the seam for adaptive bitrate.
    #[allow(dead_code)]
    pub(crate) fn set_bandwidth(&mut self, bits_per_second: Option<u64>) {
        self.bandwidth_bps = bits_per_second;
    }

    /// The quality cap (highest encoding rank), if any.
    pub(crate) fn cap(&self) -> Option<usize> {
        self.cap
    }

    /// A receiver report of the leg arrived; `forwarded` is the rank of the
    /// encoding forwarded now and `encodings` how many there are.
    pub(crate) fn on_report(
        &mut self,
        report: &ReceiverFeedback,
        forwarded: Option<usize>,
        encodings: usize,
        now: Instant,
    ) {
        let bad = report.fraction_lost >= self.tuning.downgrade_loss
            || report
                .rtt
                .is_some_and(|rtt| rtt >= self.tuning.downgrade_rtt);
        let good = report.fraction_lost < self.tuning.downgrade_loss / 4.0
            && report
                .rtt
                .is_none_or(|rtt| rtt < self.tuning.downgrade_rtt / 2);
        if bad {
            self.good_since = None;
            self.bad_reports += 1;
            if self.bad_reports >= 2
                && let Some(rank) = forwarded
                && rank > 0
            {
                self.cap = Some(rank - 1);
                self.bad_reports = 0;
                self.downgrades += 1;
                if self
                    .last_upgrade
                    .is_some_and(|t| now.saturating_duration_since(t) < self.hold_off)
                {
                    self.hold_off = (self.hold_off * 2).min(self.tuning.hold_off * 8);
                }
            }
            return;
        }
        self.bad_reports = 0;
        if !good {
            self.good_since = None;
            return;
        }
        let since = *self.good_since.get_or_insert(now);
        if let Some(cap) = self.cap
            && now.saturating_duration_since(since) >= self.hold_off
        {
            self.cap = (cap + 1 < encodings.saturating_sub(1)).then_some(cap + 1);
            self.last_upgrade = Some(now);
            self.good_since = Some(now);
        }
    }

    /// The layers to forward, given the encodings (lowest first), or `None`
    /// when there is nothing to choose from.
    pub(crate) fn choose(&self, encodings: &[Encoding]) -> Option<LayerTarget> {
        let max_temporal = self.preference.temporal.unwrap_or(u8::MAX);
        if encodings.is_empty() {
            return None;
        }
        if encodings.len() == 1 {
            // One encoding: the spatial preference applies to its SVC layers.
            return Some(LayerTarget {
                ssrc: encodings[0].ssrc,
                max_spatial: self.preference.spatial.unwrap_or(u8::MAX),
                max_temporal,
            });
        }
        let mut limit = encodings.len().saturating_sub(1);
        if let Some(spatial) = self.preference.spatial {
            limit = limit.min(usize::from(spatial));
        }
        if let Some(cap) = self.cap {
            limit = limit.min(cap);
        }
        if let Some(bandwidth) = self.bandwidth_bps {
            let fits = encodings
                .iter()
                .rposition(|e| e.bitrate_bps <= bandwidth)
                .unwrap_or(0);
            limit = limit.min(fits);
        }
        let chosen = encodings[..=limit]
            .iter()
            .rev()
            .find(|e| e.active)
            .or_else(|| encodings[limit..].iter().find(|e| e.active))?;
        Some(LayerTarget {
            ssrc: chosen.ssrc,
            max_spatial: u8::MAX,
            max_temporal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuning() -> PolicyTuning {
        PolicyTuning {
            downgrade_loss: 0.10,
            downgrade_rtt: Duration::from_secs(1),
            hold_off: Duration::from_secs(10),
        }
    }

    fn encodings(active: [bool; 3]) -> Vec<Encoding> {
        let mut e = crate::rtp::encodings::Encodings::new(Duration::from_millis(500));
        let t = Instant::now();
        for i in 0..active.len() {
            let ssrc = 10 * (i as u32 + 1);
            e.on_packet(ssrc, 100, Some((320 << i, 180 << i)), t);
        }
        let later = t + Duration::from_secs(1);
        for (i, on) in active.into_iter().enumerate() {
            if on {
                e.on_packet(10 * (i as u32 + 1), 100, None, later);
            }
        }
        e.refresh(later);
        e.list().to_vec()
    }

    fn report(loss: f64) -> ReceiverFeedback {
        ReceiverFeedback {
            fraction_lost: loss,
            ..Default::default()
        }
    }

    #[test]
    fn the_highest_active_encoding_within_the_preference() {
        let mut p = LayerPolicy::new(tuning());
        assert_eq!(p.choose(&encodings([true, true, true])).unwrap().ssrc, 30);
        assert_eq!(p.choose(&encodings([true, true, false])).unwrap().ssrc, 20);
        p.set_preference(LayerPreference::lowest());
        assert_eq!(p.choose(&encodings([true, true, true])).unwrap().ssrc, 10);
        // The preferred one stopped: the lowest active above it.
        assert_eq!(p.choose(&encodings([false, true, true])).unwrap().ssrc, 20);
        assert_eq!(p.choose(&encodings([false, false, false])), None);
        p.set_preference(LayerPreference::default().with_temporal(Some(1)));
        assert_eq!(
            p.choose(&encodings([true, true, true]))
                .unwrap()
                .max_temporal,
            1
        );
    }

    #[test]
    fn one_encoding_takes_the_preference_as_its_spatial_layer() {
        let mut p = LayerPolicy::new(tuning());
        let one = &encodings([true, true, true])[..1];
        assert_eq!(p.choose(one).unwrap().max_spatial, u8::MAX);
        p.set_preference(LayerPreference::lowest());
        assert_eq!(p.choose(one).unwrap().max_spatial, 0);
    }

    #[test]
    fn losses_lower_the_layer_and_good_reports_raise_it_after_the_hold_off() {
        let t = Instant::now();
        let all = encodings([true, true, true]);
        let mut p = LayerPolicy::new(tuning());
        p.on_report(&report(0.2), Some(2), 3, t);
        assert_eq!(p.cap(), None, "one bad report is not enough");
        p.on_report(&report(0.05), Some(2), 3, t);
        p.on_report(&report(0.2), Some(2), 3, t);
        assert_eq!(p.cap(), None, "not twice in a row");
        p.on_report(&report(0.2), Some(2), 3, t);
        assert_eq!(p.cap(), Some(1));
        assert_eq!(p.choose(&all).unwrap().ssrc, 20);
        // Good reports: up again after the hold-off, not before.
        let mut now = t;
        for _ in 0..9 {
            now += Duration::from_secs(1);
            p.on_report(&report(0.0), Some(1), 3, now);
        }
        assert_eq!(p.cap(), Some(1));
        now += Duration::from_secs(2);
        p.on_report(&report(0.0), Some(1), 3, now);
        assert_eq!(p.cap(), None);
        assert_eq!(p.choose(&all).unwrap().ssrc, 30);
        // Down again right after going up: the hold-off doubles.
        p.on_report(&report(0.3), Some(2), 3, now);
        p.on_report(&report(0.3), Some(2), 3, now);
        assert_eq!((p.cap(), p.hold_off), (Some(1), Duration::from_secs(20)));
        assert_eq!(p.downgrades, 2);
    }

    #[test]
    fn a_bandwidth_estimate_caps_the_choice() {
        let mut all = encodings([true, true, true]);
        for (i, e) in all.iter_mut().enumerate() {
            e.bitrate_bps = 150_000 << (2 * i);
        }
        let mut p = LayerPolicy::new(tuning());
        p.set_bandwidth(Some(700_000));
        assert_eq!(p.choose(&all).unwrap().ssrc, 20);
        p.set_bandwidth(None);
        assert_eq!(p.choose(&all).unwrap().ssrc, 30);
    }
}
