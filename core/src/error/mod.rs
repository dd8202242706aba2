//! The error type of rtcgate-core: one [`Error`] with an [`ErrorKind`] to
//! branch on, a message for people, and the cause underneath.

mod details;

use std::fmt;

pub use details::{ProblemDetails, ProtocolDetails};

use crate::signalling::protocol::ErrorCode;

/// Result alias used throughout rtcgate-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is: the part a program branches on.
///
/// New kinds may be added; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument or option was invalid (empty id, bad URL, bad option value).
    InvalidArgument,
    /// The codec is not one rtcgate carries, or the peer cannot take it.
    UnsupportedCodec,
    /// The object was closed (call left, track removed, channel closed).
    Closed,
    /// A timeout elapsed.
    Timeout,
    /// An I/O error (files, sockets).
    Io,
    /// The signalling service refused a request (room full, bad token, an
    /// HTTP 4xx/5xx from a WHIP/WHEP server, …); [`Error::protocol_details`]
    /// carries what the protocol said.
    SignallingRejected,
    /// The signalling connection failed, closed, or broke the protocol.
    Signalling,
    /// A session description or ICE candidate could not be applied
    /// (malformed SDP, wrong signalling state, nothing negotiable).
    Negotiation,
    /// The WebRTC stack failed in a way rtcgate does not classify further;
    /// the message and [`source`](std::error::Error::source) say more.
    WebRtc,
}

impl ErrorKind {
    /// A short lower-case name (`invalid-argument`, `closed`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid-argument",
            ErrorKind::UnsupportedCodec => "unsupported-codec",
            ErrorKind::Closed => "closed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::SignallingRejected => "signalling-rejected",
            ErrorKind::Signalling => "signalling",
            ErrorKind::Negotiation => "negotiation",
            ErrorKind::WebRtc => "webrtc",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in rtcgate-core.
///
/// ```
/// use rtcgate_core::{Codec, ErrorKind};
///
/// let err = "mp3".parse::<Codec>().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::UnsupportedCodec);
/// assert_eq!(err.to_string(), "unsupported codec: mp3");
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    details: Option<Box<ProtocolDetails>>,
    source: Option<Source>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            details: None,
            source: None,
        }
    }

    /// The same error with `source` as its cause.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable message, without the kind's prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The room protocol's error code when our signalling server refused a
    /// request ([`ErrorKind::SignallingRejected`]), e.g. `room-full`.
    pub fn signalling_code(&self) -> Option<ErrorCode> {
        match self.details.as_deref() {
            Some(ProtocolDetails::Room(code)) => Some(*code),
            _ => None,
        }
    }

    /// What the signalling protocol said when it refused a request: the room
    /// protocol's code, or the HTTP status and problem details of a WHIP/WHEP
    /// server.
    ///
    /// ```
    /// # fn demo(err: rtcgate_core::Error) {
    /// use rtcgate_core::ProtocolDetails;
    ///
    /// if let Some(ProtocolDetails::Http { status: 401 | 403, problem, .. }) = err.protocol_details() {
    ///     eprintln!("not allowed: {:?}", problem.as_ref().and_then(|p| p.summary()));
    /// }
    /// # }
    /// ```
    pub fn protocol_details(&self) -> Option<&ProtocolDetails> {
        self.details.as_deref()
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn unsupported_codec(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnsupportedCodec, message)
    }

    pub(crate) fn closed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Closed, message)
    }

    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    pub(crate) fn signalling(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Signalling, message)
    }

    pub(crate) fn negotiation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Negotiation, message)
    }

    /// The signalling server refused a request with `code`.
    pub(crate) fn signalling_rejected(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::rejected(ProtocolDetails::Room(code), message)
    }

    /// A signalling service refused a request; `details` say how.
    pub(crate) fn rejected(details: ProtocolDetails, message: impl Into<String>) -> Self {
        Self {
            details: Some(Box::new(details)),
            ..Self::new(ErrorKind::SignallingRejected, message)
        }
    }

    /// Wraps an error of the WebRTC stack, classified by what it means to a
    /// caller: closed objects, negotiation failures and codec mismatches get
    /// their own kinds; the rest is [`ErrorKind::WebRtc`].
    pub(crate) fn webrtc(err: webrtc::error::Error) -> Self {
        let kind = webrtc_kind(&err);
        let message = err.to_string();
        let err = match err {
            // Keep the operating system's error as the cause.
            webrtc::error::Error::Io(io) => {
                return Self::new(ErrorKind::Io, message).with_source(io);
            }
            other => other,
        };
        Self::new(kind, message).with_source(err)
    }
}

/// The kind a WebRTC stack error is to rtcgate's callers.
fn webrtc_kind(err: &webrtc::error::Error) -> ErrorKind {
    use webrtc::error::Error as E;
    match err {
        E::ErrConnectionClosed
        | E::ErrDataChannelClosed
        | E::ErrClosedPipe
        | E::ErrAlreadyClosed
        | E::ErrStreamClosed
        | E::ErrStreamAlreadyClosed
        | E::ErrAgentClosed
        | E::ErrConnClosed
        | E::ErrBufferClosed => ErrorKind::Closed,
        E::ErrTimeout => ErrorKind::Timeout,
        E::ErrCodecNotFound
        | E::CodecNotFound
        | E::ErrNoCodecsAvailable
        | E::ErrUnsupportedCodec
        | E::ErrSenderWithNoCodecs
        | E::ErrNoPayloaderForCodec
        | E::ErrRTPTransceiverCodecUnsupported => ErrorKind::UnsupportedCodec,
        E::ErrNoRemoteDescription
        | E::ErrIncorrectSDPSemantics
        | E::ErrIncorrectSignalingState
        | E::ErrSessionDescriptionNoFingerprint
        | E::ErrSessionDescriptionInvalidFingerprint
        | E::ErrSessionDescriptionConflictingFingerprints
        | E::ErrSessionDescriptionMissingIceUfrag
        | E::ErrSessionDescriptionMissingIcePwd
        | E::ErrSessionDescriptionConflictingIceUfrag
        | E::ErrSessionDescriptionConflictingIcePwd
        | E::ErrNoMatchingCertificateFingerprint
        | E::ErrUnsupportedFingerprintAlgorithm
        | E::ErrSDPDoesNotMatchOffer
        | E::ErrSDPDoesNotMatchAnswer
        | E::ErrPeerConnSDPTypeInvalidValue
        | E::ErrPeerConnSDPTypeInvalidValueSetLocalDescription
        | E::ErrPeerConnRemoteDescriptionWithoutMidValue
        | E::ErrPeerConnLocalDescriptionWithoutMidValue
        | E::ErrPeerConnRemoteDescriptionNil
        | E::ErrPeerConnLocalDescriptionNil
        | E::ErrPeerConnSimulcastMidRTPExtensionRequired
        | E::ErrPeerConnSimulcastStreamIDRTPExtensionRequired
        | E::ErrSDPZeroTransceivers
        | E::ErrSDPMediaSectionMediaDataChanInvalid
        | E::ErrSDPMediaSectionTrackInvalid
        | E::ErrSignalingStateCannotRollback
        | E::ErrSignalingStateProposedTransitionInvalid(_)
        | E::ErrRemoteUfragEmpty
        | E::ErrRemotePwdEmpty
        | E::ErrAttributeTooShortIceCandidate
        | E::ErrParsePriority
        | E::ErrUnknownCandidateType
        | E::SdpInvalidSyntax(_)
        | E::SdpInvalidValue(_)
        | E::SdpEmptyTimeDescription
        | E::OtherSdpErr(_) => ErrorKind::Negotiation,
        E::Io(_) => ErrorKind::Io,
        _ => ErrorKind::WebRtc,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.kind {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::UnsupportedCodec => "unsupported codec",
            ErrorKind::Closed => "closed",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Io => "i/o",
            ErrorKind::SignallingRejected => "signalling rejected",
            ErrorKind::Signalling => "signalling",
            ErrorKind::Negotiation => "negotiation",
            ErrorKind::WebRtc => "webrtc",
        };
        match &self.details {
            Some(details) => write!(f, "{prefix} ({details}): {}", self.message),
            None => write!(f, "{prefix}: {}", self.message),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(details) = &self.details {
            d.field("details", details);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, err.to_string()).with_source(err)
    }
}

/// `map_err(Error::webrtc)` as a method: `pc.close().await.webrtc()?`.
pub(crate) trait WebRtcResultExt<T> {
    /// Converts the stack's error into an rtcgate [`Error`].
    fn webrtc(self) -> Result<T>;
}

impl<T> WebRtcResultExt<T> for std::result::Result<T, webrtc::error::Error> {
    fn webrtc(self) -> Result<T> {
        self.map_err(Error::webrtc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn stack_errors_get_the_kind_a_caller_branches_on() {
        use webrtc::error::Error as E;
        assert_eq!(
            Error::webrtc(E::ErrDataChannelClosed).kind(),
            ErrorKind::Closed
        );
        assert_eq!(
            Error::webrtc(E::ErrSignalingStateProposedTransitionInvalid(
                "stable->have-local-pranswer".into()
            ))
            .kind(),
            ErrorKind::Negotiation
        );
        assert_eq!(
            Error::webrtc(E::SdpInvalidSyntax("m=".into())).kind(),
            ErrorKind::Negotiation
        );
        assert_eq!(
            Error::webrtc(E::ErrCodecNotFound).kind(),
            ErrorKind::UnsupportedCodec
        );
        let other = Error::webrtc(E::ErrBufferFull);
        assert_eq!(other.kind(), ErrorKind::WebRtc);
        assert!(
            other.source().is_some(),
            "the stack's error stays the cause"
        );
        assert!(other.to_string().starts_with("webrtc: "), "{other}");
    }

    #[test]
    fn io_errors_keep_their_cause() {
        let err: Error = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full").into();
        assert_eq!(err.kind(), ErrorKind::Io);
        let source = err.source().unwrap().downcast_ref::<std::io::Error>();
        assert_eq!(source.unwrap().kind(), std::io::ErrorKind::StorageFull);
    }

    #[test]
    fn rejections_carry_the_protocol_code() {
        let err = Error::signalling_rejected(ErrorCode::RoomFull, "room demo is full");
        assert_eq!(err.kind(), ErrorKind::SignallingRejected);
        assert_eq!(err.signalling_code(), Some(ErrorCode::RoomFull));
        assert_eq!(
            err.to_string(),
            "signalling rejected (room-full): room demo is full"
        );
        assert_eq!(
            Error::invalid_argument("x").signalling_code(),
            None,
            "only rejections carry a code"
        );
    }

    #[test]
    fn http_refusals_carry_status_and_problem() {
        let problem = ProblemDetails::from_json(
            br#"{"type":"https://example.org/bad-token","title":"Unauthorized","status":401,"detail":"token expired"}"#,
        );
        let err = Error::rejected(
            ProtocolDetails::Http {
                status: 401,
                problem: problem.clone(),
                retry_after: None,
            },
            "WHIP POST refused: token expired",
        );
        assert_eq!(err.kind(), ErrorKind::SignallingRejected);
        assert_eq!(err.signalling_code(), None);
        let details = err.protocol_details().unwrap();
        assert_eq!(details.http_status(), Some(401));
        assert!(
            matches!(details, ProtocolDetails::Http { problem: Some(p), .. } if p.summary() == Some("token expired"))
        );
        assert_eq!(
            err.to_string(),
            "signalling rejected (HTTP 401): WHIP POST refused: token expired"
        );
        assert!(ProblemDetails::from_json(b"<html>").is_none());
    }

    #[test]
    fn kinds_have_stable_names() {
        assert_eq!(ErrorKind::InvalidArgument.to_string(), "invalid-argument");
        assert_eq!(
            ErrorKind::SignallingRejected.as_str(),
            "signalling-rejected"
        );
    }
}
