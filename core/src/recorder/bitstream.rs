//! What the container needs from a codec's bitstream: picture size from
//! keyframes, and H.264 parameter sets and framing.

use crate::codec::Codec;

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

    pub(crate) fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// Exp-Golomb unsigned (H.264 `ue(v)`).
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    /// Exp-Golomb signed (H.264 `se(v)`).
    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        let magnitude = k.div_ceil(2) as i32;
        Some(if k % 2 == 1 { magnitude } else { -magnitude })
    }
}

/// Picture width and height carried by a keyframe, when the codec says so in
/// a form this module parses (VP8, VP9, H.264 with its SPS in the frame).
pub(crate) fn picture_size(codec: Codec, keyframe: &[u8]) -> Option<(u32, u32)> {
    match codec {
        Codec::Vp8 => vp8_size(keyframe),
        Codec::Vp9 => vp9_size(keyframe),
        Codec::H264 => {
            let sps =
                h264_nal_units(keyframe).find(|nal| nal.first().map(|b| b & 0x1f) == Some(7))?;
            h264_sps_size(sps)
        }
        Codec::Av1 | Codec::Opus => None,
    }
}

/// VP8 keyframe: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height.
fn vp8_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff);
    Some((width, height))
}

/// VP9 keyframe uncompressed header up to frame_size().
fn vp9_size(frame: &[u8]) -> Option<(u32, u32)> {
    let mut r = BitReader::new(frame);
    if r.bits(2)? != 2 {
        return None;
    }
    let profile = r.bit()? | (r.bit()? << 1);
    if profile == 3 {
        r.bit()?;
    }
    if r.bit()? == 1 {
        return None; // show_existing_frame
    }
    if r.bit()? != 0 {
        return None; // not a keyframe
    }
    r.bits(2)?; // show_frame, error_resilient_mode
    if r.bits(24)? != 0x49_83_42 {
        return None;
    }
    if profile >= 2 {
        r.bit()?; // ten_or_twelve_bit
    }
    let color_space = r.bits(3)?;
    if color_space != 7 {
        r.bit()?; // color_range
        if profile == 1 || profile == 3 {
            r.bits(3)?; // subsampling_x, subsampling_y, reserved
        }
    } else if profile == 1 || profile == 3 {
        r.bit()?;
    }
    let width = r.bits(16)? + 1;
    let height = r.bits(16)? + 1;
    Some((width, height))
}

/// The NAL units (without start codes) of an Annex-B stream.
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

/// Annex-B → length-prefixed (4-byte big-endian sizes), as Matroska's
/// `V_MPEG4/ISO/AVC` blocks carry H.264.
pub(crate) fn h264_annexb_to_length_prefixed(stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stream.len() + 16);
    for nal in h264_nal_units(stream) {
        out.extend((nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// `AVCDecoderConfigurationRecord` (ISO 14496-15) from the SPS and PPS of a keyframe.
pub(crate) fn h264_avcc(keyframe: &[u8]) -> Option<Vec<u8>> {
    let sps: Vec<&[u8]> = h264_nal_units(keyframe)
        .filter(|nal| nal.first().map(|b| b & 0x1f) == Some(7))
        .collect();
    let pps: Vec<&[u8]> = h264_nal_units(keyframe)
        .filter(|nal| nal.first().map(|b| b & 0x1f) == Some(8))
        .collect();
    let first = sps.first()?;
    if first.len() < 4 || pps.is_empty() {
        return None;
    }
    let mut out = vec![
        1,
        first[1],
        first[2],
        first[3],
        0xFF,
        0xE0 | sps.len() as u8,
    ];
    for unit in &sps {
        out.extend((unit.len() as u16).to_be_bytes());
        out.extend_from_slice(unit);
    }
    out.push(pps.len() as u8);
    for unit in &pps {
        out.extend((unit.len() as u16).to_be_bytes());
        out.extend_from_slice(unit);
    }
    Some(out)
}

/// Removes emulation-prevention bytes (00 00 03 → 00 00).
fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
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

/// Picture size from an H.264 SPS NAL unit (with its header byte).
fn h264_sps_size(sps: &[u8]) -> Option<(u32, u32)> {
    let rbsp = unescape_rbsp(sps.get(1..)?);
    let mut r = BitReader::new(&rbsp);
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].contains(&profile) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            r.bit()?;
        }
        r.ue()?;
        r.ue()?;
        r.bit()?;
        if r.bit()? == 1 {
            return None; // scaling matrices: not parsed
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? + 1;
    let height_units = r.ue()? + 1;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?;
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut crop_x, mut crop_y) = (0, 0);
    if r.bit()? == 1 {
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let (unit_x, unit_y) = match chroma_format {
            0 => (1, 2 - frame_mbs_only),
            1 => (2, 2 * (2 - frame_mbs_only)),
            2 => (2, 2 - frame_mbs_only),
            _ => (1, 2 - frame_mbs_only),
        };
        crop_x = unit_x * (left + right);
        crop_y = unit_y * (top + bottom);
    }
    let width = (width_mbs * 16).checked_sub(crop_x)?;
    let height = ((2 - frame_mbs_only) * height_units * 16).checked_sub(crop_y)?;
    Some((width, height))
}

/// `AV1CodecConfigurationRecord` (the `av1C` box body) for a temporal unit
/// that holds a sequence header OBU: profile and level of operating point 0
/// where the header is simple enough to read, followed by the sequence header.
pub(crate) fn av1_config(keyframe: &[u8]) -> Option<Vec<u8>> {
    let (obu, payload) = av1_sequence_header(keyframe)?;
    let mut r = BitReader::new(payload);
    let profile = r.bits(3)?;
    r.bit()?; // still_picture
    let reduced = r.bit()?;
    let (mut level, mut tier) = (31, 0); // 31 = unspecified
    if reduced == 1 {
        level = r.bits(5)?;
    } else if r.bit()? == 0 {
        // no timing info: initial_display_delay_present, operating points
        let delay_present = r.bit()?;
        let _count = r.bits(5)?;
        r.bits(12)?; // operating_point_idc[0]
        level = r.bits(5)?;
        if level > 7 {
            tier = r.bit()?;
        }
        let _ = delay_present;
    }
    let mut out = vec![
        0x81,
        ((profile << 5) | level) as u8,
        (tier << 7) as u8 | 0x0C,
        0,
    ];
    out.extend_from_slice(obu);
    Some(out)
}

/// The whole sequence header OBU and its payload, from a low-overhead stream.
fn av1_sequence_header(stream: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut pos = 0;
    while pos < stream.len() {
        let header = stream[pos];
        let obu_type = (header >> 3) & 0x0f;
        let header_len = 1 + usize::from(header & 0x04 != 0);
        if header & 0x02 == 0 {
            return None;
        }
        let (size, len) = read_leb128(stream.get(pos + header_len..)?)?;
        let payload_start = pos + header_len + len;
        let end = payload_start.checked_add(size as usize)?;
        if end > stream.len() {
            return None;
        }
        if obu_type == 1 {
            return Some((&stream[pos..end], &stream[payload_start..end]));
        }
        pos = end;
    }
    None
}

fn read_leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// `OpusHead` (RFC 7845) for WebRTC Opus: 48 kHz, stereo mapping family 0, no pre-skip.
pub(crate) fn opus_head(channels: u8) -> Vec<u8> {
    let mut out = b"OpusHead".to_vec();
    out.push(1);
    out.push(channels);
    out.extend(0u16.to_le_bytes());
    out.extend(48_000u32.to_le_bytes());
    out.extend(0i16.to_le_bytes());
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Clip;

    fn first_keyframe(name: &str) -> (Codec, Vec<u8>) {
        let path = format!("{}/../examples/media/{name}", env!("CARGO_MANIFEST_DIR"));
        let clip = Clip::open(path).expect("clip");
        let codec = clip.codec();
        let frame = clip
            .samples(0)
            .find(|s| crate::media::keyframe::is_keyframe(codec, &s.data))
            .expect("keyframe")
            .data
            .to_vec();
        (codec, frame)
    }

    #[test]
    fn shipped_clips_report_their_picture_size() {
        for name in ["testsrc-vp8.ivf", "testsrc-vp9.ivf", "testsrc-h264.h264"] {
            let (codec, frame) = first_keyframe(name);
            assert_eq!(picture_size(codec, &frame), Some((320, 240)), "{name}");
        }
    }

    #[test]
    fn h264_config_and_framing() {
        let (_, frame) = first_keyframe("testsrc-h264.h264");
        let avcc = h264_avcc(&frame).expect("avcC");
        assert_eq!(avcc[0], 1);
        assert_eq!(avcc[5] & 0x1f, 1, "one SPS");
        let framed = h264_annexb_to_length_prefixed(&frame);
        let mut pos = 0;
        let mut units = 0;
        while pos < framed.len() {
            let len = u32::from_be_bytes(framed[pos..pos + 4].try_into().unwrap()) as usize;
            pos += 4 + len;
            units += 1;
        }
        assert_eq!(pos, framed.len());
        assert_eq!(units, h264_nal_units(&frame).count());
    }

    #[test]
    fn av1_config_holds_the_sequence_header() {
        let (_, frame) = first_keyframe("testsrc-av1.ivf");
        let config = av1_config(&frame).expect("av1C");
        assert_eq!(config[0], 0x81);
        assert_eq!((config[4] >> 3) & 0x0f, 1, "sequence header OBU follows");
    }

    #[test]
    fn opus_head_is_19_bytes() {
        let head = opus_head(2);
        assert_eq!(head.len(), 19);
        assert_eq!(&head[..8], b"OpusHead");
    }
}
