//! Picture size of a video keyframe, read from its bitstream: VP8 and VP9
//! frame headers, the H.264 SPS and the AV1 sequence header carried in the
//! keyframe. (core's recorder has the same parsing, crate-private.)

use rtcgate_core::Codec;

/// Width and height a keyframe of `codec` declares, if it carries them in
/// a form this module reads.
pub(crate) fn picture_size(codec: Codec, keyframe: &[u8]) -> Option<(u32, u32)> {
    match codec {
        Codec::Vp8 => vp8_size(keyframe),
        Codec::Vp9 => vp9_size(keyframe),
        Codec::H264 => h264_nal_units(keyframe)
            .find(|nal| nal.first().map(|b| b & 0x1f) == Some(7))
            .and_then(h264_sps_size),
        Codec::Av1 => av1_size(keyframe),
        Codec::Opus => None,
    }
}

/// Reads bits MSB first; `None` past the end.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// Exp-Golomb unsigned (H.264 `ue(v)`); AV1's `uvlc()` is the same code.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }

    /// Exp-Golomb signed (H.264 `se(v)`); only skipped here.
    fn se(&mut self) -> Option<()> {
        self.ue().map(|_| ())
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

/// VP9 keyframe uncompressed header, up to frame_size().
fn vp9_size(frame: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits::new(frame);
    if r.bits(2)? != 2 {
        return None;
    }
    let profile = r.bit()? | (r.bit()? << 1);
    if profile == 3 {
        r.bit()?;
    }
    if r.bit()? == 1 || r.bit()? != 0 {
        return None; // show_existing_frame, or not a keyframe
    }
    r.bits(2)?; // show_frame, error_resilient_mode
    if r.bits(24)? != 0x49_83_42 {
        return None;
    }
    if profile >= 2 {
        r.bit()?;
    }
    let color_space = r.bits(3)?;
    if color_space != 7 {
        r.bit()?;
        if profile == 1 || profile == 3 {
            r.bits(3)?;
        }
    } else if profile == 1 || profile == 3 {
        r.bit()?;
    }
    Some((r.bits(16)? + 1, r.bits(16)? + 1))
}

/// The NAL units (without start codes) of an Annex-B access unit.
fn h264_nal_units(stream: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let units: Vec<&[u8]> = starts
        .iter()
        .enumerate()
        .filter_map(|(k, &start)| {
            let mut end = starts.get(k + 1).map_or(stream.len(), |&next| next - 3);
            while end > start && stream[end - 1] == 0 && k + 1 < starts.len() {
                end -= 1;
            }
            (end > start).then(|| &stream[start..end])
        })
        .collect();
    units.into_iter()
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
    let mut r = Bits::new(&rbsp);
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

/// `max_frame_width/height` of the sequence header OBU of an AV1 temporal
/// unit (low-overhead format, every OBU with a size field).
fn av1_size(stream: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits::new(av1_sequence_header(stream)?);
    r.bits(3)?; // seq_profile
    r.bit()?; // still_picture
    if r.bit()? == 1 {
        r.bits(5)?; // reduced_still_picture_header: seq_level_idx[0]
    } else {
        let mut buffer_delay_bits = 0;
        let timing_info = r.bit()?;
        let mut decoder_model_info = 0;
        if timing_info == 1 {
            r.bits(32)?; // num_units_in_display_tick
            r.bits(32)?; // time_scale
            if r.bit()? == 1 {
                r.ue()?; // num_ticks_per_picture_minus_1
            }
            decoder_model_info = r.bit()?;
            if decoder_model_info == 1 {
                buffer_delay_bits = r.bits(5)? + 1;
                r.bits(32)?; // num_units_in_decoding_tick
                r.bits(10)?; // buffer_removal_time_length, frame_presentation_time_length
            }
        }
        let initial_display_delay = r.bit()?;
        for _ in 0..=r.bits(5)? {
            r.bits(12)?; // operating_point_idc
            if r.bits(5)? > 7 {
                r.bit()?; // seq_tier
            }
            if decoder_model_info == 1 && r.bit()? == 1 {
                r.bits(2 * buffer_delay_bits + 1)?; // operating_parameters_info
            }
            if initial_display_delay == 1 && r.bit()? == 1 {
                r.bits(4)?;
            }
        }
    }
    let width_bits = r.bits(4)? + 1;
    let height_bits = r.bits(4)? + 1;
    Some((r.bits(width_bits)? + 1, r.bits(height_bits)? + 1))
}

/// The payload of the first sequence header OBU of a temporal unit.
fn av1_sequence_header(stream: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    while pos < stream.len() {
        let header = stream[pos];
        let obu_type = (header >> 3) & 0x0f;
        let header_len = 1 + usize::from(header & 0x04 != 0);
        if header & 0x02 == 0 {
            return None; // no obu_size field
        }
        let (size, len) = read_leb128(stream.get(pos + header_len..)?)?;
        let start = pos + header_len + len;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        if end > stream.len() {
            return None;
        }
        if obu_type == 1 {
            return Some(&stream[start..end]);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn first_frame(file: &str) -> (Codec, Vec<u8>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/media")
            .join(file);
        let clip = rtcgate_core::media::Clip::open(path).unwrap();
        (clip.codec(), clip.samples(0).next().unwrap().data.to_vec())
    }

    #[test]
    fn picture_size_of_shipped_clips() {
        for (file, size) in [
            ("testsrc-vp8.ivf", (320, 240)),
            ("testsrc-vp8-640x360.ivf", (640, 360)),
            ("testsrc-vp9.ivf", (320, 240)),
            ("testsrc-h264.h264", (320, 240)),
            ("testsrc-av1.ivf", (320, 240)),
        ] {
            let (codec, frame) = first_frame(file);
            assert_eq!(picture_size(codec, &frame), Some(size), "{file}");
        }
    }

    #[test]
    fn delta_frames_and_garbage_have_no_size() {
        let (codec, _) = first_frame("testsrc-vp8.ivf");
        let clip = rtcgate_core::media::Clip::open(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/media/testsrc-vp8.ivf"),
        )
        .unwrap();
        let delta = clip.samples(0).nth(1).unwrap().data;
        assert_eq!(picture_size(codec, &delta), None);
        for codec in Codec::ALL {
            assert_eq!(picture_size(codec, &[0xff; 7]), None, "{codec:?}");
        }
    }
}
