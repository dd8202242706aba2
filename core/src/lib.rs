//! rtcgate-core: join WebRTC calls from native code, send and receive encoded
//! media and data, and record calls.
//!
//! The main entry points are [`Call`] (membership of one room), the tracks and
//! data channels it hands out ([`LocalTrack`], [`RemoteTrack`],
//! [`DataChannel`]), [`recorder::Recorder`] (a call to files), and
//! [`signalling`]: the [`Signaller`](signalling::Signaller) trait a call talks
//! through, the embedded room server and its client, and the in-process pair
//! for two calls without a server.
//!
//! Errors are one type, [`Error`], whose [`ErrorKind`] a program branches on.
//! Configuration structs start from `Default` and change with `with_*`
//! methods, so options added later keep their defaults.

#![warn(missing_docs)]

mod call;
mod codec;
mod data_channel;
mod error;
pub mod forward;
pub mod logging;
pub mod media;
mod options;
pub mod recorder;
mod rtp;
pub mod signalling;
pub mod stats;

pub use call::{
    CALL_OPTION_KEYS, Call, CallEvent, CallEvents, CallOptions, ConnectionState, IceServer,
    IceTimeouts, IceTransportPolicy,
};
pub use codec::{Codec, MediaKind};
pub use data_channel::{BufferedAmountLowEvents, DataChannel, DataChannelOptions, DataMessage};
pub use error::{Error, ErrorKind, ProblemDetails, ProtocolDetails, Result};
pub use media::{EncodedFrame, LocalTrack, MediaSample, RemoteTrack};
pub use stats::CallStats;
