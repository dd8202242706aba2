//! rtcgate-core: join WebRTC calls from native code, send and receive encoded
//! media and data, and record calls.
//!
//! The main entry points are [`signalling::SignallingServer`] (the embedded
//! room server), [`call::Call`] (membership of one room) and the track and
//! data-channel types it hands out.

pub mod call;
pub mod codec;
pub mod data_channel;
pub mod error;
pub mod media;
pub mod recorder;
pub mod signalling;
pub mod stats;

pub use call::{Call, CallEvent, CallEvents, CallOptions, ConnectionState, IceServer};
pub use codec::{Codec, MediaKind};
pub use data_channel::{DataChannel, DataChannelOptions, DataMessage};
pub use error::{Error, Result};
pub use media::{EncodedFrame, LocalTrack, MediaSample, RemoteTrack};
pub use stats::CallStats;
