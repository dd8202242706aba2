//! [`ProtocolDetails`]: what a signalling protocol said when it refused a
//! request — our room protocol's error code, or an HTTP status with the
//! server's RFC 9457 problem details (WHIP/WHEP) — carried by an
//! [`Error`](super::Error) so that a caller can branch on them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::signalling::protocol::ErrorCode;

/// The protocol's own account of a refusal ([`Error::protocol_details`](super::Error::protocol_details)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProtocolDetails {
    /// The embedded room protocol's error code (`docs/signalling.md`, "Errors").
    Room(ErrorCode),
    /// An HTTP response with an error status (WHIP, WHEP).
    Http {
        /// The status code (4xx, 5xx).
        status: u16,
        /// The body's problem details, when it was `application/problem+json`.
        problem: Option<ProblemDetails>,
        /// `Retry-After` in seconds, when the server sent one (503).
        retry_after: Option<u64>,
    },
}

impl ProtocolDetails {
    /// The HTTP status, for an HTTP refusal.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ProtocolDetails::Http { status, .. } => Some(*status),
            ProtocolDetails::Room(_) => None,
        }
    }
}

impl fmt::Display for ProtocolDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolDetails::Room(code) => write!(f, "{code}"),
            ProtocolDetails::Http { status, .. } => write!(f, "HTTP {status}"),
        }
    }
}

/// RFC 9457 problem details (`application/problem+json`), as a server sent them.
///
/// ```
/// use rtcgate_core::ProblemDetails;
///
/// let problem = ProblemDetails::from_json(br#"{"type":"about:blank","title":"Forbidden","status":403,"detail":"bad token","room":"demo"}"#).unwrap();
/// assert_eq!(problem.detail.as_deref(), Some("bad token"));
/// assert_eq!(problem.extensions["room"], "demo");
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProblemDetails {
    /// A URI naming the problem type (`about:blank` when absent).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_uri: Option<String>,
    /// A short summary of the problem type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The HTTP status the server meant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// An explanation of this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A URI naming this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Members beyond the standard ones.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl ProblemDetails {
    /// Parses a problem-details JSON object; `None` when it is not one.
    pub fn from_json(body: &[u8]) -> Option<ProblemDetails> {
        serde_json::from_slice(body).ok()
    }

    /// The most specific human text: `detail`, else `title`.
    pub fn summary(&self) -> Option<&str> {
        self.detail.as_deref().or(self.title.as_deref())
    }
}
