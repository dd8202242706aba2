//! Encoded media in and out of calls: local tracks that send samples, remote
//! tracks that deliver frames reassembled from RTP.

mod av1_layers;
mod binding_track;
pub(crate) mod bitstream;
pub mod clip;
pub mod frame;
pub mod frame_assembler;
mod h264_profile;
pub mod keyframe;
pub mod local_track;
pub mod picture_size;
pub mod remote_track;
#[cfg(test)]
pub(crate) mod rtp_dump;
pub(crate) mod stall_watch;
pub mod track_health;
pub(crate) mod vp9;

pub use clip::Clip;
pub use frame::{EncodedFrame, MediaSample, SenderClock};
pub use frame_assembler::{AssemblerStats, FrameAssembler};
pub use h264_profile::H264Profile;
pub use local_track::LocalTrack;
pub use picture_size::picture_size;
pub use remote_track::{FrameSubscription, RemoteTrack};
pub use track_health::{FrameDrops, StallReport};
