//! VP9 over RTP, read by rtcgate itself (RFC 9628): the payload descriptor,
//! picture reassembly into superframes, and the frame header bits the
//! recorder needs.
//!
//! rtcgate does not use rtc-rtp 0.21's `Vp9Packet`: it kept the reference
//! list (P_DIFF) of earlier packets and refused a valid third reference,
//! so after a few inter frames every packet failed, and it joined spatial
//! layers without a superframe index. Patching it would mean forking
//! rtc-rtp and every crate that depends on it (see `core/vendor/README.md`),
//! and the bridge needs the descriptor itself (layer ids, switching points,
//! references, the scalability structure) to select layers without
//! depacketizing.

pub mod depacketizer;
pub mod descriptor;
pub mod frame_header;
pub mod payloader;
pub mod superframe;

pub use depacketizer::Vp9Depacketizer;
pub use payloader::Vp9Payloader;
