//! [`DirectSignaller`]: one peer, with the messages carried by the
//! application — over its own socket, pipe or protocol — instead of a
//! signalling server; and [`DirectSignaller::pair`], two of them connected in
//! one process (tests, benchmarks, apps that hold both ends).
//!
//! The application's side is a [`DirectTransport`]: it takes each
//! [`DirectMessage`] the call wants sent ([`DirectTransport::recv`]) to the
//! other side, and hands in every message from there
//! ([`DirectTransport::deliver`]). Messages serialise to JSON
//! ([`DirectMessage::to_json`]) for transports that carry text.
//!
//! ```no_run
//! # async fn demo() -> rtcgate_core::Result<()> {
//! use rtcgate_core::signalling::{DirectSignaller, JoinRequest};
//! use rtcgate_core::{Call, CallOptions};
//!
//! // Two calls in one process, no server: media and data flow between them.
//! let (a, b) = DirectSignaller::pair();
//! let (alice, _alice_events) = Call::join(a.into(), JoinRequest::new("pair", "alice"), CallOptions::default()).await?;
//! let (bob, _bob_events) = Call::join(b.into(), JoinRequest::new("pair", "bob"), CallOptions::default()).await?;
//! let channel = alice.create_data_channel(&alice.members().await[0].id, "chat", Default::default()).await?;
//! channel.send_text("hi").await?;
//! # let _ = bob;
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::protocol::{IceCandidate, MemberId, MemberInfo};
use super::{JoinRequest, Joined, NegotiationPolicy, PeerMessage, SignalEvent, Signaller};
use crate::error::{Error, Result};
use crate::media::local_track::lock;

/// Events buffered for the call before [`DirectTransport::deliver`] fails.
const EVENT_QUEUE: usize = 256;

/// What one side of a direct connection tells the other. The application
/// carries these as they are (in process) or as JSON (`to_json`/`from_json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DirectMessage {
    /// The sender joined: its id and display name. Sent first, and again in
    /// answer to the other side's `hello` when the sender was there first.
    Hello {
        /// The sender's id (random, unique per session).
        id: MemberId,
        /// The sender's display name.
        name: String,
    },
    /// An SDP offer.
    Offer {
        /// Session description.
        sdp: String,
    },
    /// An SDP answer.
    Answer {
        /// Session description.
        sdp: String,
    },
    /// A trickled ICE candidate (an empty `candidate` ends the candidates).
    Candidate {
        /// The candidate in `RTCIceCandidateInit` shape.
        candidate: IceCandidate,
    },
    /// The sender left.
    Bye,
}

impl DirectMessage {
    /// The message as one line of JSON (`{"type":"offer","sdp":"…"}`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("direct messages serialise")
    }

    /// Parses a message written by [`to_json`](Self::to_json).
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| {
            Error::invalid_argument(format!("malformed direct signalling message: {e}"))
        })
    }
}

/// A [`Signaller`] for one remote peer whose messages the application
/// carries: see [`DirectTransport`] for the application's end, and
/// [`DirectSignaller::pair`] for two calls in one process.
///
/// Who offers follows from the two ids, as in a room: the side with the
/// smaller id offers first and wins glare (perfect negotiation), so both
/// sides must be rtcgate calls or speak the same rule — unless
/// [`with_negotiation`](Self::with_negotiation) fixes the roles.
#[derive(Debug)]
pub struct DirectSignaller {
    shared: Arc<Shared>,
    /// The negotiation the application's protocol fixes; by default the
    /// room convention (perfect negotiation, roles from the ids).
    policy: Option<NegotiationPolicy>,
}

/// The application's end of a [`DirectSignaller`].
#[derive(Debug)]
pub struct DirectTransport {
    shared: Arc<Shared>,
    outgoing: mpsc::UnboundedReceiver<DirectMessage>,
}

#[derive(Debug)]
struct Shared {
    self_id: MemberId,
    outgoing: mpsc::UnboundedSender<DirectMessage>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Our display name, once joined.
    name: Option<String>,
    /// The call's event stream, while joined.
    events: Option<mpsc::Sender<SignalEvent>>,
    /// The other side, once its `hello` arrived.
    remote: Option<MemberInfo>,
    /// Messages from the other side that arrived before we joined.
    early: Vec<DirectMessage>,
    left: bool,
}

impl DirectSignaller {
    /// A signaller and the application's end of it. Nothing is sent until the
    /// call joins; then the transport yields a [`DirectMessage::Hello`] first.
    pub fn new() -> (DirectSignaller, DirectTransport) {
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            self_id: random_id(),
            outgoing,
            state: Mutex::new(State::default()),
        });
        (
            DirectSignaller {
                shared: shared.clone(),
                policy: None,
            },
            DirectTransport {
                shared,
                outgoing: outgoing_rx,
            },
        )
    }

    /// Two signallers connected to each other in this process: a call joined
    /// through one is in a call with the call joined through the other. The
    /// messages pass through a small task until both sides leave.
    pub fn pair() -> (DirectSignaller, DirectSignaller) {
        let (a, a_transport) = DirectSignaller::new();
        let (b, b_transport) = DirectSignaller::new();
        tokio::spawn(carry(a_transport, b_transport));
        (a, b)
    }

    /// Our id, as the other side sees it.
    pub fn self_id(&self) -> &MemberId {
        &self.shared.self_id
    }

    /// Negotiates as `policy` says instead of the room convention: for an
    /// application protocol where one side always offers (e.g.
    /// [`NegotiationPolicy::answer_only`] on the side that receives offers,
    /// with [`NegotiationPolicy::perfect`]`(false)` or
    /// [`offer_once`](NegotiationPolicy::offer_once) on the other).
    #[must_use]
    pub fn with_negotiation(mut self, policy: NegotiationPolicy) -> Self {
        self.policy = Some(policy);
        self
    }
}

impl From<DirectSignaller> for Arc<dyn Signaller> {
    fn from(signaller: DirectSignaller) -> Self {
        Arc::new(signaller)
    }
}

/// Carries the messages of two transports to each other until both end.
async fn carry(mut a: DirectTransport, mut b: DirectTransport) {
    loop {
        tokio::select! {
            message = a.recv() => match message {
                Some(message) => { let _ = b.deliver(message); }
                None => break,
            },
            message = b.recv() => match message {
                Some(message) => { let _ = a.deliver(message); }
                None => break,
            },
        }
    }
}

impl DirectTransport {
    /// The next message to carry to the other side; `None` once the signaller
    /// is gone (after the call left and the `bye` was taken).
    pub async fn recv(&mut self) -> Option<DirectMessage> {
        self.outgoing.recv().await
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Option<DirectMessage> {
        self.outgoing.try_recv().ok()
    }

    /// Hands in a message from the other side. Fails when the call's event
    /// queue is full (the call is not reading) or the call left.
    pub fn deliver(&self, message: DirectMessage) -> Result<()> {
        self.shared.deliver(message)
    }

    /// Parses and hands in a JSON message from the other side.
    pub fn deliver_json(&self, text: &str) -> Result<()> {
        self.deliver(DirectMessage::from_json(text)?)
    }
}

impl Shared {
    fn send_out(&self, message: DirectMessage) -> Result<()> {
        self.outgoing
            .send(message)
            .map_err(|_| Error::closed("the application's transport was dropped"))
    }

    fn deliver(&self, message: DirectMessage) -> Result<()> {
        let mut state = lock(&self.state);
        if state.left {
            return Err(Error::closed("the call left"));
        }
        let Some(events) = state.events.clone() else {
            state.early.push(message);
            return Ok(());
        };
        let event = match message {
            DirectMessage::Hello { id, name } => {
                if id == self.self_id {
                    return Err(Error::invalid_argument(
                        "a hello with our own id: the transport loops back",
                    ));
                }
                let member = MemberInfo { id, name };
                let replaced = state.remote.replace(member.clone());
                let first = replaced.is_none();
                // Answer a first hello with ours, so a side that joined first
                // learns of us too (its hello went nowhere).
                if first && let Some(name) = state.name.clone() {
                    let _ = self.send_out(DirectMessage::Hello {
                        id: self.self_id.clone(),
                        name,
                    });
                }
                match replaced {
                    Some(old) if old.id == member.id => return Ok(()),
                    Some(old) => {
                        try_emit(&events, SignalEvent::MemberLeft(old.id))?;
                        SignalEvent::MemberJoined(member)
                    }
                    None => SignalEvent::MemberJoined(member),
                }
            }
            DirectMessage::Bye => match state.remote.take() {
                Some(old) => SignalEvent::MemberLeft(old.id),
                None => return Ok(()),
            },
            other => {
                let Some(remote) = &state.remote else {
                    return Err(Error::signalling(
                        "a negotiation message before the other side's hello",
                    ));
                };
                let message = match other {
                    DirectMessage::Offer { sdp } => PeerMessage::Offer(sdp),
                    DirectMessage::Answer { sdp } => PeerMessage::Answer(sdp),
                    DirectMessage::Candidate { candidate } => PeerMessage::Candidate(candidate),
                    DirectMessage::Hello { .. } | DirectMessage::Bye => unreachable!(),
                };
                SignalEvent::Peer {
                    from: remote.id.clone(),
                    message,
                }
            }
        };
        try_emit(&events, event)
    }
}

fn try_emit(events: &mpsc::Sender<SignalEvent>, event: SignalEvent) -> Result<()> {
    events
        .try_send(event)
        .map_err(|_| Error::signalling("the call is not reading its signalling events"))
}

#[async_trait]
impl Signaller for DirectSignaller {
    async fn join(&self, request: JoinRequest) -> Result<Joined> {
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let early = {
            let mut state = lock(&self.shared.state);
            if state.events.is_some() || state.left {
                return Err(Error::invalid_argument(
                    "a direct signaller holds one session: join once",
                ));
            }
            state.name = Some(request.display_name.clone());
            state.events = Some(events);
            std::mem::take(&mut state.early)
        };
        self.shared.send_out(DirectMessage::Hello {
            id: self.shared.self_id.clone(),
            name: request.display_name,
        })?;
        for message in early {
            self.shared.deliver(message)?;
        }
        Ok(Joined {
            self_id: self.shared.self_id.clone(),
            // The other side is announced by its hello, as a member joining.
            members: Vec::new(),
            events: events_rx,
        })
    }

    async fn send(&self, to: &MemberId, message: PeerMessage) -> Result<()> {
        let known = lock(&self.shared.state)
            .remote
            .as_ref()
            .is_some_and(|remote| &remote.id == to);
        if !known {
            return Err(Error::invalid_argument(format!(
                "no member {to} on this direct connection"
            )));
        }
        self.shared.send_out(match message {
            PeerMessage::Offer(sdp) => DirectMessage::Offer { sdp },
            PeerMessage::Answer(sdp) => DirectMessage::Answer { sdp },
            PeerMessage::Candidate(candidate) => DirectMessage::Candidate { candidate },
        })
    }

    async fn leave(&self) -> Result<()> {
        let events = {
            let mut state = lock(&self.shared.state);
            if state.left {
                return Ok(());
            }
            state.left = true;
            state.remote = None;
            state.events.take()
        };
        let _ = self.shared.send_out(DirectMessage::Bye);
        if let Some(events) = events {
            let _ = events.try_send(SignalEvent::Closed(None));
        }
        Ok(())
    }

    /// The policy given to [`with_negotiation`](DirectSignaller::with_negotiation),
    /// else the room convention: perfect negotiation, the greater id polite.
    fn negotiation(&self, self_id: &MemberId, remote: &MemberInfo) -> NegotiationPolicy {
        self.policy
            .clone()
            .unwrap_or_else(|| NegotiationPolicy::room(self_id, &remote.id))
    }
}

/// A random member id: 64 bits, hex.
fn random_id() -> MemberId {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str) -> JoinRequest {
        JoinRequest::new("pair", name)
    }

    async fn next(joined: &mut Joined) -> SignalEvent {
        tokio::time::timeout(std::time::Duration::from_secs(5), joined.events.recv())
            .await
            .expect("an event")
            .expect("the stream is open")
    }

    #[tokio::test]
    async fn a_pair_sees_each_other_whoever_joins_first() {
        let (a, b) = DirectSignaller::pair();
        let mut a_joined = a.join(request("alice")).await.unwrap();
        assert!(a_joined.members.is_empty());
        let mut b_joined = b.join(request("bob")).await.unwrap();
        match next(&mut b_joined).await {
            SignalEvent::MemberJoined(m) => assert_eq!(
                (m.id.as_str(), m.name.as_str()),
                (a.self_id().as_str(), "alice")
            ),
            other => panic!("{other:?}"),
        }
        match next(&mut a_joined).await {
            SignalEvent::MemberJoined(m) => assert_eq!(
                (m.id.as_str(), m.name.as_str()),
                (b.self_id().as_str(), "bob")
            ),
            other => panic!("{other:?}"),
        }
        a.send(b.self_id(), PeerMessage::Offer("v=0".into()))
            .await
            .unwrap();
        match next(&mut b_joined).await {
            SignalEvent::Peer { from, message } => {
                assert_eq!(&from, a.self_id());
                assert_eq!(message, PeerMessage::Offer("v=0".into()));
            }
            other => panic!("{other:?}"),
        }
        a.leave().await.unwrap();
        assert!(
            matches!(next(&mut b_joined).await, SignalEvent::MemberLeft(id) if &id == a.self_id())
        );
        assert!(matches!(
            next(&mut a_joined).await,
            SignalEvent::Closed(None)
        ));
    }

    #[tokio::test]
    async fn messages_round_trip_through_json() {
        let (signaller, mut transport) = DirectSignaller::new();
        let mut joined = signaller.join(request("me")).await.unwrap();
        let hello = transport.recv().await.unwrap();
        assert_eq!(
            DirectMessage::from_json(&hello.to_json()).unwrap(),
            hello,
            "{}",
            hello.to_json()
        );
        assert!(
            transport.deliver_json("{\"type\":\"offer\"}").is_err(),
            "missing sdp"
        );
        assert!(
            transport
                .deliver_json(r#"{"type":"offer","sdp":"v=0"}"#)
                .is_err(),
            "an offer before the other side's hello is refused"
        );
        transport
            .deliver_json(r#"{"type":"hello","id":"peer","name":"them"}"#)
            .unwrap();
        assert!(matches!(next(&mut joined).await, SignalEvent::MemberJoined(m) if m.id == "peer"));
        // Our hello again, answering theirs.
        assert!(matches!(
            transport.recv().await,
            Some(DirectMessage::Hello { .. })
        ));
        transport
            .deliver_json(r#"{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 10.0.0.1 9 typ host","sdpMid":"0"}}"#)
            .unwrap();
        match next(&mut joined).await {
            SignalEvent::Peer {
                message: PeerMessage::Candidate(c),
                ..
            } => {
                assert_eq!(c.sdp_mid.as_deref(), Some("0"))
            }
            other => panic!("{other:?}"),
        }
        signaller
            .send(&"peer".to_owned(), PeerMessage::Answer("v=0".into()))
            .await
            .unwrap();
        assert_eq!(
            transport.recv().await.unwrap().to_json(),
            r#"{"type":"answer","sdp":"v=0"}"#
        );
        assert!(
            signaller
                .send(&"other".to_owned(), PeerMessage::Answer("v=0".into()))
                .await
                .is_err()
        );
    }
}
