//! The uniffi exports of librtcgate: the objects Kotlin and Swift see
//! (generated in library mode from this module by `bindings-kotlin/generate.sh`;
//! see `docs/bindings.md`).
//!
//! - Objects are `Arc`s (`SignallingServer`, `Call`, `LocalTrack`,
//!   `RemoteTrack`, `DataChannel`, `Recorder`); in Kotlin they are
//!   `AutoCloseable`, and closing twice is harmless.
//! - `async fn`s become Kotlin `suspend` / Swift `async`. Their futures run
//!   on the library's one tokio runtime (`crate::runtime`, started on first
//!   use when the C API's `rtcgate_init` was not called): the foreign
//!   executor only polls a join handle.
//! - Events reach foreign *listener traits* (`#[uniffi::export(with_foreign)]`),
//!   each subscription on its own library thread, never on a runtime worker,
//!   so a listener may block or call back into the library.
//! - Failures are [`RtcgateError`] (a Kotlin exception / Swift `Error`).

mod call;
mod data_channel;
mod local_track;
mod recorder;
mod remote_track;
mod server;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

pub use call::{
    Call, CallConfig, CallEvent, CallListener, ConnectionState, IceServerConfig, Member,
};
pub use data_channel::{DataChannel, DataChannelConfig, DataChannelListener, DataMessage};
pub use local_track::LocalTrack;
pub use recorder::{
    RecordedTrack, Recorder, RecorderConfig, RecorderEvent, RecorderListener, RecordingSummary,
};
pub use remote_track::{Frame, FrameListener, RemoteTrack};
pub use server::SignallingServer;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::error::rtcgate_error;

/// Everything that can fail in the bindings (a Kotlin `RtcgateException`
/// subclass, a Swift `RtcgateError` case). `detail` says what happened.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum RtcgateError {
    /// The signalling server refused (bad room, token, room full, ...).
    #[error("signalling rejected ({code}): {detail}")]
    SignallingRejected {
        /// The protocol's error code, as on the wire (`wrong-token`, `room-full`, …).
        code: String,
        /// The server's explanation.
        detail: String,
    },
    /// The signalling connection failed or closed.
    #[error("signalling: {detail}")]
    Signalling {
        /// What happened.
        detail: String,
    },
    /// The WebRTC stack reported an error.
    #[error("webrtc: {detail}")]
    WebRtc {
        /// What happened.
        detail: String,
    },
    /// An argument was refused (empty name, bad address, unknown member, ...).
    #[error("invalid argument: {detail}")]
    InvalidArgument {
        /// What was wrong.
        detail: String,
    },
    /// The codec is not supported here.
    #[error("unsupported codec: {detail}")]
    UnsupportedCodec {
        /// Which.
        detail: String,
    },
    /// The object was closed (call left, channel closed, server stopped).
    #[error("closed: {detail}")]
    Closed {
        /// Which object.
        detail: String,
    },
    /// A time limit elapsed.
    #[error("timed out: {detail}")]
    Timeout {
        /// What took too long.
        detail: String,
    },
    /// An I/O error (binding a port, creating a folder, ...).
    #[error("i/o: {detail}")]
    Io {
        /// What happened.
        detail: String,
    },
    /// A session description or candidate could not be applied (malformed
    /// SDP, wrong signalling state, nothing negotiable).
    #[error("negotiation: {detail}")]
    Negotiation {
        /// What happened.
        detail: String,
    },
    /// A bug in the library (a panic was caught).
    #[error("internal: {detail}")]
    Internal {
        /// What happened.
        detail: String,
    },
}

impl From<rtcgate_core::Error> for RtcgateError {
    fn from(error: rtcgate_core::Error) -> Self {
        use rtcgate_core::ErrorKind as K;
        let detail = error.to_string();
        match error.kind() {
            K::SignallingRejected => RtcgateError::SignallingRejected {
                // The room protocol's code, or `http-STATUS` for a WHIP/WHEP refusal.
                code: error
                    .signalling_code()
                    .map(|code| code.as_str().to_owned())
                    .or_else(|| {
                        error
                            .protocol_details()
                            .and_then(|d| d.http_status())
                            .map(|status| format!("http-{status}"))
                    })
                    .unwrap_or_default(),
                detail: error.message().to_owned(),
            },
            K::Signalling => RtcgateError::Signalling { detail },
            K::WebRtc => RtcgateError::WebRtc { detail },
            K::InvalidArgument => RtcgateError::InvalidArgument { detail },
            K::UnsupportedCodec => RtcgateError::UnsupportedCodec { detail },
            K::Closed => RtcgateError::Closed { detail },
            K::Timeout => RtcgateError::Timeout { detail },
            K::Io => RtcgateError::Io { detail },
            K::Negotiation => RtcgateError::Negotiation { detail },
            _ => RtcgateError::Internal { detail },
        }
    }
}

impl From<crate::error::Failure> for RtcgateError {
    fn from(failure: crate::error::Failure) -> Self {
        let detail = failure.message;
        match failure.code {
            rtcgate_error::RTCGATE_ERR_IO => RtcgateError::Io { detail },
            rtcgate_error::RTCGATE_ERR_TIMEOUT => RtcgateError::Timeout { detail },
            rtcgate_error::RTCGATE_ERR_INVALID => RtcgateError::InvalidArgument { detail },
            _ => RtcgateError::Internal { detail },
        }
    }
}

/// Result of the bindings' functions.
pub type Result<T, E = RtcgateError> = std::result::Result<T, E>;

pub(crate) fn invalid(detail: impl Into<String>) -> RtcgateError {
    RtcgateError::InvalidArgument {
        detail: detail.into(),
    }
}

/// The library's runtime, started (2 worker threads) if the C API's
/// `rtcgate_init` has not started it.
pub fn runtime() -> Result<Handle> {
    if let Ok(handle) = crate::runtime::handle() {
        return Ok(handle);
    }
    // Another thread may start it at the same moment: then ours fails with
    // "already initialized" and its runtime is used.
    if crate::runtime::start(2).is_ok() {
        tracing::debug!("runtime started by the uniffi bindings");
    }
    Ok(crate::runtime::handle()?)
}

/// Runs `future` on the library's runtime and waits for it from whatever
/// executor polls this (the foreign language's): core's futures need the
/// tokio context.
pub(crate) async fn on_runtime<F>(future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime()?
        .spawn(future)
        .await
        .map_err(|e| RtcgateError::Internal {
            detail: format!("task failed: {e}"),
        })
}

/// Runs `future` to completion on the calling (foreign, non-runtime) thread.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let handle = runtime()?;
    if Handle::try_current().is_ok() {
        return Err(invalid(
            "blocking rtcgate function called from inside the library's runtime",
        ));
    }
    Ok(handle.block_on(future))
}

/// A subscription delivering events to a foreign listener on its own thread.
/// Dropping it stops the delivery (the thread ends after the event it is
/// delivering, if any); it never waits, so it may be dropped from inside
/// the listener.
pub(crate) struct Subscription {
    _stop: oneshot::Sender<()>,
    done: Mutex<Option<oneshot::Receiver<()>>>,
    thread: std::thread::ThreadId,
}

impl Subscription {
    /// Waits (at most 10 s) until the pump has ended by itself, i.e. every
    /// event was delivered. Returns at once on the listener's own thread.
    pub(crate) async fn finished(&self) {
        if std::thread::current().id() == self.thread {
            return;
        }
        let done = self
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(done) = done {
            // The time limit needs the runtime's timer (this runs on the
            // foreign executor).
            let wait = async move { tokio::time::timeout(Duration::from_secs(10), done).await };
            let _ = on_runtime(wait).await;
        }
    }
}

/// Starts a thread named `name` that runs `pump` on the library's runtime
/// handle (not on a worker: the pump calls foreign listeners, which may block).
pub(crate) fn subscribe<F>(name: &str, pump: F) -> Result<Subscription>
where
    F: Future<Output = ()> + Send + 'static,
{
    let handle = runtime()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (finished, done) = oneshot::channel::<()>();
    let thread_name = name.to_owned();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // Attached to the JVM for the thread's whole life (when a JVM
            // loaded the library): JNA would otherwise attach and detach it
            // around every listener call. Dropped last: the pump (and the
            // listener it owns) is released while still attached.
            let _jvm = crate::jni_pipe::ThreadAttachment::new(&thread_name);
            handle.block_on(async move {
                tokio::select! {
                    _ = pump => {}
                    _ = stopped => {}
                }
            });
            let _ = finished.send(());
        })
        .map_err(|e| RtcgateError::Io {
            detail: format!("listener thread: {e}"),
        })?;
    Ok(Subscription {
        _stop: stop,
        done: Mutex::new(Some(done)),
        thread: thread.thread().id(),
    })
}

/// Calls a foreign listener, logging instead of unwinding when it fails (an
/// exception thrown by a Kotlin listener becomes a panic in uniffi's glue).
/// Returns false when the listener failed.
pub(crate) fn notify(what: &str, call: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(()) => true,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            tracing::warn!(listener = what, %message, "a listener failed");
            false
        }
    }
}

/// A media codec (the encoded bitstreams rtcgate carries without transcoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Codec {
    /// Opus audio, 48 kHz.
    Opus,
    /// VP8 video.
    Vp8,
    /// VP9 video.
    Vp9,
    /// H.264 video (Annex-B).
    H264,
    /// AV1 video (OBUs).
    Av1,
}

impl From<Codec> for rtcgate_core::Codec {
    fn from(codec: Codec) -> Self {
        match codec {
            Codec::Opus => rtcgate_core::Codec::Opus,
            Codec::Vp8 => rtcgate_core::Codec::Vp8,
            Codec::Vp9 => rtcgate_core::Codec::Vp9,
            Codec::H264 => rtcgate_core::Codec::H264,
            Codec::Av1 => rtcgate_core::Codec::Av1,
        }
    }
}

impl From<rtcgate_core::Codec> for Codec {
    fn from(codec: rtcgate_core::Codec) -> Self {
        match codec {
            rtcgate_core::Codec::Opus => Codec::Opus,
            rtcgate_core::Codec::Vp8 => Codec::Vp8,
            rtcgate_core::Codec::Vp9 => Codec::Vp9,
            rtcgate_core::Codec::H264 => Codec::H264,
            rtcgate_core::Codec::Av1 => Codec::Av1,
        }
    }
}

/// The library version (`"0.1.0"`).
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_their_kind() {
        use rtcgate_core::{Error, ErrorKind};
        let e: RtcgateError = Error::new(ErrorKind::InvalidArgument, "x").into();
        assert!(matches!(e, RtcgateError::InvalidArgument { ref detail } if detail.contains('x')));
        let e: RtcgateError = Error::new(ErrorKind::Timeout, "slow").into();
        assert!(matches!(e, RtcgateError::Timeout { .. }));
        let e: RtcgateError = Error::new(ErrorKind::Closed, "call").into();
        assert!(matches!(e, RtcgateError::Closed { .. }));
        let e: RtcgateError = Error::new(ErrorKind::Negotiation, "bad sdp").into();
        assert!(matches!(e, RtcgateError::Negotiation { .. }));
        let e: RtcgateError = Error::new(ErrorKind::Signalling, "refused").into();
        assert_eq!(e.to_string(), "signalling: signalling: refused");
    }

    #[test]
    fn codecs_round_trip() {
        for codec in rtcgate_core::Codec::ALL {
            assert_eq!(rtcgate_core::Codec::from(Codec::from(codec)), codec);
        }
    }

    #[test]
    fn call_config_is_checked() {
        let config = CallConfig {
            ice_servers: vec![IceServerConfig {
                urls: vec!["turn:10.0.0.1:3478".into()],
                username: "u".into(),
                credential: "p".into(),
            }],
            relay_only: true,
            bind_address: Some("10.0.0.5:0".into()),
            include_loopback: false,
            join_timeout_ms: 0,
            token: Some("secret".into()),
            options: "ice-restart-delay=2s socket-buffer-size=64K".into(),
        };
        let (options, timeout) = config.to_options().unwrap();
        assert_eq!(options.ice_restart_delay, Duration::from_secs(2));
        assert_eq!(options.socket_buffer_size, 64 << 10);
        assert_eq!(options.ice_servers[0].username, "u");
        assert_eq!(
            options.ice_transport_policy,
            rtcgate_core::IceTransportPolicy::Relay
        );
        assert_eq!(
            options.udp_addrs,
            vec!["10.0.0.5:0".parse::<std::net::SocketAddr>().unwrap()]
        );
        assert!(timeout > Duration::ZERO);
        let (_, request) = config
            .join_request("ws://127.0.0.1:9/ws", "room".into(), "me".into(), &options)
            .unwrap();
        assert_eq!(request.token.as_deref(), Some("secret"));
        assert_eq!(
            (request.room.as_str(), request.display_name.as_str()),
            ("room", "me")
        );
        let bad = CallConfig {
            bind_address: Some("nowhere".into()),
            ..config
        };
        assert!(matches!(
            bad.to_options(),
            Err(RtcgateError::InvalidArgument { .. })
        ));
        let bad = CallConfig {
            bind_address: None,
            options: "ice-timeouts=soon".into(),
            ..bad
        };
        assert!(matches!(
            bad.to_options(),
            Err(RtcgateError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn a_subscription_delivers_until_its_pump_ends_and_stops_when_dropped() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sub = subscribe("rtcgate-test", async move {
            for i in 0..3 {
                tx.send(i).unwrap();
            }
        })
        .unwrap();
        block_on(sub.finished()).unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2]);

        // A pump that never ends stops when its subscription is dropped.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let sub = subscribe("rtcgate-test", async move {
            let _keep = tx;
            std::future::pending::<()>().await;
        })
        .unwrap();
        drop(sub);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
            "the pump ended (its sender was dropped)"
        );
    }

    #[test]
    fn a_listener_that_panics_is_contained() {
        assert!(!notify("test", || panic!("listener failed")));
        assert!(notify("test", || {}));
    }
}
