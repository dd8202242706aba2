//! The error type of rtcgate-core.

use crate::signalling::protocol::ErrorCode;

/// Result alias used throughout rtcgate-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in rtcgate-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The signalling server answered with an error.
    #[error("signalling error {code}: {message}")]
    SignallingRejected {
        /// The protocol error code.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
    /// The signalling connection failed or closed.
    #[error("signalling connection: {0}")]
    Signalling(String),
    /// The WebRTC stack reported an error.
    #[error("webrtc: {0}")]
    WebRtc(#[from] webrtc::error::Error),
    /// An invalid argument (unknown codec, bad option, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The codec is not supported.
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    /// The object was closed (call left, track removed, channel closed).
    #[error("closed: {0}")]
    Closed(String),
    /// A timeout elapsed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// An I/O error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
