//! GStreamer plugin `rtcgate`: join rtcgate calls from GStreamer pipelines.
//!
//! Elements:
//! - `rtcgatesink` ([`RtcGateSink`]): request pads `video_%u` / `audio_%u`
//!   take encoded media and publish it into a room;
//! - `rtcgatesrc` ([`RtcGateSrc`]): joins a room and adds one source pad per
//!   remote track, with encoded caps;
//! - `rtcgaterecorder` ([`RtcGateRecorder`]): records a room through core's
//!   recorder into a folder (one file per participant).
//!
//! Load it as a plugin (`libgstrtcgate.so` on `GST_PLUGIN_PATH`) or register
//! it in-process with [`plugin_register_static`]. See `docs/gst-plugin.md`.

use gst::glib;

mod caps;
mod connection;
mod messages;
mod meta;
mod rtcgaterecorder;
mod rtcgatesink;
mod rtcgatesrc;
mod runtime;
mod session;
mod signaller;

pub use rtcgaterecorder::RtcGateRecorder;
pub use rtcgatesink::RtcGateSink;
pub use rtcgatesrc::RtcGateSrc;
pub use signaller::RtcGateSignaller;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    rtcgatesrc::register(plugin)?;
    rtcgatesink::register(plugin)?;
    rtcgaterecorder::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    rtcgate,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    env!("CARGO_PKG_VERSION"),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    "https://example.invalid/rtcgate"
);
