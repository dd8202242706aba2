//! Encoded caps of the codecs rtcgate carries, both ways.

use rtcgate_core::Codec;
use rtcgate_core::media::{H264Profile, picture_size};

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

/// Caps of a remote track's keyframe: [`codec_caps`] plus a variable frame
/// rate (`0/1`) for video and the picture size the keyframe declares
/// ([`picture_size`], from rtcgate-core), which muxers need.
pub(crate) fn frame_caps(codec: Codec, keyframe: &[u8]) -> gst::Caps {
    let mut caps = codec_caps(codec);
    let size = picture_size(codec, keyframe);
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

/// New caps for a video keyframe that declares a picture size other than
/// the one in `current` (a mid-stream resolution change); `None` when the
/// size is the same or cannot be read.
pub(crate) fn changed_caps(
    codec: Codec,
    current: &gst::Caps,
    keyframe: &[u8],
) -> Option<gst::Caps> {
    picture_size(codec, keyframe)?;
    let caps = frame_caps(codec, keyframe);
    (caps != *current).then_some(caps)
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

/// The H.264 profile and level negotiated caps name (`profile=high`,
/// `level=4`), when they name one.
pub(crate) fn h264_profile(caps: &gst::CapsRef) -> Option<H264Profile> {
    let s = caps.structure(0)?;
    let profile = s.get::<&str>("profile").ok()?;
    H264Profile::from_names(profile, s.get::<&str>("level").ok())
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
    fn keyframe_caps_of_shipped_clips_have_a_size() {
        gst::init().unwrap();
        for (codec, file) in [
            (Codec::Vp8, "testsrc-vp8.ivf"),
            (Codec::Vp8, "testsrc-vp8-640x360.ivf"),
            (Codec::Vp9, "testsrc-vp9.ivf"),
            (Codec::H264, "testsrc-h264.h264"),
            (Codec::Av1, "testsrc-av1.ivf"),
        ] {
            let caps = frame_caps(codec, &first_frame(file));
            let s = caps.structure(0).unwrap();
            assert!(s.get::<i32>("width").unwrap() > 0, "{file}: {caps}");
            assert!(s.get::<i32>("height").unwrap() > 0, "{file}: {caps}");
            assert_eq!(caps_codec(&caps), Some(codec));
        }
    }
}
