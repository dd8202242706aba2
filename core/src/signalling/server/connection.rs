//! One WebSocket connection: reads frames, applies the per-connection limits,
//! runs the protocol against the room [`Registry`](super::room::Registry),
//! and closes the connection the way its ending calls for.
//!
//! Reading and writing are separate: a writer task owns the socket's sink and
//! drains the connection's [`Outbox`]; this task owns the stream. A peer that
//! stops reading therefore never blocks anybody else: its queue fills up and
//! it is kicked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use bytes::Bytes;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, sleep_until, timeout};
use tokio_tungstenite::tungstenite;
use tracing::{debug, info, warn};

use super::outbox::{Outbox, Outgoing, encode};
use super::rate_limit::{RateLimiter, Verdict};
use super::{Shared, stopping};
use crate::signalling::protocol::{
    ClientMessage, ErrorCode, MAX_META_BYTES, MemberId, Meta, PROTOCOL_VERSION, ServerMessage,
    parse_client_message,
};

/// Longest room or display name, in characters.
const MAX_LABEL_CHARS: usize = 64;

/// Why a connection ends.
#[derive(Debug)]
enum Ending {
    /// The server is shutting down.
    Shutdown,
    /// Its outgoing queue overflowed: the peer does not read.
    Kicked,
    /// Nothing arrived for `idle_timeout`.
    Idle,
    /// The client sent a close frame.
    PeerClosed,
    /// The stream ended or failed at the transport level.
    PeerGone(Option<String>),
    /// The client broke the WebSocket protocol.
    ProtocolViolation(String),
    /// A frame or message above the hard cap.
    FrameTooLarge(String),
    /// Too many rate-limited messages.
    Flood,
    /// The client sent `leave`.
    Leave,
}

impl Ending {
    /// The fatal error to send, the close frame, and whether to wait for the
    /// client's close reply (reading and discarding what it still sends).
    fn farewell(&self) -> (Option<(ErrorCode, &'static str)>, Option<CloseFrame>, bool) {
        let frame = |code: u16, reason: &'static str| {
            Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })
        };
        match self {
            Ending::Shutdown => (None, frame(close_code::AWAY, "server shutting down"), true),
            Ending::Idle => (None, frame(close_code::AWAY, "idle timeout"), false),
            Ending::Leave => (None, frame(close_code::NORMAL, "left"), true),
            Ending::Flood => (
                Some((
                    ErrorCode::RateLimited,
                    "too many messages; closing the connection",
                )),
                frame(close_code::POLICY, "rate limit exceeded"),
                true,
            ),
            Ending::FrameTooLarge(_) => (
                Some((
                    ErrorCode::TooLarge,
                    "frame above the hard size limit; closing the connection",
                )),
                frame(close_code::SIZE, "message too big"),
                false,
            ),
            Ending::ProtocolViolation(_) => (
                None,
                frame(close_code::PROTOCOL, "websocket protocol error"),
                false,
            ),
            Ending::PeerClosed | Ending::PeerGone(_) | Ending::Kicked => (None, None, false),
        }
    }

    /// Short description for the leave log line.
    fn describe(&self) -> &'static str {
        match self {
            Ending::Shutdown => "server shutting down",
            Ending::Kicked => "slow reader disconnected",
            Ending::Idle => "idle timeout",
            Ending::PeerClosed => "connection closed by client",
            Ending::PeerGone(_) => "connection lost",
            Ending::ProtocolViolation(_) => "websocket protocol error",
            Ending::FrameTooLarge(_) => "frame too large",
            Ending::Flood => "rate limit flood",
            Ending::Leave => "left",
        }
    }

    fn log(&self, peer: SocketAddr, member: Option<&Membership>) {
        let member_id = member.map_or("-", |m| m.id.as_str());
        match self {
            Ending::Kicked => {
                warn!(%peer, member = member_id, "disconnecting slow reader: outgoing queue full")
            }
            Ending::Flood => warn!(%peer, member = member_id, "disconnecting flooding client"),
            Ending::FrameTooLarge(e) => warn!(%peer, member = member_id, "disconnecting: {e}"),
            Ending::ProtocolViolation(e) => {
                warn!(%peer, member = member_id, "disconnecting: websocket protocol error: {e}")
            }
            Ending::Idle => info!(%peer, member = member_id, "closing idle connection"),
            Ending::PeerGone(Some(e)) => debug!(%peer, member = member_id, "connection lost: {e}"),
            other => debug!(%peer, member = member_id, "connection ends: {other:?}"),
        }
    }
}

/// Serves one upgraded WebSocket until it ends.
pub(crate) async fn run(socket: WebSocket, shared: Arc<Shared>, peer: SocketAddr) {
    let config = &shared.config;
    let (sink, mut stream) = socket.split();
    let (outbox, outgoing, kick) = Outbox::new(config.outgoing_queue);
    let mut writer = AbortOnDrop(tokio::spawn(write_loop(
        sink,
        outgoing,
        config.ping_interval,
    )));
    let mut session = Session {
        shared: &shared,
        peer,
        outbox: outbox.clone(),
        limiter: RateLimiter::new(config.rate_limit, std::time::Instant::now()),
        member: None,
    };
    let mut shutdown = shared.shutdown.clone();
    let mut idle_deadline = Instant::now() + config.idle_timeout;
    debug!(%peer, "websocket connected");

    let ending = loop {
        tokio::select! {
            biased;
            () = stopping(&mut shutdown) => break Ending::Shutdown,
            () = kick.notified() => break Ending::Kicked,
            () = sleep_until(idle_deadline) => break Ending::Idle,
            frame = stream.next() => {
                idle_deadline = Instant::now() + config.idle_timeout;
                let ending = match frame {
                    None => Some(Ending::PeerGone(None)),
                    Some(Err(e)) => Some(classify_read_error(e)),
                    Some(Ok(Message::Text(text))) => session.on_text(text.as_str()),
                    Some(Ok(Message::Binary(_))) => session.on_binary(),
                    Some(Ok(Message::Close(_))) => Some(Ending::PeerClosed),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                };
                if let Some(ending) = ending {
                    break ending;
                }
            }
        }
    };

    ending.log(peer, session.member.as_ref());
    session.leave_room(ending.describe());
    drop(session);
    if matches!(ending, Ending::Kicked) {
        // The writer is stuck on a peer that does not read: cut it.
        writer.0.abort();
        return;
    }

    let (fatal, frame, drain) = ending.farewell();
    if let Some((code, message)) = fatal {
        outbox.send_error(code, message, true);
    }
    outbox.close(frame);
    drop(outbox);
    let drain = async {
        if drain {
            // Until the client's close reply (or anything that ends the stream).
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        }
    };
    let _ = timeout(config.close_timeout, async {
        let _ = tokio::join!(&mut writer.0, drain);
    })
    .await;
}

/// Sends queued messages and periodic pings until told to close.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::Receiver<Outgoing>,
    ping_interval: Duration,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let sent = tokio::select! {
            item = outgoing.recv() => match item {
                Some(Outgoing::Text(text)) => sink.send(Message::Text(text)).await,
                Some(Outgoing::Close(frame)) => {
                    if let Some(frame) = frame {
                        let _ = sink.send(Message::Close(Some(frame))).await;
                    }
                    let _ = sink.close().await;
                    return;
                }
                None => {
                    let _ = sink.close().await;
                    return;
                }
            },
            _ = ping.tick() => sink.send(Message::Ping(Bytes::new())).await,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Maps a read error to how the connection ends.
fn classify_read_error(error: axum::Error) -> Ending {
    let error = error.into_inner();
    match error.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(e)) => Ending::FrameTooLarge(e.to_string()),
        Some(tungstenite::Error::Protocol(e)) => Ending::ProtocolViolation(e.to_string()),
        Some(tungstenite::Error::Utf8(e)) => {
            Ending::ProtocolViolation(format!("invalid UTF-8 in a text frame: {e}"))
        }
        Some(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
            Ending::PeerGone(None)
        }
        _ => Ending::PeerGone(Some(error.to_string())),
    }
}

/// Aborts the task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a joined connection is.
#[derive(Debug)]
struct Membership {
    room: String,
    id: MemberId,
    name: String,
}

/// Protocol state of one connection.
struct Session<'a> {
    shared: &'a Shared,
    peer: SocketAddr,
    outbox: Outbox,
    limiter: RateLimiter,
    member: Option<Membership>,
}

impl Session<'_> {
    /// Applies the rate limit; `Err` ends the connection, `Ok(false)` drops the message.
    fn admit(&mut self) -> Result<bool, Ending> {
        match self.limiter.check(std::time::Instant::now()) {
            Verdict::Allow => Ok(true),
            Verdict::Limited => {
                if self.limiter.first_drop_in_window() {
                    warn!(peer = %self.peer, "client exceeds the message rate limit; dropping messages");
                }
                self.outbox.send_error(
                    ErrorCode::RateLimited,
                    "message rate limit exceeded; message dropped",
                    false,
                );
                Ok(false)
            }
            Verdict::Flood => Err(Ending::Flood),
        }
    }

    fn on_binary(&mut self) -> Option<Ending> {
        match self.admit() {
            Ok(true) => {
                debug!(peer = %self.peer, "binary frame refused");
                self.outbox.send_error(
                    ErrorCode::BinaryNotSupported,
                    "binary frames are not part of the protocol",
                    false,
                );
                None
            }
            Ok(false) => None,
            Err(ending) => Some(ending),
        }
    }

    fn on_text(&mut self, text: &str) -> Option<Ending> {
        match self.admit() {
            Ok(true) => {}
            Ok(false) => return None,
            Err(ending) => return Some(ending),
        }
        let limit = self.shared.config.max_message_size;
        if text.len() > limit {
            warn!(peer = %self.peer, size = text.len(), limit, "oversized message refused");
            self.outbox.send_error(
                ErrorCode::TooLarge,
                format!(
                    "message of {} bytes exceeds the limit of {limit} bytes",
                    text.len()
                ),
                false,
            );
            return None;
        }
        match parse_client_message(text) {
            Ok(message) => self.handle(message),
            Err((code, explanation)) => {
                debug!(peer = %self.peer, %code, "bad message: {explanation}");
                self.outbox.send_error(code, explanation, false);
                None
            }
        }
    }

    fn handle(&mut self, message: ClientMessage) -> Option<Ending> {
        match message {
            ClientMessage::Ping { id } => {
                self.outbox.send(&ServerMessage::Pong { id });
            }
            ClientMessage::Join {
                version,
                room,
                name,
                token,
                meta,
            } => self.join(version, room, name, token, meta),
            ClientMessage::Offer { to, sdp } => {
                self.relay("offer", &to, |from| ServerMessage::Offer { from, sdp })
            }
            ClientMessage::Answer { to, sdp } => {
                self.relay("answer", &to, |from| ServerMessage::Answer { from, sdp })
            }
            ClientMessage::Candidate { to, candidate } => self.relay("candidate", &to, |from| {
                ServerMessage::Candidate { from, candidate }
            }),
            ClientMessage::Leave => {
                if self.member.is_some() {
                    return Some(Ending::Leave);
                }
                self.not_joined("leave");
            }
        }
        None
    }

    fn join(
        &mut self,
        version: u32,
        room: String,
        name: String,
        token: Option<String>,
        meta: Option<Meta>,
    ) {
        if let Some(member) = &self.member {
            self.outbox.send_error(
                ErrorCode::AlreadyJoined,
                format!("this connection already joined room `{}`", member.room),
                false,
            );
            return;
        }
        if version != PROTOCOL_VERSION {
            self.outbox.send_error(
                ErrorCode::UnsupportedVersion,
                format!("protocol version {version} is not supported; this server speaks version {PROTOCOL_VERSION}"),
                false,
            );
            return;
        }
        if let Err(explanation) = check_label("room", &room)
            .and_then(|()| check_label("name", &name))
            .and_then(|()| check_meta(meta.as_ref()))
        {
            self.outbox
                .send_error(ErrorCode::InvalidMessage, explanation, false);
            return;
        }
        // With signed tokens the token names the member and admits to the
        // room; rooms then have no access codes.
        let (name, token) = match &self.shared.tokens {
            Some(verifier) => match verifier.verify_join(token.as_deref().unwrap_or(""), &room) {
                Ok(claims) => {
                    let name = claims.display_name().to_owned();
                    if let Err(explanation) = check_label("token name", &name) {
                        self.outbox
                            .send_error(ErrorCode::WrongToken, explanation, false);
                        return;
                    }
                    debug!(peer = %self.peer, %room, identity = %claims.sub, key = %claims.iss, "token accepted");
                    (name, None)
                }
                Err(rejection) => {
                    warn!(peer = %self.peer, %room, "join refused: {rejection}");
                    self.outbox
                        .send_error(ErrorCode::WrongToken, rejection.to_string(), false);
                    return;
                }
            },
            None => (name, token),
        };
        match self
            .shared
            .registry
            .join(&room, &name, token.as_deref(), meta, &self.outbox)
        {
            Ok(id) => {
                info!(peer = %self.peer, %room, member = %id, %name, "member joined");
                self.member = Some(Membership { room, id, name });
            }
            Err((code, explanation)) => {
                if code == ErrorCode::WrongToken {
                    warn!(peer = %self.peer, %room, "join refused: {explanation}");
                } else {
                    info!(peer = %self.peer, %room, "join refused: {explanation}");
                }
                self.outbox.send_error(code, explanation, false);
            }
        }
    }

    fn relay(&mut self, kind: &str, to: &str, message: impl FnOnce(MemberId) -> ServerMessage) {
        let Some(member) = &self.member else {
            self.not_joined(kind);
            return;
        };
        let payload = encode(&message(member.id.clone()));
        if self
            .shared
            .registry
            .relay(&member.room, &member.id, to, payload)
        {
            debug!(room = %member.room, from = %member.id, %to, kind, "relayed");
        } else {
            debug!(room = %member.room, from = %member.id, %to, kind, "relay target not in room");
            self.outbox.send_error(
                ErrorCode::UnknownMember,
                format!("no other member `{to}` in this room"),
                false,
            );
        }
    }

    fn not_joined(&self, kind: &str) {
        self.outbox.send_error(
            ErrorCode::NotJoined,
            format!("`{kind}` is only allowed after `join`"),
            false,
        );
    }

    /// Leaves the room, if joined, telling the other members.
    fn leave_room(&mut self, why: &str) {
        let Some(member) = self.member.take() else {
            return;
        };
        if self.shared.registry.leave(&member.room, &member.id) {
            info!(peer = %self.peer, room = %member.room, member = %member.id, name = %member.name, "member left: {why}");
        }
    }
}

/// Checks a room or display name: 1–64 characters, no control characters.
fn check_label(field: &str, value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if chars == 0 || chars > MAX_LABEL_CHARS {
        return Err(format!(
            "`{field}` must be 1–{MAX_LABEL_CHARS} characters long"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("`{field}` must not contain control characters"));
    }
    Ok(())
}

/// Checks a join's `meta`: at most [`MAX_META_BYTES`] of JSON.
fn check_meta(meta: Option<&Meta>) -> Result<(), String> {
    let size = meta.map_or(0, |m| {
        serde_json::Value::Object(m.clone()).to_string().len()
    });
    if size > MAX_META_BYTES {
        return Err(format!(
            "`meta` must be at most {MAX_META_BYTES} bytes of JSON (got {size})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_checked() {
        assert!(check_label("room", "lobby").is_ok());
        assert!(check_label("room", &"é".repeat(64)).is_ok());
        assert!(check_label("room", &"é".repeat(65)).is_err());
        assert!(check_label("room", "").is_err());
        assert!(check_label("name", "a\nb").is_err());
    }
}
