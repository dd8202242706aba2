//! What the container needs from a codec's bitstream beyond the frames:
//! the codec configuration records (Matroska `CodecPrivate`) and H.264 framing.

use crate::media::bitstream::{BitReader, av1_sequence_header, h264_nal_units};

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

/// `AV1CodecConfigurationRecord` (the `av1C` box body) for a temporal unit
/// that holds a sequence header OBU: profile and level of operating point 0
/// where the header is simple enough to read, followed by the sequence header.
pub(crate) fn av1_config(keyframe: &[u8]) -> Option<Vec<u8>> {
    let header = av1_sequence_header(keyframe)?;
    let mut r = BitReader::new(header.payload);
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
    out.extend_from_slice(header.whole);
    Some(out)
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
    use crate::codec::Codec;
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
