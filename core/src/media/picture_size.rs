//! Picture size of a video keyframe, read from its bitstream: the VP8 and VP9
//! frame headers, the H.264 SPS and the AV1 sequence header carried in the
//! keyframe. Containers and GStreamer caps need it before the first frame.

use super::bitstream::{BitReader, av1_sequence_header, h264_nal_units, unescape_rbsp};
use super::vp9::frame_header::{FrameHeader, RefSlots};
use super::vp9::superframe;
use crate::codec::Codec;

/// Width and height a keyframe of `codec` declares, when it carries them in a
/// form parsed here: a VP8 or VP9 keyframe, an H.264 access unit with its SPS,
/// an AV1 temporal unit with its sequence header (the maximum frame size).
/// `None` for delta frames, audio and anything malformed.
pub fn picture_size(codec: Codec, keyframe: &[u8]) -> Option<(u32, u32)> {
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

/// VP8 keyframe: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height.
fn vp8_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff);
    Some((width, height))
}

/// VP9 keyframe: the size of the frame shown, which for a superframe of
/// spatial layers (`media::vp9`) is the last, largest one.
fn vp9_size(chunk: &[u8]) -> Option<(u32, u32)> {
    let mut slots = RefSlots::default();
    let mut size = None;
    for (i, frame) in superframe::split(chunk).into_iter().enumerate() {
        let header = FrameHeader::parse(frame, &slots)?;
        if i == 0 && !header.key {
            return None;
        }
        slots.update(&header);
        if header.show_frame {
            size = header.size;
        }
    }
    size
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
    let width = width_mbs.checked_mul(16)?.checked_sub(crop_x)?;
    let height = ((2 - frame_mbs_only) * height_units)
        .checked_mul(16)?
        .checked_sub(crop_y)?;
    Some((width, height))
}

/// `max_frame_width/height` of the sequence header OBU of an AV1 temporal
/// unit (AV1 spec 5.5.1).
fn av1_size(stream: &[u8]) -> Option<(u32, u32)> {
    let mut r = BitReader::new(av1_sequence_header(stream)?.payload);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Clip;

    fn clip(file: &str) -> Clip {
        Clip::open(format!(
            "{}/../examples/media/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("clip")
    }

    #[test]
    fn shipped_clips_report_their_picture_size() {
        for (file, size) in [
            ("testsrc-vp8.ivf", (320, 240)),
            ("testsrc-vp8-640x360.ivf", (640, 360)),
            ("testsrc-vp9.ivf", (320, 240)),
            ("testsrc-h264.h264", (320, 240)),
            ("testsrc-av1.ivf", (320, 240)),
        ] {
            let clip = clip(file);
            let keyframe = clip.samples(0).next().expect("first frame").data;
            assert_eq!(picture_size(clip.codec(), &keyframe), Some(size), "{file}");
        }
    }

    /// Chromium's L3T3_KEY key picture as the recorder writes it: a
    /// superframe of 320x180, 640x360 and the shown 1280x720.
    #[test]
    fn a_vp9_superframe_has_the_size_of_its_shown_layer() {
        let mut vp9 = crate::media::vp9::Vp9Depacketizer::default();
        for packet in crate::media::rtp_dump::read("chromium-vp9-l3t3-key.rtp") {
            vp9.push(&packet.payload).unwrap();
            if packet.header.marker {
                break;
            }
        }
        let key = vp9.finish().unwrap().unwrap();
        assert_eq!(picture_size(Codec::Vp9, &key), Some((1280, 720)));
    }

    #[test]
    fn delta_frames_audio_and_garbage_have_no_size() {
        for file in [
            "testsrc-vp8.ivf",
            "testsrc-vp9.ivf",
            "testsrc-h264.h264",
            "testsrc-av1.ivf",
        ] {
            let clip = clip(file);
            let delta = clip.samples(0).nth(1).expect("second frame").data;
            assert_eq!(picture_size(clip.codec(), &delta), None, "{file}");
        }
        for codec in Codec::ALL {
            assert_eq!(picture_size(codec, &[0xff; 7]), None, "{codec:?}");
            assert_eq!(picture_size(codec, &[]), None, "{codec:?}");
        }
    }
}
