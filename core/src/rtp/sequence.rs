//! Sequence arithmetic for rewriting: wrapping counters extended to 64 bits,
//! and the set of inputs a stream dropped on purpose.

/// Extends a wrapping counter of `bits` bits (RTP sequence numbers: 16, VP8
/// picture ids: 7 or 15) to 64 bits: a value within half the range of the
/// highest seen so far is placed next to it, before or after.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unwrapper {
    bits: u32,
    highest: Option<u64>,
}

/// Extended values start here, so that values before the first stay positive.
const START: u64 = 1 << 40;

impl Unwrapper {
    /// An unwrapper for `bits`-bit values.
    pub(crate) fn new(bits: u32) -> Self {
        Self {
            bits,
            highest: None,
        }
    }

    /// The extended value of `value`; the highest seen moves forward.
    pub(crate) fn extend(&mut self, value: u64) -> u64 {
        let extended = self.peek(value);
        if self.highest.is_none_or(|h| extended > h) {
            self.highest = Some(extended);
        }
        extended
    }

    /// The extended value of `value`, without remembering it.
    pub(crate) fn peek(&self, value: u64) -> u64 {
        let range = 1u64 << self.bits;
        let value = value & (range - 1);
        let Some(highest) = self.highest else {
            return START + value;
        };
        let base = highest & !(range - 1);
        let candidate = base + value;
        let half = range / 2;
        if candidate + half < highest {
            candidate + range
        } else if candidate > highest + half {
            candidate - range
        } else {
            candidate
        }
    }

    /// The highest extended value seen.
    pub(crate) fn highest(&self) -> Option<u64> {
        self.highest
    }
}

/// Inputs of one stream that were dropped on purpose (a higher temporal
/// layer, padding), so that the outputs after them close the gap: the
/// output of `input` is `input + offset - (dropped inputs below it)`.
///
/// Only inputs above every input mapped so far are recorded (an earlier
/// one dropped now would move outputs already sent). Entries more than
/// `window` below the newest are folded into the offset, which keeps the
/// set small; inputs that old are refused.
#[derive(Debug, Clone)]
pub(crate) struct DroppedSet {
    dropped: std::collections::VecDeque<u64>,
    window: u64,
}

impl DroppedSet {
    /// An empty set that remembers drops within `window` of the newest input.
    pub(crate) fn new(window: u64) -> Self {
        Self {
            dropped: std::collections::VecDeque::new(),
            window,
        }
    }

    /// Records `input` as dropped (the caller checked it is newer than any
    /// input mapped so far, so the set stays sorted).
    pub(crate) fn insert(&mut self, input: u64) {
        if self.dropped.back().is_none_or(|&last| input > last) {
            self.dropped.push_back(input);
        }
    }

    /// Whether `input` was dropped.
    pub(crate) fn contains(&self, input: u64) -> bool {
        self.dropped.binary_search(&input).is_ok()
    }

    /// How many dropped inputs lie below `input`.
    pub(crate) fn count_below(&self, input: u64) -> u64 {
        self.dropped.partition_point(|&d| d < input) as u64
    }

    /// Forgets drops older than `window` below `newest`; returns how many
    /// were forgotten (the caller subtracts them from its offset).
    pub(crate) fn forget_before(&mut self, newest: u64) -> u64 {
        let limit = newest.saturating_sub(self.window);
        let mut forgotten = 0;
        while self.dropped.front().is_some_and(|&d| d < limit) {
            self.dropped.pop_front();
            forgotten += 1;
        }
        forgotten
    }

    /// The oldest input still remembered relative to `newest`: older ones are refused.
    pub(crate) fn oldest_accepted(&self, newest: u64) -> u64 {
        newest.saturating_sub(self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_sequence_numbers_extend_across_the_wrap_both_ways() {
        let mut u = Unwrapper::new(16);
        let a = u.extend(65_534);
        assert_eq!(u.extend(65_535), a + 1);
        assert_eq!(u.extend(0), a + 2);
        assert_eq!(u.extend(1), a + 3);
        // A late packet from before the wrap.
        assert_eq!(u.extend(65_533), a - 1);
        assert_eq!(u.highest(), Some(a + 3));
        assert_eq!(u.peek(2), a + 4);
    }

    #[test]
    fn seven_bit_picture_ids_wrap_at_128() {
        let mut u = Unwrapper::new(7);
        let a = u.extend(127);
        assert_eq!(u.extend(0), a + 1);
        assert_eq!(u.extend(126), a - 1);
    }

    #[test]
    fn dropped_inputs_are_counted_below_and_forgotten_into_the_offset() {
        let mut d = DroppedSet::new(100);
        d.insert(10);
        d.insert(12);
        d.insert(11); // not newer than 12: ignored
        assert!(d.contains(10) && d.contains(12) && !d.contains(11));
        assert_eq!(d.count_below(10), 0);
        assert_eq!(d.count_below(11), 1);
        assert_eq!(d.count_below(13), 2);
        assert_eq!(d.forget_before(111), 1);
        assert_eq!(d.count_below(200), 1);
        assert_eq!(d.oldest_accepted(111), 11);
    }
}
