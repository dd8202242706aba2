//! `rtcgatesink`: publishes encoded media into a room.
//!
//! Request pads `video_%u` (VP8, VP9, H.264 byte-stream/au, AV1 obu-stream/tu,
//! or raw video) and `audio_%u` (Opus or raw audio; raw media gets an encoder
//! picked by rank). Each pad becomes a core `LocalTrack` (track id = pad
//! name) once its caps are known; buffers are sent at their running time
//! (the pad synchronises on the clock like any sink). Keyframe requests from
//! the other members go upstream as force-key-unit events.

use gst::glib;
use gst::prelude::*;

mod encoder;
mod imp;
mod input;

glib::wrapper! {
    /// The `rtcgatesink` element (a bin of one `appsink` per request pad).
    pub struct RtcGateSink(ObjectSubclass<imp::RtcGateSink>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy;
}

/// Registers `rtcgatesink` with `plugin`.
pub(crate) fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtcgatesink",
        gst::Rank::NONE,
        RtcGateSink::static_type(),
    )
}
