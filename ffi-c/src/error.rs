//! Error codes and the per-thread last-error message.

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int};

/// Result codes. Every function that can fail returns `RTCGATE_OK` (0) or a
/// non-negative value on success, and one of these negative codes on failure;
/// `rtcgate_last_error()` then describes the failure.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rtcgate_error {
    /// Success.
    RTCGATE_OK = 0,
    /// An argument is out of range or inconsistent.
    RTCGATE_ERR_INVALID = -1,
    /// A required pointer argument is NULL.
    RTCGATE_ERR_NULL = -2,
    /// A string argument is not valid UTF-8.
    RTCGATE_ERR_UTF8 = -3,
    /// The handle is not (or no longer) valid: never created, or destroyed.
    RTCGATE_ERR_HANDLE = -4,
    /// The handle is valid but names another kind of object
    /// (e.g. a data channel passed where a call is expected).
    RTCGATE_ERR_WRONG_TYPE = -5,
    /// `rtcgate_init` was not called, or `rtcgate_shutdown` was.
    RTCGATE_ERR_NOT_INITIALIZED = -6,
    /// `rtcgate_init` was called twice without `rtcgate_shutdown`.
    RTCGATE_ERR_ALREADY_INITIALIZED = -7,
    /// The object is closed (call left, channel closed, track ended).
    RTCGATE_ERR_CLOSED = -8,
    /// An operation timed out.
    RTCGATE_ERR_TIMEOUT = -9,
    /// The signalling connection failed.
    RTCGATE_ERR_SIGNALLING = -10,
    /// The signalling server refused (bad token, room full, …).
    RTCGATE_ERR_REJECTED = -11,
    /// The WebRTC stack reported an error.
    RTCGATE_ERR_WEBRTC = -12,
    /// An I/O error (files, sockets).
    RTCGATE_ERR_IO = -13,
    /// The codec (or file format) is not supported.
    RTCGATE_ERR_UNSUPPORTED = -14,
    /// The caller's buffer is too small; call again with the size returned
    /// when passing a NULL buffer.
    RTCGATE_ERR_TOO_SMALL = -15,
    /// The function may not be called from inside a callback
    /// (`rtcgate_shutdown`).
    RTCGATE_ERR_IN_CALLBACK = -16,
    /// Too many live objects (the handle table is full).
    RTCGATE_ERR_LIMIT = -17,
    /// An internal error (a bug in rtcgate); the library stays usable.
    RTCGATE_ERR_INTERNAL = -18,
    /// A session description or candidate could not be applied (malformed
    /// SDP, wrong signalling state, nothing negotiable).
    RTCGATE_ERR_NEGOTIATION = -19,
}

use rtcgate_error::*;

impl rtcgate_error {
    /// Stable name of the code (`"RTCGATE_ERR_HANDLE"`).
    pub fn name(self) -> &'static str {
        match self {
            RTCGATE_OK => "RTCGATE_OK",
            RTCGATE_ERR_INVALID => "RTCGATE_ERR_INVALID",
            RTCGATE_ERR_NULL => "RTCGATE_ERR_NULL",
            RTCGATE_ERR_UTF8 => "RTCGATE_ERR_UTF8",
            RTCGATE_ERR_HANDLE => "RTCGATE_ERR_HANDLE",
            RTCGATE_ERR_WRONG_TYPE => "RTCGATE_ERR_WRONG_TYPE",
            RTCGATE_ERR_NOT_INITIALIZED => "RTCGATE_ERR_NOT_INITIALIZED",
            RTCGATE_ERR_ALREADY_INITIALIZED => "RTCGATE_ERR_ALREADY_INITIALIZED",
            RTCGATE_ERR_CLOSED => "RTCGATE_ERR_CLOSED",
            RTCGATE_ERR_TIMEOUT => "RTCGATE_ERR_TIMEOUT",
            RTCGATE_ERR_SIGNALLING => "RTCGATE_ERR_SIGNALLING",
            RTCGATE_ERR_REJECTED => "RTCGATE_ERR_REJECTED",
            RTCGATE_ERR_WEBRTC => "RTCGATE_ERR_WEBRTC",
            RTCGATE_ERR_IO => "RTCGATE_ERR_IO",
            RTCGATE_ERR_UNSUPPORTED => "RTCGATE_ERR_UNSUPPORTED",
            RTCGATE_ERR_TOO_SMALL => "RTCGATE_ERR_TOO_SMALL",
            RTCGATE_ERR_IN_CALLBACK => "RTCGATE_ERR_IN_CALLBACK",
            RTCGATE_ERR_LIMIT => "RTCGATE_ERR_LIMIT",
            RTCGATE_ERR_INTERNAL => "RTCGATE_ERR_INTERNAL",
            RTCGATE_ERR_NEGOTIATION => "RTCGATE_ERR_NEGOTIATION",
        }
    }

    const ALL: [rtcgate_error; 20] = [
        RTCGATE_OK,
        RTCGATE_ERR_INVALID,
        RTCGATE_ERR_NULL,
        RTCGATE_ERR_UTF8,
        RTCGATE_ERR_HANDLE,
        RTCGATE_ERR_WRONG_TYPE,
        RTCGATE_ERR_NOT_INITIALIZED,
        RTCGATE_ERR_ALREADY_INITIALIZED,
        RTCGATE_ERR_CLOSED,
        RTCGATE_ERR_TIMEOUT,
        RTCGATE_ERR_SIGNALLING,
        RTCGATE_ERR_REJECTED,
        RTCGATE_ERR_WEBRTC,
        RTCGATE_ERR_IO,
        RTCGATE_ERR_UNSUPPORTED,
        RTCGATE_ERR_TOO_SMALL,
        RTCGATE_ERR_IN_CALLBACK,
        RTCGATE_ERR_LIMIT,
        RTCGATE_ERR_INTERNAL,
        RTCGATE_ERR_NEGOTIATION,
    ];

    /// The code for an integer, if it is one.
    pub fn from_code(code: c_int) -> Option<rtcgate_error> {
        Self::ALL.into_iter().find(|e| *e as c_int == code)
    }
}

/// A failure: a code and a message for `rtcgate_last_error()`.
#[derive(Debug)]
pub struct Failure {
    pub code: rtcgate_error,
    pub message: String,
}

impl Failure {
    pub fn new(code: rtcgate_error, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

/// Result type of the implementation functions behind the C entry points.
pub type FfiResult<T> = Result<T, Failure>;

impl From<rtcgate_core::Error> for Failure {
    fn from(error: rtcgate_core::Error) -> Failure {
        use rtcgate_core::ErrorKind as K;
        let code = match error.kind() {
            K::SignallingRejected => RTCGATE_ERR_REJECTED,
            K::Signalling => RTCGATE_ERR_SIGNALLING,
            K::WebRtc => RTCGATE_ERR_WEBRTC,
            K::InvalidArgument => RTCGATE_ERR_INVALID,
            K::UnsupportedCodec => RTCGATE_ERR_UNSUPPORTED,
            K::Closed => RTCGATE_ERR_CLOSED,
            K::Timeout => RTCGATE_ERR_TIMEOUT,
            K::Io => RTCGATE_ERR_IO,
            K::Negotiation => RTCGATE_ERR_NEGOTIATION,
            _ => RTCGATE_ERR_INTERNAL,
        };
        Failure::new(code, error.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `failure` as this thread's last error and returns its code.
pub fn record(failure: Failure) -> c_int {
    let text = CString::new(failure.message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
    failure.code as c_int
}

/// Clears this thread's last error (at the start of every entry point).
pub fn clear() {
    LAST_ERROR.with(|last| {
        let mut last = last.borrow_mut();
        if !last.as_bytes().is_empty() {
            *last = CString::default();
        }
    });
}

/// Pointer to this thread's last error message (valid until the next call
/// into the library on this thread).
pub fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}
