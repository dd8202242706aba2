//! [`Rewriter`]: sequence numbers, timestamps and VP8 picture ids of one
//! outgoing stream, kept continuous while its packets come from different
//! sources (simulcast layers, a source that paused and resumed) and while
//! some packets are left out on purpose (higher temporal layers, padding).
//!
//! A stream is a series of *segments*, one per source: a segment starts at a
//! packet the caller chose (a keyframe) with [`Rewriter::begin`], and maps
//! that source's numbers by offsets. Its first output follows the previous
//! segment's last: sequence number + 1, VP8 picture id + 1, TL0PICIDX + 1,
//! and a timestamp that is later by the time that passed (from the two
//! sources' sender reports when the caller has them, else from arrival
//! times). Within a segment, packets the caller drops close their gap
//! ([`DroppedSet`]); late packets and retransmissions keep their place.
//! Packets from before the segment start are refused (their source's numbers
//! no longer map).

use std::time::Instant;

use super::packet_info::{PacketInfo, Vp8Ids};
use super::sequence::{DroppedSet, Unwrapper};

/// Drops are remembered this many sequence numbers back (later inputs that
/// old are refused); about 3 s of 2.5 Mbit/s video.
const SEQUENCE_WINDOW: u64 = 1 << 10;
/// Dropped VP8 pictures are remembered this many picture ids back.
const PICTURE_WINDOW: u64 = 1 << 6;

/// The numbers a packet goes out with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rewritten {
    /// Output sequence number.
    pub sequence_number: u16,
    /// Output RTP timestamp.
    pub timestamp: u32,
    /// Output VP8 picture id (same width as the input's), if the packet has one.
    pub picture_id: Option<u16>,
    /// Output VP8 TL0PICIDX, if the packet has one.
    pub tl0_pic_idx: Option<u8>,
}

impl Rewritten {
    /// Whether the VP8 descriptor of a packet with `ids` needs new bytes.
    pub(crate) fn changes_vp8(&self, ids: &Vp8Ids) -> bool {
        self.picture_id != ids.picture_id || self.tl0_pic_idx != ids.tl0_pic_idx
    }
}

/// The numbers of one outgoing stream (see the module documentation).
#[derive(Debug)]
pub(crate) struct Rewriter {
    clock_rate: u32,
    segment: Option<Segment>,
    last: Option<Last>,
}

#[derive(Debug)]
struct Segment {
    ssrc: u32,
    sequence: Unwrapper,
    /// First input (extended) of the segment.
    start: u64,
    /// Highest input forwarded or dropped.
    highest: u64,
    /// Output = input + offset - dropped inputs below it.
    offset: i64,
    dropped: DroppedSet,
    timestamp_offset: u32,
    pictures: Option<PictureMap>,
}

#[derive(Debug)]
struct PictureMap {
    ids: Unwrapper,
    highest: u64,
    offset: i64,
    dropped: DroppedSet,
    tl0_offset: u8,
}

/// What the stream sent last, for the next segment to follow.
#[derive(Debug, Clone, Copy)]
struct Last {
    sequence: u64,
    timestamp: u32,
    at: Instant,
    ssrc: u32,
    timestamp_offset: u32,
    picture: Option<u64>,
    tl0: Option<u8>,
}

impl Rewriter {
    /// A stream clocked at `clock_rate` Hz that has sent nothing yet.
    pub(crate) fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            segment: None,
            last: None,
        }
    }

    /// The input SSRC of the current segment.
    pub(crate) fn source(&self) -> Option<u32> {
        self.segment.as_ref().map(|s| s.ssrc)
    }

    /// Output timestamp minus input timestamp in the current segment: what
    /// maps the source's sender reports onto the output stream.
    pub(crate) fn timestamp_offset(&self) -> Option<u32> {
        self.segment.as_ref().map(|s| s.timestamp_offset)
    }

    /// Starts a segment at `packet` of source `ssrc` (sequence number
    /// `sequence`, timestamp `timestamp`), which arrived `now`.
    /// `aligned_timestamp` is `timestamp` on the previous source's RTP clock
    /// when the caller knows it (from both sources' sender reports).
    pub(crate) fn begin(
        &mut self,
        ssrc: u32,
        sequence: u16,
        timestamp: u32,
        info: &PacketInfo,
        aligned_timestamp: Option<u32>,
        now: Instant,
    ) {
        let mut unwrapper = Unwrapper::new(16);
        let input = unwrapper.extend(u64::from(sequence));
        let first_output = self.last.map_or(input, |l| l.sequence + 1);
        let timestamp_offset = match self.last {
            None => 0,
            Some(last) if last.ssrc == ssrc => last.timestamp_offset,
            Some(last) => {
                let target = match aligned_timestamp {
                    Some(aligned) => aligned.wrapping_add(last.timestamp_offset),
                    None => {
                        let elapsed = now.saturating_duration_since(last.at).as_secs_f64();
                        last.timestamp
                            .wrapping_add((elapsed * f64::from(self.clock_rate)) as u32)
                    }
                };
                // A new frame: strictly after the last one sent.
                let target = if target.wrapping_sub(last.timestamp) as i32 <= 0 {
                    last.timestamp.wrapping_add(1)
                } else {
                    target
                };
                target.wrapping_sub(timestamp)
            }
        };
        let pictures = info.vp8.and_then(|ids| {
            let id = ids.picture_id?;
            let mut unwrapper = Unwrapper::new(if ids.long_picture_id { 15 } else { 7 });
            let input = unwrapper.extend(u64::from(id));
            let first = self.last.and_then(|l| l.picture).map_or(input, |p| p + 1);
            let tl0_offset = match (self.last.and_then(|l| l.tl0), ids.tl0_pic_idx) {
                (Some(last), Some(tl0)) => last.wrapping_add(1).wrapping_sub(tl0),
                _ => 0,
            };
            Some(PictureMap {
                ids: unwrapper,
                highest: input,
                offset: first as i64 - input as i64,
                dropped: DroppedSet::new(PICTURE_WINDOW),
                tl0_offset,
            })
        });
        self.segment = Some(Segment {
            ssrc,
            sequence: unwrapper,
            start: input,
            highest: input,
            offset: first_output as i64 - input as i64,
            dropped: DroppedSet::new(SEQUENCE_WINDOW),
            timestamp_offset,
            pictures,
        });
    }

    /// The output numbers of a packet of the current segment's source, or
    /// `None` when it cannot go out (another source, from before the
    /// segment, dropped earlier, or too old to place).
    pub(crate) fn rewrite(
        &mut self,
        ssrc: u32,
        sequence: u16,
        timestamp: u32,
        info: &PacketInfo,
        now: Instant,
    ) -> Option<Rewritten> {
        let segment = self.segment.as_mut().filter(|s| s.ssrc == ssrc)?;
        let input = segment.sequence.extend(u64::from(sequence));
        let newest = segment.sequence.highest().unwrap_or(input);
        segment.offset -= segment.dropped.forget_before(newest) as i64;
        if input < segment.start
            || input < segment.dropped.oldest_accepted(newest)
            || segment.dropped.contains(input)
        {
            return None;
        }
        let output =
            (input as i64 + segment.offset - segment.dropped.count_below(input) as i64) as u64;
        segment.highest = segment.highest.max(input);
        let output_timestamp = timestamp.wrapping_add(segment.timestamp_offset);
        let (picture, tl0) = match (&mut segment.pictures, info.vp8) {
            (Some(map), Some(ids)) => map.rewrite(&ids),
            _ => (None, info.vp8.and_then(|ids| ids.tl0_pic_idx)),
        };
        let picture_id = picture.map(|(_, id)| id);
        let newer = self.last.is_none_or(|l| output > l.sequence);
        if newer {
            self.last = Some(Last {
                sequence: output,
                timestamp: output_timestamp,
                at: now,
                ssrc,
                timestamp_offset: segment.timestamp_offset,
                picture: picture
                    .map(|(extended, _)| extended)
                    .or(self.last.and_then(|l| l.picture)),
                tl0: tl0.or(self.last.and_then(|l| l.tl0)),
            });
        }
        Some(Rewritten {
            sequence_number: output as u16,
            timestamp: output_timestamp,
            picture_id,
            tl0_pic_idx: tl0,
        })
    }

    /// Leaves out a packet of the current source on purpose: the outputs
    /// after it close the gap (when it is newer than everything handled).
    pub(crate) fn drop_packet(&mut self, ssrc: u32, sequence: u16, info: &PacketInfo) {
        let Some(segment) = self.segment.as_mut().filter(|s| s.ssrc == ssrc) else {
            return;
        };
        let input = segment.sequence.extend(u64::from(sequence));
        if input > segment.highest {
            segment.highest = input;
            segment.dropped.insert(input);
        }
        if let (Some(map), Some(ids)) = (&mut segment.pictures, info.vp8)
            && let Some(id) = ids.picture_id
        {
            let picture = map.ids.extend(u64::from(id));
            if picture > map.highest {
                map.highest = picture;
                map.dropped.insert(picture);
            }
        }
    }
}

impl PictureMap {
    /// The extended and written output picture id, and the output TL0PICIDX.
    fn rewrite(&mut self, ids: &Vp8Ids) -> (Option<(u64, u16)>, Option<u8>) {
        let tl0 = ids.tl0_pic_idx.map(|t| t.wrapping_add(self.tl0_offset));
        let Some(id) = ids.picture_id else {
            return (None, tl0);
        };
        let input = self.ids.extend(u64::from(id));
        let newest = self.ids.highest().unwrap_or(input);
        self.offset -= self.dropped.forget_before(newest) as i64;
        let output =
            (input as i64 + self.offset - self.dropped.count_below(input) as i64).max(0) as u64;
        self.highest = self.highest.max(input);
        let mask = if ids.long_picture_id { 0x7fff } else { 0x7f };
        (Some((output, (output & mask) as u16)), tl0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn vp8_info(picture_id: u16, tl0: u8) -> PacketInfo {
        PacketInfo {
            vp8: Some(Vp8Ids {
                picture_id: Some(picture_id),
                long_picture_id: true,
                picture_id_at: 2,
                tl0_pic_idx: Some(tl0),
                tl0_at: 4,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_first_segment_keeps_the_source_numbers() {
        let now = Instant::now();
        let mut r = Rewriter::new(90_000);
        let info = vp8_info(100, 5);
        r.begin(7, 65_535, 1000, &info, None, now);
        let out = r.rewrite(7, 65_535, 1000, &info, now).unwrap();
        assert_eq!(
            out,
            Rewritten {
                sequence_number: 65_535,
                timestamp: 1000,
                picture_id: Some(100),
                tl0_pic_idx: Some(5)
            }
        );
        assert!(!out.changes_vp8(&info.vp8.unwrap()));
        assert_eq!(
            r.rewrite(7, 0, 4000, &vp8_info(101, 5), now)
                .unwrap()
                .sequence_number,
            0
        );
        assert_eq!(r.rewrite(8, 1, 4000, &info, now), None, "another source");
        assert_eq!(
            r.rewrite(7, 65_534, 1000, &info, now),
            None,
            "before the segment"
        );
    }

    #[test]
    fn dropped_packets_and_pictures_leave_no_gap() {
        let now = Instant::now();
        let mut r = Rewriter::new(90_000);
        r.begin(1, 10, 0, &vp8_info(1, 1), None, now);
        assert_eq!(
            r.rewrite(1, 10, 0, &vp8_info(1, 1), now)
                .unwrap()
                .sequence_number,
            10
        );
        r.drop_packet(1, 11, &vp8_info(2, 1));
        r.drop_packet(1, 12, &vp8_info(2, 1));
        let out = r.rewrite(1, 13, 6000, &vp8_info(3, 2), now).unwrap();
        assert_eq!((out.sequence_number, out.picture_id), (11, Some(2)));
        // A retransmission of the first packet keeps its number; a copy of a
        // dropped one stays dropped.
        assert_eq!(
            r.rewrite(1, 10, 0, &vp8_info(1, 1), now)
                .unwrap()
                .sequence_number,
            10
        );
        assert_eq!(r.rewrite(1, 12, 3000, &vp8_info(2, 1), now), None);
        // An earlier packet dropped late does not move what was already sent.
        r.begin(1, 20, 9000, &vp8_info(5, 3), None, now);
        let a = r.rewrite(1, 22, 9000, &vp8_info(5, 3), now).unwrap();
        r.drop_packet(1, 21, &vp8_info(5, 3));
        assert_eq!(r.rewrite(1, 22, 9000, &vp8_info(5, 3), now).unwrap(), a);
    }

    #[test]
    fn a_switch_continues_every_number_and_the_time() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000);
        r.begin(1, 500, 10_000, &vp8_info(1000, 9), None, t0);
        r.rewrite(1, 500, 10_000, &vp8_info(1000, 9), t0).unwrap();
        // Another source, 100 ms later, with unrelated numbers: by arrival time.
        let t1 = t0 + Duration::from_millis(100);
        r.begin(2, 7, 123_456, &vp8_info(20, 200), None, t1);
        let first = r.rewrite(2, 7, 123_456, &vp8_info(20, 200), t1).unwrap();
        assert_eq!(first.sequence_number, 501);
        assert_eq!(first.timestamp, 10_000 + 9000);
        assert_eq!(
            (first.picture_id, first.tl0_pic_idx),
            (Some(1001), Some(10))
        );
        assert_eq!(
            r.timestamp_offset(),
            Some((10_000u32 + 9000).wrapping_sub(123_456))
        );
        // By sender reports: the aligned timestamp decides.
        let t2 = t1 + Duration::from_millis(10);
        r.begin(3, 0, 50, &vp8_info(3, 0), Some(123_456 + 2700), t2);
        let third = r.rewrite(3, 0, 50, &vp8_info(3, 0), t2).unwrap();
        assert_eq!(
            (third.sequence_number, third.timestamp),
            (502, 10_000 + 9000 + 2700)
        );
        // Never at or before the last timestamp sent.
        r.begin(4, 0, 0, &vp8_info(3, 0), Some(0), t2);
        let fourth = r.rewrite(4, 0, 0, &vp8_info(3, 0), t2).unwrap();
        assert_eq!(fourth.timestamp, third.timestamp + 1);
    }

    #[test]
    fn resuming_the_same_source_keeps_its_clock_and_closes_the_sequence_gap() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(48_000);
        let info = PacketInfo::default();
        r.begin(1, 100, 0, &info, None, t0);
        r.rewrite(1, 100, 0, &info, t0).unwrap();
        let t1 = t0 + Duration::from_secs(5);
        r.begin(1, 400, 240_000, &info, None, t1);
        let out = r.rewrite(1, 400, 240_000, &info, t1).unwrap();
        assert_eq!((out.sequence_number, out.timestamp), (101, 240_000));
    }

    /// Random drops, reordering, duplicates and switches: outputs of
    /// forwarded packets are unique per input, strictly follow input order
    /// within a segment, leave no gap for drops, and each segment continues
    /// the previous one.
    #[test]
    fn sequence_numbers_stay_continuous_under_random_drops_reordering_and_switches() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let now = Instant::now();
        for _round in 0..200 {
            let mut r = Rewriter::new(90_000);
            let mut expected_next: Option<u64> = None;
            let mut sent_total: u64 = 0;
            let mut first_output: Option<u64> = None;
            let mut all_outputs = std::collections::HashMap::<u16, (u32, u16)>::new();
            for segment in 0..rng.random_range(1..5u32) {
                let ssrc = 100 + segment % 2; // the same source may come back
                let start: u16 = rng.random();
                let len = rng.random_range(1..300u16);
                // Decide drops up front; packets arrive with some reordering.
                let drops: Vec<bool> = (0..len).map(|i| i > 0 && rng.random_bool(0.2)).collect();
                let mut order: Vec<u16> = (0..len).collect();
                let reorder = rng.random_bool(0.5);
                for i in 1..order.len() {
                    if reorder && rng.random_bool(0.1) {
                        let j = i.saturating_sub(rng.random_range(1..4)).max(1);
                        order.swap(i, j);
                    }
                }
                r.begin(ssrc, start, 0, &PacketInfo::default(), None, now);
                let mut outputs = std::collections::BTreeMap::new();
                for &i in &order {
                    let seq = start.wrapping_add(i);
                    if drops[i as usize] {
                        r.drop_packet(ssrc, seq, &PacketInfo::default());
                    } else if let Some(out) = r.rewrite(ssrc, seq, 0, &PacketInfo::default(), now) {
                        // Duplicates map to the same number.
                        let again = r
                            .rewrite(ssrc, seq, 0, &PacketInfo::default(), now)
                            .unwrap();
                        assert_eq!(again, out);
                        outputs.insert(i, out.sequence_number);
                    }
                }
                // In input order, outputs increase; in order, by exactly one
                // (drops close their gaps). A drop decided after a later
                // packet went out leaves a gap, which a receiver sees as a loss.
                let values: Vec<u16> = outputs.values().copied().collect();
                for pair in values.windows(2) {
                    let step = pair[1].wrapping_sub(pair[0]);
                    assert!((1..0x8000).contains(&step), "step {step} in {values:?}");
                    if !reorder {
                        assert_eq!(step, 1, "{values:?}");
                    }
                }
                if let (Some(next), Some(&first)) = (expected_next, values.first()) {
                    assert_eq!(
                        u64::from(first),
                        next % 65_536,
                        "segment continues the last"
                    );
                }
                for (&i, &out) in &outputs {
                    if let Some(&(seg, input)) = all_outputs.get(&out) {
                        panic!(
                            "output {out} reused: segment {seg} input {input} and {segment} {i}"
                        );
                    }
                    all_outputs.insert(out, (segment, i));
                }
                if let Some(&last) = values.iter().max_by_key(|&&v| v.wrapping_sub(values[0])) {
                    expected_next = Some(u64::from(last) + 1);
                }
                sent_total += values.len() as u64;
                first_output.get_or_insert(u64::from(values[0]));
            }
            assert!(sent_total > 0);
        }
    }
}
