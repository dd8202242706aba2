//! [`WsSignaller`]: the [`Signaller`] of the embedded room protocol, a
//! WebSocket client of [`SignallingServer`](super::SignallingServer) (or of
//! any server speaking `docs/signalling.md`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{
    Connector, MaybeTlsStream, WebSocketStream, connect_async_tls_with_config,
};
use tracing::{debug, info, warn};

use super::protocol::{ClientMessage, MemberId, MemberInfo, Meta, PROTOCOL_VERSION, ServerMessage};
use super::{JoinRequest, Joined, NegotiationPolicy, PeerMessage, SignalEvent, Signaller};
use crate::error::{Error, Result};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest message accepted from the server (well above its own 64 KiB limit).
const MAX_INCOMING: usize = 1024 * 1024;

/// Read buffer of the signalling WebSocket (tungstenite allocates it up front).
const SOCKET_BUFFER: usize = 4 * 1024;

/// Events buffered for the consumer of [`Joined::events`].
const EVENT_QUEUE: usize = 256;
/// Outgoing messages buffered before [`Signaller::send`] waits.
const COMMAND_QUEUE: usize = 256;
/// `member-meta` messages buffered for each [`WsSignaller::subscribe_meta`] receiver.
const META_QUEUE: usize = 64;

/// Another member's metadata (`member-meta`), as
/// [`WsSignaller::subscribe_meta`] delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMeta {
    /// The member.
    pub id: MemberId,
    /// What it joined with.
    pub meta: Meta,
}

/// WebSocket client of the embedded room protocol.
///
/// ```no_run
/// # async fn demo() -> rtcgate_core::Result<()> {
/// use rtcgate_core::signalling::{JoinRequest, PeerMessage, Signaller, WsSignaller};
///
/// let signaller = WsSignaller::new("ws://127.0.0.1:8080/ws");
/// let mut joined = signaller
///     .join(JoinRequest::new("demo", "bot"))
///     .await?;
/// for member in &joined.members {
///     signaller.send(&member.id, PeerMessage::Offer("v=0...".into())).await?;
/// }
/// while let Some(event) = joined.events.recv().await {
///     println!("{event:?}");
/// }
/// # Ok(())
/// # }
/// ```
///
/// One value holds at most one session. After [`leave`](Signaller::leave),
/// or once the session's connection has ended, `join` may be called again
/// for a new session. Dropping the value ends its background task and
/// closes the connection.
#[derive(Debug)]
pub struct WsSignaller {
    url: String,
    ping_interval: Duration,
    idle_timeout: Duration,
    timeout: Duration,
    meta: Option<Meta>,
    ca_files: Vec<std::path::PathBuf>,
    member_meta: broadcast::Sender<MemberMeta>,
    state: Mutex<State>,
}

#[derive(Debug)]
enum State {
    Idle,
    /// A join is in progress; the number tells joins apart.
    Joining(u64),
    Joined(Session),
}

/// A joined session: the background task and how to talk to it.
#[derive(Debug)]
struct Session {
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
    leaving: Arc<AtomicBool>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
enum Command {
    Send(String),
    Leave,
}

impl WsSignaller {
    /// A signaller for the server at `url` (`ws://HOST:PORT/ws`). Nothing
    /// connects until [`join`](Signaller::join).
    ///
    /// Defaults: an application ping every 10 s, the connection counts as
    /// dead after 45 s without any message from the server, and connecting
    /// plus joining (and leaving) may take 10 s.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ping_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(45),
            timeout: Duration::from_secs(10),
            meta: None,
            ca_files: Vec::new(),
            member_meta: broadcast::channel(META_QUEUE).0,
            state: Mutex::new(State::Idle),
        }
    }

    /// Sets the metadata sent with `join` for the other members
    /// (`docs/signalling.md`); an empty object sends none. A server older
    /// than the `meta` field refuses such a join (`invalid-message`).
    #[must_use]
    pub fn with_meta(mut self, meta: Meta) -> Self {
        self.meta = (!meta.is_empty()).then_some(meta);
        self
    }

    /// Trusts the CA certificates of these PEM files for `wss://`, besides
    /// the system's roots.
    #[must_use]
    pub fn with_ca_files(mut self, files: Vec<std::path::PathBuf>) -> Self {
        self.ca_files = files;
        self
    }

    /// The other members' metadata, as `member-meta` messages arrive
    /// (subscribe before [`join`](Signaller::join) to get the members
    /// already in the room too). Members without metadata send none.
    pub fn subscribe_meta(&self) -> broadcast::Receiver<MemberMeta> {
        self.member_meta.subscribe()
    }

    /// Sets the interval of the application-level `ping` messages.
    #[must_use]
    pub fn with_ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets how long the server may stay silent before the session is
    /// considered lost ([`SignalEvent::Closed`]).
    #[must_use]
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle.max(Duration::from_millis(1));
        self
    }

    /// Sets the time allowed to connect and be welcomed, and to leave.
    #[must_use]
    pub fn with_timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves to `Joining` if no session is running.
    fn start_joining(&self) -> Result<u64> {
        static NEXT_ATTEMPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut state = self.state();
        match &*state {
            State::Joining(_) => {
                return Err(Error::signalling("a join is already in progress"));
            }
            State::Joined(session) if !session.task.is_finished() => {
                return Err(Error::signalling("already joined; leave first"));
            }
            _ => {}
        }
        let attempt = NEXT_ATTEMPT.fetch_add(1, Ordering::Relaxed);
        *state = State::Joining(attempt);
        Ok(attempt)
    }

    /// Back to `Idle` if the state still belongs to join `attempt`.
    fn abandon_join(&self, attempt: u64) {
        let mut state = self.state();
        if matches!(*state, State::Joining(a) if a == attempt) {
            *state = State::Idle;
        }
    }

    /// Connects, sends `join` and waits for `welcome`.
    async fn connect_and_join(
        &self,
        request: &JoinRequest,
    ) -> Result<(Socket, MemberId, Vec<MemberInfo>)> {
        // Signalling messages are small and rare: a 4 KiB read buffer and eager
        // writes instead of tungstenite's 128 KiB each (memory per call, docs/transport.md).
        let config = WebSocketConfig::default()
            .read_buffer_size(SOCKET_BUFFER)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_INCOMING))
            .max_frame_size(Some(MAX_INCOMING));
        let connector = if self.url.to_ascii_lowercase().starts_with("wss://") {
            let tls = super::http_client::tls_client_config(&self.ca_files)?;
            Some(Connector::Rustls(Arc::new(tls)))
        } else {
            None
        };
        let (mut socket, _response) =
            connect_async_tls_with_config(self.url.as_str(), Some(config), true, connector)
                .await
                .map_err(|e| Error::signalling(format!("connecting to {}: {e}", self.url)))?;
        let join = ClientMessage::Join {
            version: PROTOCOL_VERSION,
            room: request.room.clone(),
            name: request.display_name.clone(),
            token: request.token.clone(),
            meta: self.meta.clone(),
        };
        socket
            .send(Message::text(encode(&join)?))
            .await
            .map_err(|e| Error::signalling(format!("sending join: {e}")))?;
        loop {
            let text = match socket.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    return Err(Error::signalling(format!(
                        "server closed the connection before welcome: {}",
                        close_reason(frame.as_ref())
                    )));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(Error::signalling(format!("waiting for welcome: {e}"))),
                None => {
                    return Err(Error::signalling(
                        "server closed the connection before welcome",
                    ));
                }
            };
            match serde_json::from_str::<ServerMessage>(text.as_str()) {
                Ok(ServerMessage::Welcome { id, members, .. }) => return Ok((socket, id, members)),
                Ok(ServerMessage::Error { code, message, .. }) => {
                    // Best effort: the caller gets the refusal either way.
                    let _ = timeout(Duration::from_secs(1), socket.close(None)).await;
                    return Err(Error::signalling_rejected(code, message));
                }
                Ok(other) => debug!("ignoring {other:?} before welcome"),
                Err(e) => warn!("unreadable server message before welcome: {e}"),
            }
        }
    }
}

#[async_trait]
impl Signaller for WsSignaller {
    async fn join(&self, request: JoinRequest) -> Result<Joined> {
        let attempt = self.start_joining()?;
        let (socket, self_id, members) =
            match timeout(self.timeout, self.connect_and_join(&request)).await {
                Ok(Ok(joined)) => joined,
                Ok(Err(e)) => {
                    self.abandon_join(attempt);
                    return Err(e);
                }
                Err(_) => {
                    self.abandon_join(attempt);
                    return Err(Error::timeout(format!(
                        "joining room `{}` at {}",
                        request.room, self.url
                    )));
                }
            };
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let leaving = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(drive(
            socket,
            commands_rx,
            (events_tx, self.member_meta.clone()),
            Arc::clone(&leaving),
            self.ping_interval,
            self.idle_timeout,
        ));
        let session = Session {
            commands,
            task,
            leaving,
        };
        {
            let mut state = self.state();
            if !matches!(*state, State::Joining(a) if a == attempt) {
                // `leave` was called while joining; dropping the session closes it.
                return Err(Error::closed("left while joining"));
            }
            *state = State::Joined(session);
        }
        info!(room = %request.room, member = %self_id, others = members.len(), "joined room");
        Ok(Joined {
            self_id,
            members,
            events,
        })
    }

    async fn send(&self, to: &MemberId, message: PeerMessage) -> Result<()> {
        let commands = match &*self.state() {
            State::Joined(session) => session.commands.clone(),
            _ => return Err(Error::signalling("not joined")),
        };
        let to = to.clone();
        let message = match message {
            PeerMessage::Offer(sdp) => ClientMessage::Offer { to, sdp },
            PeerMessage::Answer(sdp) => ClientMessage::Answer { to, sdp },
            PeerMessage::Candidate(candidate) => ClientMessage::Candidate { to, candidate },
        };
        commands
            .send(Command::Send(encode(&message)?))
            .await
            .map_err(|_| Error::signalling("the signalling connection is closed"))
    }

    async fn leave(&self) -> Result<()> {
        let mut session = match std::mem::replace(&mut *self.state(), State::Idle) {
            State::Joined(session) => session,
            // Idle already, or a join in progress that will now give up.
            State::Idle | State::Joining(_) => return Ok(()),
        };
        session.leaving.store(true, Ordering::SeqCst);
        let done = async {
            let _ = session.commands.send(Command::Leave).await;
            // The server answers `leave` by closing; the task then ends.
            let _ = (&mut session.task).await;
        };
        if timeout(self.timeout, done).await.is_err() {
            debug!("server did not close after leave; dropping the connection");
        }
        // Dropping the session aborts the task if it is still running.
        Ok(())
    }

    /// The room convention: perfect negotiation, the greater id polite.
    fn negotiation(&self, self_id: &MemberId, remote: &MemberInfo) -> NegotiationPolicy {
        NegotiationPolicy::room(self_id, &remote.id)
    }
}

/// The session's background task: forwards server messages as events,
/// writes commands and pings, and reports the end as [`SignalEvent::Closed`].
async fn drive(
    socket: Socket,
    mut commands: mpsc::Receiver<Command>,
    (events, member_meta): (mpsc::Sender<SignalEvent>, broadcast::Sender<MemberMeta>),
    leaving: Arc<AtomicBool>,
    ping_interval: Duration,
    idle_timeout: Duration,
) {
    let (mut sink, mut stream) = socket.split();
    let reason = tokio::select! {
        reason = read_loop(&mut stream, (&events, &member_meta), idle_timeout) => reason,
        reason = write_loop(&mut sink, &mut commands, ping_interval) => reason,
    };
    let reason = if leaving.load(Ordering::SeqCst) {
        None
    } else {
        Some(reason)
    };
    debug!("signalling session ended: {reason:?}");
    let _ = events.send(SignalEvent::Closed(reason)).await;
}

/// Reads until the connection ends; returns why it ended.
async fn read_loop(
    stream: &mut SplitStream<Socket>,
    (events, member_meta): (&mpsc::Sender<SignalEvent>, &broadcast::Sender<MemberMeta>),
    idle_timeout: Duration,
) -> String {
    loop {
        let Ok(frame) = timeout(idle_timeout, stream.next()).await else {
            return format!(
                "no message from the server for {} s",
                idle_timeout.as_secs_f32()
            );
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                if let Some(event) = to_event(text.as_str(), member_meta) {
                    // A consumer that dropped its receiver just gets no events.
                    let _ = events.send(event).await;
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let reason = close_reason(frame.as_ref());
                // Reading on flushes our close reply and sees the end.
                let _ = timeout(Duration::from_secs(1), async {
                    while let Some(Ok(_)) = stream.next().await {}
                })
                .await;
                return reason;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return format!("connection error: {e}"),
            None => return "connection closed".into(),
        }
    }
}

/// Writes commands and periodic pings; returns only when writing fails.
async fn write_loop(
    sink: &mut SplitSink<Socket, Message>,
    commands: &mut mpsc::Receiver<Command>,
    ping_interval: Duration,
) -> String {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut ping_id: u64 = 0;
    loop {
        let mut leaving = false;
        let text = tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Send(text)) => text,
                Some(Command::Leave) => {
                    leaving = true;
                    r#"{"type":"leave"}"#.to_owned()
                }
                // The session is gone; its task is being aborted.
                None => return std::future::pending().await,
            },
            _ = ping.tick() => {
                ping_id += 1;
                format!(r#"{{"type":"ping","id":{ping_id}}}"#)
            }
        };
        if let Err(e) = sink.send(Message::text(text)).await {
            return format!("connection error: {e}");
        }
        if leaving {
            // Nothing more to say; the server closes and the read side ends the session.
            return std::future::pending().await;
        }
    }
}

/// Maps a server message to the event the call logic sees, if any;
/// `member-meta` goes to the meta subscribers instead.
fn to_event(text: &str, member_meta: &broadcast::Sender<MemberMeta>) -> Option<SignalEvent> {
    let message = match serde_json::from_str::<ServerMessage>(text) {
        Ok(message) => message,
        Err(e) => {
            warn!("ignoring unreadable server message: {e}");
            return None;
        }
    };
    let peer = |from: MemberId, message: PeerMessage| Some(SignalEvent::Peer { from, message });
    match message {
        ServerMessage::Offer { from, sdp } => peer(from, PeerMessage::Offer(sdp)),
        ServerMessage::Answer { from, sdp } => peer(from, PeerMessage::Answer(sdp)),
        ServerMessage::Candidate { from, candidate } => {
            peer(from, PeerMessage::Candidate(candidate))
        }
        ServerMessage::MemberJoined { member } => Some(SignalEvent::MemberJoined(member)),
        ServerMessage::MemberLeft { id } => Some(SignalEvent::MemberLeft(id)),
        ServerMessage::MemberMeta { id, meta } => {
            // No subscriber is fine.
            let _ = member_meta.send(MemberMeta { id, meta });
            None
        }
        ServerMessage::Error { code, message, .. } => {
            Some(SignalEvent::Error(format!("{code}: {message}")))
        }
        ServerMessage::Pong { .. } | ServerMessage::Welcome { .. } => None,
    }
}

fn close_reason(frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> String {
    match frame {
        Some(frame) if !frame.reason.is_empty() => {
            format!(
                "closed by server (code {}): {}",
                u16::from(frame.code),
                frame.reason.as_str()
            )
        }
        Some(frame) => format!("closed by server (code {})", u16::from(frame.code)),
        None => "closed by server".into(),
    }
}

fn encode(message: &ClientMessage) -> Result<String> {
    serde_json::to_string(message)
        .map_err(|e| Error::signalling(format!("encoding {message:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signalling::protocol::{ErrorCode, IceCandidate};

    #[test]
    fn server_messages_become_events() {
        let (meta_tx, mut meta_rx) = broadcast::channel(4);
        let to_event = |text: &str| super::to_event(text, &meta_tx);
        let ev = to_event(r#"{"type":"offer","from":"a","sdp":"v=0"}"#);
        assert!(
            matches!(ev, Some(SignalEvent::Peer { from, message: PeerMessage::Offer(sdp) }) if from == "a" && sdp == "v=0")
        );
        let ev = to_event(
            r#"{"type":"candidate","from":"a","candidate":{"candidate":"c","sdpMid":"0"}}"#,
        );
        let expected = IceCandidate {
            candidate: "c".into(),
            sdp_mid: Some("0".into()),
            ..Default::default()
        };
        assert!(
            matches!(ev, Some(SignalEvent::Peer { message: PeerMessage::Candidate(c), .. }) if c == expected)
        );
        let error = ServerMessage::Error {
            code: ErrorCode::UnknownMember,
            message: "x".into(),
            fatal: false,
        };
        let ev = to_event(&serde_json::to_string(&error).unwrap());
        assert!(matches!(ev, Some(SignalEvent::Error(m)) if m == "unknown-member: x"));
        assert!(to_event(r#"{"type":"pong"}"#).is_none());
        assert!(to_event(r#"{"type":"from-the-future"}"#).is_none());
        assert!(to_event("not json").is_none());
        assert!(to_event(r#"{"type":"member-meta","id":"a","meta":{"k":"v"}}"#).is_none());
        let meta = meta_rx.try_recv().unwrap();
        assert_eq!(meta.id, "a");
        assert_eq!(meta.meta["k"], "v");
    }

    #[tokio::test]
    async fn send_and_leave_before_join() {
        let signaller = WsSignaller::new("ws://127.0.0.1:9/ws");
        let err = signaller
            .send(&"x".to_string(), PeerMessage::Answer("a".into()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Signalling, "{err}");
        signaller.leave().await.unwrap();
        signaller.leave().await.unwrap();
    }
}
