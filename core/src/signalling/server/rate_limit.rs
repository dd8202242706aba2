//! Per-connection token bucket with flood detection, as a plain state machine:
//! time is an input, nothing sleeps.

use std::time::Instant;

use super::config::RateLimitConfig;

/// What to do with one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Within the limit: handle the message.
    Allow,
    /// Over the limit: drop the message and answer `rate-limited`.
    Limited,
    /// Over the limit too often: close the connection.
    Flood,
}

/// Token bucket: `burst` tokens, refilled at `messages_per_second`; every
/// message takes one. Messages arriving at an empty bucket are dropped and
/// counted; more than `flood_threshold` drops within `flood_window` is a flood.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    config: RateLimitConfig,
    tokens: f64,
    last_refill: Instant,
    window_start: Option<Instant>,
    dropped_in_window: u32,
}

impl RateLimiter {
    /// A limiter with a full bucket at `now`.
    pub(crate) fn new(config: RateLimitConfig, now: Instant) -> Self {
        Self {
            config,
            tokens: f64::from(config.burst),
            last_refill: now,
            window_start: None,
            dropped_in_window: 0,
        }
    }

    /// Accounts for one message arriving at `now`. Times earlier than a time
    /// already seen count as that time.
    pub(crate) fn check(&mut self, now: Instant) -> Verdict {
        self.refill(now);
        // The epsilon absorbs rounding in `elapsed × rate`.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            return Verdict::Allow;
        }
        let window_expired = self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= self.config.flood_window);
        if window_expired {
            self.window_start = Some(now);
            self.dropped_in_window = 0;
        }
        self.dropped_in_window = self.dropped_in_window.saturating_add(1);
        if self.dropped_in_window > self.config.flood_threshold {
            Verdict::Flood
        } else {
            Verdict::Limited
        }
    }

    /// True when the last [`check`](Self::check) was the first drop of a new
    /// window (used to log once per window rather than once per message).
    pub(crate) fn first_drop_in_window(&self) -> bool {
        self.dropped_in_window == 1
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last_refill);
        if now > self.last_refill {
            self.last_refill = now;
        }
        let added = elapsed.as_secs_f64() * self.config.messages_per_second;
        self.tokens = (self.tokens + added).min(f64::from(self.config.burst));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config(rate: f64, burst: u32, flood_threshold: u32, window_secs: u64) -> RateLimitConfig {
        RateLimitConfig {
            messages_per_second: rate,
            burst,
            flood_threshold,
            flood_window: Duration::from_secs(window_secs),
        }
    }

    #[test]
    fn burst_passes_then_limits() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(config(10.0, 5, 100, 10), t0);
        for _ in 0..5 {
            assert_eq!(limiter.check(t0), Verdict::Allow);
        }
        assert_eq!(limiter.check(t0), Verdict::Limited);
        assert!(limiter.first_drop_in_window());
        assert_eq!(limiter.check(t0), Verdict::Limited);
        assert!(!limiter.first_drop_in_window());
    }

    #[test]
    fn refills_at_the_configured_rate() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(config(10.0, 5, 100, 10), t0);
        for _ in 0..5 {
            limiter.check(t0);
        }
        assert_eq!(limiter.check(t0), Verdict::Limited);
        // 100 ms at 10/s is exactly one token.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(limiter.check(t1), Verdict::Allow);
        assert_eq!(limiter.check(t1), Verdict::Limited);
        // A long pause refills to the burst size, not beyond.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..5 {
            assert_eq!(limiter.check(t2), Verdict::Allow);
        }
        assert_eq!(limiter.check(t2), Verdict::Limited);
    }

    #[test]
    fn steady_rate_at_the_limit_is_never_dropped() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(config(50.0, 1, 0, 10), t0);
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(20 * i);
            assert_eq!(limiter.check(now), Verdict::Allow, "message {i}");
        }
    }

    #[test]
    fn flood_after_threshold_drops_in_window() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(config(1.0, 1, 3, 10), t0);
        assert_eq!(limiter.check(t0), Verdict::Allow);
        for _ in 0..3 {
            assert_eq!(limiter.check(t0), Verdict::Limited);
        }
        assert_eq!(limiter.check(t0), Verdict::Flood);
    }

    #[test]
    fn drops_spread_over_windows_are_not_a_flood() {
        let t0 = Instant::now();
        // No refill to speak of, so every message after the first is dropped.
        let mut limiter = RateLimiter::new(config(1e-9, 1, 3, 10), t0);
        assert_eq!(limiter.check(t0), Verdict::Allow);
        for window in 0..5u64 {
            let start = t0 + Duration::from_secs(10 * window + 1);
            for _ in 0..3 {
                assert_eq!(limiter.check(start), Verdict::Limited, "window {window}");
            }
        }
    }

    #[test]
    fn time_going_backwards_does_not_panic_or_refill() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut limiter = RateLimiter::new(config(10.0, 1, 100, 10), t0);
        assert_eq!(limiter.check(t0), Verdict::Allow);
        let earlier = t0 - Duration::from_secs(5);
        assert_eq!(limiter.check(earlier), Verdict::Limited);
        assert_eq!(limiter.check(t0), Verdict::Limited);
    }
}
