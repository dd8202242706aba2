//! Encoded media in and out of calls: local tracks that send samples, remote
//! tracks that deliver frames reassembled from RTP.

mod av1_layers;
pub(crate) mod binding_track;
pub(crate) mod bitstream;
mod clip;
mod frame;
pub(crate) mod frame_assembler;
mod h264_profile;
pub(crate) mod keyframe;
pub(crate) mod local_track;
mod picture_size;
pub(crate) mod remote_track;
#[cfg(test)]
pub(crate) mod rtp_dump;
pub(crate) mod rtp_tap;
pub(crate) mod stall_watch;
mod track_health;
pub(crate) mod track_layers;
pub(crate) mod vp9;

pub use clip::Clip;
pub use frame::{EncodedFrame, MediaSample, SenderClock};
pub use frame_assembler::AssemblerStats;
pub use h264_profile::H264Profile;
pub use local_track::LocalTrack;
pub use picture_size::picture_size;
pub use remote_track::{FrameSubscription, RemoteTrack};
pub use track_health::{FrameDrops, StallReport};
pub use track_layers::TrackLayer;
