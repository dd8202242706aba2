//! Plain enums shared by several parts of the C API.

use std::ffi::c_int;

use rtcgate_core::{Codec, ConnectionState};

use crate::error::{Failure, FfiResult, rtcgate_error};

/// Media codecs (encoded media in and out; no transcoding).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rtcgate_codec {
    /// Opus audio, 48 kHz. Samples are Opus packets.
    RTCGATE_CODEC_OPUS = 1,
    /// VP8 video. Samples are whole frames.
    RTCGATE_CODEC_VP8 = 2,
    /// VP9 video (profile 0).
    RTCGATE_CODEC_VP9 = 3,
    /// H.264 video (constrained baseline): Annex-B access units.
    RTCGATE_CODEC_H264 = 4,
    /// AV1 video: low-overhead OBU temporal units.
    RTCGATE_CODEC_AV1 = 5,
}

impl From<Codec> for rtcgate_codec {
    fn from(codec: Codec) -> Self {
        match codec {
            Codec::Opus => rtcgate_codec::RTCGATE_CODEC_OPUS,
            Codec::Vp8 => rtcgate_codec::RTCGATE_CODEC_VP8,
            Codec::Vp9 => rtcgate_codec::RTCGATE_CODEC_VP9,
            Codec::H264 => rtcgate_codec::RTCGATE_CODEC_H264,
            Codec::Av1 => rtcgate_codec::RTCGATE_CODEC_AV1,
        }
    }
}

/// The codec for an `int` argument.
pub fn codec_arg(value: c_int) -> FfiResult<Codec> {
    Ok(match value {
        1 => Codec::Opus,
        2 => Codec::Vp8,
        3 => Codec::Vp9,
        4 => Codec::H264,
        5 => Codec::Av1,
        other => {
            return Err(Failure::new(
                rtcgate_error::RTCGATE_ERR_INVALID,
                format!("unknown codec {other} (see rtcgate_codec)"),
            ));
        }
    })
}

/// State of the connection with one member.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rtcgate_connection_state {
    /// Not applicable (events other than `RTCGATE_CALL_EVENT_CONNECTION_STATE`).
    RTCGATE_STATE_NONE = 0,
    RTCGATE_STATE_CONNECTING = 1,
    RTCGATE_STATE_CONNECTED = 2,
    /// Connectivity lost; it may come back by itself.
    RTCGATE_STATE_DISCONNECTED = 3,
    /// Connectivity failed; an ICE restart is attempted.
    RTCGATE_STATE_FAILED = 4,
    RTCGATE_STATE_CLOSED = 5,
}

impl From<ConnectionState> for rtcgate_connection_state {
    fn from(state: ConnectionState) -> Self {
        match state {
            ConnectionState::Connecting => rtcgate_connection_state::RTCGATE_STATE_CONNECTING,
            ConnectionState::Connected => rtcgate_connection_state::RTCGATE_STATE_CONNECTED,
            ConnectionState::Disconnected => rtcgate_connection_state::RTCGATE_STATE_DISCONNECTED,
            ConnectionState::Failed => rtcgate_connection_state::RTCGATE_STATE_FAILED,
            ConnectionState::Closed => rtcgate_connection_state::RTCGATE_STATE_CLOSED,
        }
    }
}

/// Microseconds as a non-negative `Duration`.
pub fn micros_arg(value: i64, name: &str) -> FfiResult<std::time::Duration> {
    u64::try_from(value)
        .map(std::time::Duration::from_micros)
        .map_err(|_| {
            Failure::new(
                rtcgate_error::RTCGATE_ERR_INVALID,
                format!("{name} must not be negative"),
            )
        })
}

/// A `Duration` in microseconds, saturated.
pub fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
