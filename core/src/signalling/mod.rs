//! Signalling: the [`Signaller`] trait the call logic talks to, the embedded
//! room protocol ([`protocol`]), its server ([`SignallingServer`]) and its
//! WebSocket client ([`WsSignaller`]), and [`DirectSignaller`] for a peer whose
//! messages the application carries (or two calls in one process).

mod client;
mod direct;
pub mod protocol;
mod server;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use client::{MemberMeta, WsSignaller};
pub use direct::{DirectMessage, DirectSignaller, DirectTransport};
pub use protocol::{ErrorCode, IceCandidate, MemberId, MemberInfo, Meta};
pub use server::{RateLimitConfig, ServerConfig, SignallingServer};

use crate::error::Result;

/// What a member of a room asks for when it joins.
///
/// ```
/// use rtcgate_core::signalling::JoinRequest;
///
/// let request = JoinRequest::new("demo", "bot").with_token("s3cret");
/// assert_eq!(request.token.as_deref(), Some("s3cret"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JoinRequest {
    /// Room to join.
    pub room: String,
    /// Display name shown to the other members.
    pub display_name: String,
    /// Room token, when the room is protected by one.
    pub token: Option<String>,
}

impl JoinRequest {
    /// Joining `room` as `display_name`, without a token.
    pub fn new(room: impl Into<String>, display_name: impl Into<String>) -> Self {
        Self {
            room: room.into(),
            display_name: display_name.into(),
            token: None,
        }
    }

    /// The same request with a room token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// A negotiation message exchanged with one other member.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerMessage {
    /// SDP offer.
    Offer(String),
    /// SDP answer.
    Answer(String),
    /// Trickled ICE candidate.
    Candidate(IceCandidate),
}

/// Events a signaller delivers after a successful join.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SignalEvent {
    /// A member joined the room.
    MemberJoined(MemberInfo),
    /// A member left the room.
    MemberLeft(MemberId),
    /// A negotiation message from another member.
    Peer {
        /// Sender.
        from: MemberId,
        /// The message.
        message: PeerMessage,
    },
    /// The server reported an error that did not end the session.
    Error(String),
    /// The signalling session ended (server closed, network error, or leave).
    Closed(Option<String>),
}

/// The result of a successful join.
#[derive(Debug)]
pub struct Joined {
    /// The id the signalling service gave us.
    pub self_id: MemberId,
    /// Members that were in the room before us.
    pub members: Vec<MemberInfo>,
    /// Every later event, in order. Ends after [`SignalEvent::Closed`].
    pub events: mpsc::Receiver<SignalEvent>,
}

/// A signalling protocol: how a call finds the other members of a room and
/// exchanges offers, answers and candidates with them.
///
/// One value is one session: `join` once, then `send` any number of times,
/// then `leave`. Implementations exist per protocol (the embedded room
/// protocol today; WHIP/WHEP, Janus or LiveKit can plug in here).
#[async_trait]
pub trait Signaller: Send + Sync + 'static {
    /// Connects and joins the room.
    async fn join(&self, request: JoinRequest) -> Result<Joined>;
    /// Sends a negotiation message to another member of the room.
    async fn send(&self, to: &MemberId, message: PeerMessage) -> Result<()>;
    /// Leaves the room and closes the session. Idempotent.
    async fn leave(&self) -> Result<()>;
}
