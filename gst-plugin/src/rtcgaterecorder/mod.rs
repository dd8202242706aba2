//! `rtcgaterecorder`: records a room into a folder through core's recorder
//! (one WebM/Matroska file per participant), with no pads at all:
//!
//! ```text
//! gst-launch-1.0 -e rtcgaterecorder uri=ws://host:8443/ws room=demo location=recordings
//! ```
//!
//! EOS (gst-launch `-e` on Ctrl-C) or going to READY closes every file and
//! posts EOS. Files are playable at any moment, also after a crash.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// The `rtcgaterecorder` element.
    pub struct RtcGateRecorder(ObjectSubclass<imp::RtcGateRecorder>)
        @extends gst::Element, gst::Object,
        @implements gst::ChildProxy;
}

/// Registers `rtcgaterecorder` with `plugin`.
pub(crate) fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtcgaterecorder",
        gst::Rank::NONE,
        RtcGateRecorder::static_type(),
    )
}
