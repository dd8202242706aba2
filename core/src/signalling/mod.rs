//! Signalling: the [`Signaller`] trait the call logic talks to, and its
//! implementations — the embedded room protocol ([`protocol`], its server
//! [`SignallingServer`] and WebSocket client [`WsSignaller`]), WHIP and WHEP
//! clients ([`WhipSignaller`]), and [`DirectSignaller`] for a peer whose
//! messages the application carries (or two calls in one process).
//! [`signaller_for_url`] picks one from a URL. [`token`] mints and verifies
//! the server's signed access tokens.

mod client;
mod direct;
mod http_client;
mod policy;
pub mod protocol;
mod server;
pub mod token;
mod url;
mod whip;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use client::{MemberMeta, WsSignaller};
pub use direct::{DirectMessage, DirectSignaller, DirectTransport};
pub use policy::{NegotiationPolicy, OfferRole};
pub use protocol::{ErrorCode, IceCandidate, MemberId, MemberInfo, Meta};
pub use server::{RateLimitConfig, ServerConfig, SignallingServer, TlsConfig};
pub use url::{SignallingUrl, signaller_for_url};
pub use whip::{WhipKind, WhipSignaller};

use crate::error::Result;
use crate::options::IceServer;

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
    /// Room token (access code) or signed access token (JWT), when the
    /// server or the room requires one.
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
    /// ICE servers the signalling service offers (WHIP/WHEP `Link:
    /// rel="ice-server"`): the call adds them to its configuration, for the
    /// candidates it gathers from then on (an ICE restart).
    IceServers(Vec<IceServer>),
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

/// A signalling protocol: how a call finds its remote peers and exchanges
/// offers, answers and candidates with them.
///
/// The shape fits a room (many members that come and go), a one-peer
/// offer/answer protocol (WHIP/WHEP: the endpoint is the one member, present
/// from the start) and a transport the application provides: `join` says who
/// is there, events say who comes and goes and what they send, and
/// [`negotiation`](Self::negotiation) decides, per peer, who offers and what
/// the session can carry. The call follows that policy and knows nothing of
/// the protocol.
///
/// One value is one session: `join` once, then `send` any number of times,
/// then `leave`. Errors a service answers with are
/// [`ErrorKind::SignallingRejected`](crate::ErrorKind::SignallingRejected)
/// with [`Error::protocol_details`](crate::Error::protocol_details).
#[async_trait]
pub trait Signaller: Send + Sync + 'static {
    /// Connects and joins. A signaller for one peer reports it in
    /// [`Joined::members`].
    async fn join(&self, request: JoinRequest) -> Result<Joined>;
    /// Sends a negotiation message to a remote peer. For an offer-only
    /// protocol the first offer is the request that creates the session (a
    /// WHIP POST), and its answer comes back as an event; its refusal is
    /// this call's error, which [`Call::join`](crate::Call::join) returns.
    async fn send(&self, to: &MemberId, message: PeerMessage) -> Result<()>;
    /// Leaves the room and closes the session. Idempotent.
    async fn leave(&self) -> Result<()>;
    /// How the call negotiates with `remote` (we are `self_id`): who offers,
    /// whether renegotiation and ICE restarts can be carried, whether the
    /// session has data channels. Asked once per remote peer, when it appears.
    fn negotiation(&self, self_id: &MemberId, remote: &MemberInfo) -> NegotiationPolicy;
}
