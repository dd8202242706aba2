//! Reading codec bitstreams: bits MSB first with Exp-Golomb codes, LEB128,
//! H.264 Annex-B NAL units and AV1 OBUs. Shared by the picture-size and
//! keyframe parsers and the recorder's codec configuration records.

/// Reads bits most-significant first; `None` past the end.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    /// Bits read so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// Exp-Golomb unsigned (H.264 `ue(v)`; AV1's `uvlc()` is the same code).
    pub(crate) fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }

    /// Exp-Golomb signed (H.264 `se(v)`).
    pub(crate) fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        let magnitude = k.div_ceil(2) as i32;
        Some(if k % 2 == 1 { magnitude } else { -magnitude })
    }
}

/// An unsigned LEB128 value (at most 8 bytes) and its length in bytes.
pub(crate) fn read_leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The NAL units (without start codes) of an H.264 Annex-B stream.
pub(crate) fn h264_nal_units(stream: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (k, &start) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(stream.len(), |&next| next - 3);
        // A 4-byte start code leaves a zero byte at the end of the previous unit.
        while end > start && stream[end - 1] == 0 && k + 1 < starts.len() {
            end -= 1;
        }
        if end > start {
            units.push(&stream[start..end]);
        }
    }
    units.into_iter()
}

/// Removes H.264 emulation-prevention bytes (00 00 03 → 00 00).
pub(crate) fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// AV1 OBU type of a sequence header.
pub(crate) const AV1_OBU_SEQUENCE_HEADER: u8 = 1;

/// One OBU of an AV1 low-overhead bitstream.
pub(crate) struct Obu<'a> {
    /// `obu_type`.
    pub(crate) kind: u8,
    /// The whole OBU, header included.
    pub(crate) whole: &'a [u8],
    /// The payload after the header and size field.
    pub(crate) payload: &'a [u8],
}

/// The OBUs of an AV1 low-overhead bitstream; an OBU without a size field
/// runs to the end of the stream, and a truncated one ends the iteration.
pub(crate) fn av1_obus(stream: &[u8]) -> impl Iterator<Item = Obu<'_>> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let header = *stream.get(pos)?;
        let header_len = 1 + usize::from(header & 0x04 != 0);
        let start = pos;
        let (payload_start, end) = if header & 0x02 != 0 {
            let (size, len) = read_leb128(stream.get(pos + header_len..)?)?;
            let payload_start = pos + header_len + len;
            let end = payload_start.checked_add(usize::try_from(size).ok()?)?;
            (payload_start, end)
        } else {
            (pos + header_len, stream.len())
        };
        let payload = stream.get(payload_start..end)?;
        pos = end;
        Some(Obu {
            kind: (header >> 3) & 0x0f,
            whole: &stream[start..end],
            payload,
        })
    })
}

/// The first sequence header OBU of an AV1 temporal unit.
pub(crate) fn av1_sequence_header(stream: &[u8]) -> Option<Obu<'_>> {
    av1_obus(stream).find(|obu| obu.kind == AV1_OBU_SEQUENCE_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_and_leb128() {
        // ue: 1 → 0, 010 → 1, 011 → 2, 00100 → 3; se of 011 (k = 2) is -1.
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0000]);
        assert_eq!(r.ue(), Some(0));
        assert_eq!(r.ue(), Some(1));
        assert_eq!(r.se(), Some(-1));
        assert_eq!(r.ue(), Some(3));
        assert_eq!(read_leb128(&[0xE5, 0x8E, 0x26]), Some((624_485, 3)));
        assert_eq!(read_leb128(&[0x80; 9]), None);
    }

    #[test]
    fn nal_units_with_three_and_four_byte_start_codes() {
        let stream = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4,
        ];
        let units: Vec<&[u8]> = h264_nal_units(&stream).collect();
        assert_eq!(units, [&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4]]);
        assert_eq!(unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3]), [0, 0, 1, 0, 0]);
    }

    #[test]
    fn obus_stop_at_a_truncated_one() {
        // temporal delimiter (size 0), sequence header (size 2), then a
        // frame OBU that claims 9 bytes but has 1.
        let stream = [0x12, 0x00, 0x0A, 0x02, 0xAA, 0xBB, 0x32, 0x09, 0x01];
        let kinds: Vec<u8> = av1_obus(&stream).map(|o| o.kind).collect();
        assert_eq!(kinds, [2, 1]);
        let header = av1_sequence_header(&stream).unwrap();
        assert_eq!(header.whole, &stream[2..6]);
        assert_eq!(header.payload, &[0xAA, 0xBB]);
    }
}
