//! `rtcgatesrc`: joins a room and adds one source pad per remote track.
//!
//! Pads are named `video_<member>_<n>` / `audio_<member>_<n>` (sometimes pads;
//! `<n>` counts a member's tracks of that kind from 0) and carry the encoded
//! frames (caps from [`crate::caps`]) timestamped in running time. A pad ends
//! with EOS and is removed when its track ends (the member left or removed
//! it); every pad ends with EOS when the call ends or the element gets EOS.

use gst::glib;
use gst::prelude::*;

mod gate;
mod imp;
mod output;
mod rtp;

glib::wrapper! {
    /// The `rtcgatesrc` element (a bin of one `appsrc` per remote track).
    pub struct RtcGateSrc(ObjectSubclass<imp::RtcGateSrc>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy;
}

/// Registers `rtcgatesrc` with `plugin`.
pub(crate) fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtcgatesrc",
        gst::Rank::NONE,
        RtcGateSrc::static_type(),
    )
}
