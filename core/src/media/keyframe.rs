//! Tells keyframes from delta frames by looking at the start of the bitstream.

use super::bitstream::{AV1_OBU_SEQUENCE_HEADER, av1_obus};
use crate::codec::Codec;

/// True when `frame` (a depacketized frame of `codec`) is independently decodable.
pub fn is_keyframe(codec: Codec, frame: &[u8]) -> bool {
    match codec {
        Codec::Opus => true,
        Codec::Vp8 => frame.first().is_some_and(|b| b & 0x01 == 0),
        Codec::Vp9 => vp9_is_keyframe(frame),
        Codec::H264 => h264_nal_types(frame).any(|t| t == 5 || t == 7),
        Codec::Av1 => av1_obus(frame).any(|obu| obu.kind == AV1_OBU_SEQUENCE_HEADER),
    }
}

/// VP9 uncompressed header: frame_marker(2) profile(2, +1 reserved when 3)
/// show_existing_frame(1) frame_type(1, 0 = key).
fn vp9_is_keyframe(frame: &[u8]) -> bool {
    let Some(&b) = frame.first() else {
        return false;
    };
    if b >> 6 != 0b10 {
        return false;
    }
    let profile = ((b >> 5) & 1) | (((b >> 4) & 1) << 1);
    let shift = if profile == 3 { 2 } else { 3 };
    let show_existing = (b >> shift) & 1;
    let frame_type = (b >> (shift - 1)) & 1;
    show_existing == 0 && frame_type == 0
}

/// NAL unit types of an Annex-B byte stream.
pub(crate) fn h264_nal_types(stream: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i + 3 < stream.len() {
            let start3 = stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1;
            if start3 {
                i += 3;
                return Some(stream[i] & 0x1f);
            }
            i += 1;
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframe_bit() {
        assert!(is_keyframe(
            Codec::Vp8,
            &[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]
        ));
        assert!(!is_keyframe(Codec::Vp8, &[0x11, 0x02, 0x00]));
        assert!(!is_keyframe(Codec::Vp8, &[]));
    }

    #[test]
    fn vp9_profile0_key_and_inter() {
        // marker 10, profile 00, show_existing 0, frame_type 0
        assert!(is_keyframe(Codec::Vp9, &[0b1000_0010]));
        // frame_type 1 -> inter frame
        assert!(!is_keyframe(Codec::Vp9, &[0b1000_0110]));
    }

    #[test]
    fn h264_idr_and_sps() {
        let idr = [0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x65, 0x88];
        assert!(is_keyframe(Codec::H264, &idr));
        let p = [0, 0, 0, 1, 0x41, 0x9a];
        assert!(!is_keyframe(Codec::H264, &p));
    }

    #[test]
    fn av1_sequence_header_marks_key() {
        // temporal delimiter (type 2, size 0), then sequence header (type 1, size 1)
        let key = [0x12, 0x00, 0x0a, 0x01, 0xff];
        assert!(is_keyframe(Codec::Av1, &key));
        // temporal delimiter, then frame OBU (type 6)
        let delta = [0x12, 0x00, 0x32, 0x01, 0xff];
        assert!(!is_keyframe(Codec::Av1, &delta));
    }
}
