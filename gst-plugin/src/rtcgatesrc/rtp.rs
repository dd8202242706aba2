//! The `rtp` property's output form: each track's frames payloaded again by
//! GStreamer's RTP payloaders, so that `rtpvp8depay`, `rtpbin`, `udpsink`…
//! can follow. The frames are already de-duplicated, reordered and complete
//! (core's frame assembler), so downstream needs no jitter buffer.

use gst::glib;
use gst::prelude::*;
use rtcgate_core::{Codec, MediaKind};

use crate::caps;

/// Payload type of video outputs (the first dynamic one).
const VIDEO_PT: u32 = 96;
/// Payload type of Opus outputs (as browsers use).
const OPUS_PT: u32 = 111;
/// Packet size that fits every path WebRTC uses.
const MTU: u32 = 1200;

/// Caps of the src pad templates: every encoded format, or RTP of the kind.
pub(super) fn template_caps(kind: MediaKind) -> gst::Caps {
    let mut caps = caps::all_caps(kind);
    caps.merge(
        gst::Caps::builder("application/x-rtp")
            .field("media", kind.as_str())
            .build(),
    );
    caps
}

/// A payloader for `codec` named after the output, or `None` when GStreamer
/// 1.22 has none (AV1: that output stays encoded).
pub(super) fn payloader(
    codec: Codec,
    output: &str,
) -> Result<Option<gst::Element>, glib::BoolError> {
    let (factory, pt) = match codec {
        Codec::Vp8 => ("rtpvp8pay", VIDEO_PT),
        Codec::Vp9 => ("rtpvp9pay", VIDEO_PT),
        Codec::H264 => ("rtph264pay", VIDEO_PT),
        Codec::Opus => ("rtpopuspay", OPUS_PT),
        Codec::Av1 => return Ok(None),
    };
    let element = gst::ElementFactory::make(factory)
        .name(format!("pay_{output}"))
        .property("pt", pt)
        .property("mtu", MTU)
        .build()?;
    match codec {
        Codec::Vp8 | Codec::Vp9 => element.set_property_from_str("picture-id-mode", "15-bit"),
        Codec::H264 => {
            // SPS/PPS with every IDR; one access unit per packet group, no waiting.
            element.set_property("config-interval", -1i32);
            element.set_property_from_str("aggregate-mode", "zero-latency");
        }
        _ => {}
    }
    Ok(Some(element))
}
