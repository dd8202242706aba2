//! Encoded caps of the codecs rtcgate carries, both ways.

use rtcgate_core::Codec;

/// Caps of encoded `codec` as rtcgatesrc produces them (no picture size).
pub(crate) fn codec_caps(codec: Codec) -> gst::Caps {
    match codec {
        Codec::Opus => gst::Caps::builder("audio/x-opus")
            .field("channel-mapping-family", 0i32)
            .field("channels", 2i32)
            .field("rate", 48_000i32)
            .build(),
        Codec::Vp8 => gst::Caps::builder("video/x-vp8").build(),
        Codec::Vp9 => gst::Caps::builder("video/x-vp9").build(),
        Codec::H264 => gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build(),
        Codec::Av1 => gst::Caps::builder("video/x-av1")
            .field("stream-format", "obu-stream")
            .field("alignment", "tu")
            .build(),
    }
}

/// Caps of a remote track's first frame: [`codec_caps`] plus a variable
/// frame rate (`0/1`) for video and the picture
/// size of a VP8/VP9 keyframe, which muxers need (H.264 and AV1 get theirs
/// from `h264parse`/`av1parse`).
pub(crate) fn frame_caps(codec: Codec, keyframe: &[u8]) -> gst::Caps {
    let mut caps = codec_caps(codec);
    let size = match codec {
        Codec::Vp8 => vp8_size(keyframe),
        Codec::Vp9 => vp9_size(keyframe),
        _ => None,
    };
    if codec.kind() == rtcgate_core::MediaKind::Video {
        // Variable frame rate (webmmux insists on the field).
        caps.make_mut().set("framerate", gst::Fraction::new(0, 1));
    }
    if let Some((width, height)) = size {
        let caps = caps.make_mut();
        caps.set("width", width as i32);
        caps.set("height", height as i32);
    }
    caps
}

/// Every encoded format, for pad templates.
pub(crate) fn all_caps(kind: rtcgate_core::MediaKind) -> gst::Caps {
    let mut caps = gst::Caps::new_empty();
    for codec in Codec::ALL.into_iter().filter(|c| c.kind() == kind) {
        caps.merge(codec_caps(codec));
    }
    caps
}

/// Caps accepted by an rtcgatesink pad: like [`codec_caps`] with Opus
/// accepted at any channel layout.
pub(crate) fn sink_caps(kind: rtcgate_core::MediaKind) -> gst::Caps {
    let mut caps = gst::Caps::new_empty();
    for codec in Codec::ALL.into_iter().filter(|c| c.kind() == kind) {
        caps.merge(match codec {
            Codec::Opus => gst::Caps::builder("audio/x-opus").build(),
            other => codec_caps(other),
        });
    }
    caps
}

/// The codec of negotiated caps.
pub(crate) fn caps_codec(caps: &gst::CapsRef) -> Option<Codec> {
    let name = caps.structure(0)?.name();
    Some(match name.as_str() {
        "audio/x-opus" => Codec::Opus,
        "video/x-vp8" => Codec::Vp8,
        "video/x-vp9" => Codec::Vp9,
        "video/x-h264" => Codec::H264,
        "video/x-av1" => Codec::Av1,
        _ => return None,
    })
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

/// Reads bits MSB first.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |acc, _| Some((acc << 1) | self.bit()?))
    }
}

/// VP9 keyframe uncompressed header, up to frame_size().
fn vp9_size(frame: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits {
        data: frame,
        pos: 0,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn first_frame(file: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/media")
            .join(file);
        let clip = rtcgate_core::media::Clip::open(path).unwrap();
        clip.samples(0).next().unwrap().data.to_vec()
    }

    #[test]
    fn picture_size_of_shipped_clips() {
        gst::init().unwrap();
        for (codec, file) in [
            (Codec::Vp8, "testsrc-vp8.ivf"),
            (Codec::Vp8, "testsrc-vp8-640x360.ivf"),
            (Codec::Vp9, "testsrc-vp9.ivf"),
        ] {
            let caps = frame_caps(codec, &first_frame(file));
            let s = caps.structure(0).unwrap();
            assert!(s.get::<i32>("width").unwrap() > 0, "{file}: {caps}");
            assert!(s.get::<i32>("height").unwrap() > 0, "{file}: {caps}");
            assert_eq!(caps_codec(&caps), Some(codec));
        }
    }
}
