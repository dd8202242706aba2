//! Integration tests of the embedded signalling server and `WsSignaller`,
//! over real sockets on 127.0.0.1 (port 0). Waits use generous timeouts and
//! nothing asserts on elapsed time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rtcgate_core::ErrorKind;
use rtcgate_core::signalling::RateLimitConfig;
use rtcgate_core::signalling::protocol::{ErrorCode, IceCandidate, MemberInfo, ServerMessage};
use rtcgate_core::signalling::{
    JoinRequest, PeerMessage, ServerConfig, SignalEvent, Signaller, SignallingServer, WsSignaller,
};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Upper bound for anything the tests wait for. Generous on purpose.
const WAIT: Duration = Duration::from_secs(20);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Default settings, except a shorter close timeout: the server waits that
/// long for the close reply of test clients that are not reading when it
/// shuts down.
fn test_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.close_timeout = Duration::from_secs(2);
    config
}

async fn start(config: ServerConfig) -> SignallingServer {
    SignallingServer::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("bind")
}

/// A raw protocol client, for sending anything at all.
struct Raw {
    ws: Ws,
}

/// How a raw connection ended.
#[derive(Debug)]
struct Ended {
    /// Messages received before the end.
    messages: Vec<ServerMessage>,
    /// The close frame, if one arrived.
    close: Option<CloseFrame>,
}

impl Raw {
    async fn connect(server: &SignallingServer) -> Raw {
        let (ws, _) = timeout(WAIT, connect_async(server.url()))
            .await
            .expect("connect timeout")
            .expect("connect");
        Raw { ws }
    }

    async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        timeout(WAIT, self.ws.send(Message::text(text)))
            .await
            .expect("send timeout")
            .expect("send");
    }

    async fn send(&mut self, value: serde_json::Value) {
        self.send_text(value.to_string()).await;
    }

    /// The next protocol message (skipping WebSocket pings and pongs).
    async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a message");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("bad server JSON {text}: {e}"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    async fn expect_error(&mut self, expected: ErrorCode) -> String {
        match self.recv().await {
            ServerMessage::Error {
                code,
                message,
                fatal,
            } => {
                assert_eq!(code, expected, "{message}");
                assert!(!fatal, "{code} should not be fatal");
                message
            }
            other => panic!("expected error {expected}, got {other:?}"),
        }
    }

    /// Sends an application ping and expects its pong next: proves the
    /// connection works and that nothing else was queued before it.
    async fn ping_pong(&mut self, id: u64) {
        self.send(json!({"type": "ping", "id": id})).await;
        assert_eq!(self.recv().await, ServerMessage::Pong { id: Some(id) });
    }

    async fn join(
        &mut self,
        room: &str,
        name: &str,
        token: Option<&str>,
    ) -> (String, Vec<MemberInfo>) {
        let mut join = json!({"type": "join", "room": room, "name": name});
        if let Some(token) = token {
            join["token"] = json!(token);
        }
        self.send(join).await;
        match self.recv().await {
            ServerMessage::Welcome {
                version,
                id,
                room: joined,
                members,
            } => {
                assert_eq!(version, 1);
                assert_eq!(joined, room);
                (id, members)
            }
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// Reads until the connection ends.
    async fn until_end(&mut self) -> Ended {
        let mut messages = Vec::new();
        loop {
            let frame = timeout(WAIT, self.ws.next())
                .await
                .expect("connection did not end");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    messages.push(serde_json::from_str(text.as_str()).expect("server JSON"))
                }
                Some(Ok(Message::Close(close))) => {
                    // Let tungstenite send the close reply; ignore how that ends.
                    let _ = timeout(WAIT, self.ws.next()).await;
                    return Ended { messages, close };
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    return Ended {
                        messages,
                        close: None,
                    };
                }
            }
        }
    }
}

fn close_code(frame: &CloseFrame) -> u16 {
    u16::from(frame.code)
}

fn join_request(room: &str, name: &str, token: Option<&str>) -> JoinRequest {
    let request = JoinRequest::new(room, name);
    match token {
        Some(token) => request.with_token(token),
        None => request,
    }
}

async fn next_event(events: &mut tokio::sync::mpsc::Receiver<SignalEvent>) -> SignalEvent {
    timeout(WAIT, events.recv())
        .await
        .expect("timed out waiting for an event")
        .expect("event channel closed")
}

#[tokio::test]
async fn join_lists_members_and_announces_joins_and_leaves() {
    let server = start(test_config()).await;
    let mut a = Raw::connect(&server).await;
    let mut b = Raw::connect(&server).await;
    let mut c = Raw::connect(&server).await;

    let (a_id, members) = a.join("lobby", "alice", None).await;
    assert!(members.is_empty());
    assert_eq!(a_id.len(), 12);
    assert!(a_id.chars().all(|ch| ch.is_ascii_hexdigit()), "{a_id}");

    let (b_id, members) = b.join("lobby", "bob", None).await;
    assert_eq!(
        members,
        vec![MemberInfo {
            id: a_id.clone(),
            name: "alice".into()
        }]
    );
    let bob = MemberInfo {
        id: b_id.clone(),
        name: "bob".into(),
    };
    assert_eq!(
        a.recv().await,
        ServerMessage::MemberJoined {
            member: bob.clone()
        }
    );

    let (c_id, members) = c.join("lobby", "carol", None).await;
    assert_eq!(
        members,
        vec![
            MemberInfo {
                id: a_id.clone(),
                name: "alice".into()
            },
            bob
        ]
    );
    let carol = MemberInfo {
        id: c_id.clone(),
        name: "carol".into(),
    };
    assert_eq!(
        a.recv().await,
        ServerMessage::MemberJoined {
            member: carol.clone()
        }
    );
    assert_eq!(
        b.recv().await,
        ServerMessage::MemberJoined { member: carol }
    );
    assert!(a_id != b_id && b_id != c_id && a_id != c_id);

    // An explicit leave: the server closes with 1000 and the others are told.
    b.send(json!({"type": "leave"})).await;
    let ended = b.until_end().await;
    assert!(ended.messages.is_empty(), "{:?}", ended.messages);
    assert_eq!(ended.close.as_ref().map(close_code), Some(1000));
    assert_eq!(
        a.recv().await,
        ServerMessage::MemberLeft { id: b_id.clone() }
    );
    assert_eq!(c.recv().await, ServerMessage::MemberLeft { id: b_id });

    // A dropped connection counts as leaving too.
    drop(c);
    assert_eq!(a.recv().await, ServerMessage::MemberLeft { id: c_id });
    a.ping_pong(1).await;
    server.shutdown().await;
}

#[tokio::test]
async fn relays_offer_answer_and_candidate_between_members() {
    let server = start(test_config()).await;
    let mut a = Raw::connect(&server).await;
    let mut b = Raw::connect(&server).await;
    let (a_id, _) = a.join("room", "a", None).await;
    let (b_id, _) = b.join("room", "b", None).await;
    assert!(matches!(a.recv().await, ServerMessage::MemberJoined { .. }));

    a.send(json!({"type": "offer", "to": b_id, "sdp": "v=0 offer"}))
        .await;
    assert_eq!(
        b.recv().await,
        ServerMessage::Offer {
            from: a_id.clone(),
            sdp: "v=0 offer".into()
        }
    );
    b.send(json!({"type": "answer", "to": a_id, "sdp": "v=0 answer"}))
        .await;
    assert_eq!(
        a.recv().await,
        ServerMessage::Answer {
            from: b_id.clone(),
            sdp: "v=0 answer".into()
        }
    );
    let candidate = json!({"candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
    a.send(json!({"type": "candidate", "to": b_id, "candidate": candidate}))
        .await;
    assert_eq!(
        b.recv().await,
        ServerMessage::Candidate {
            from: a_id.clone(),
            candidate: IceCandidate {
                candidate: "candidate:1 1 udp 1 10.0.0.1 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                username_fragment: None,
            },
        }
    );
    // Sending to yourself is not a relay.
    a.send(json!({"type": "offer", "to": a_id, "sdp": "x"}))
        .await;
    a.expect_error(ErrorCode::UnknownMember).await;
    server.shutdown().await;
}

#[tokio::test]
async fn relay_to_another_room_is_refused_and_never_delivered() {
    let server = start(test_config()).await;
    let mut a = Raw::connect(&server).await;
    let mut other = Raw::connect(&server).await;
    a.join("room-a", "a", None).await;
    let (other_id, _) = other.join("room-b", "b", None).await;

    for kind in ["offer", "answer"] {
        a.send(json!({"type": kind, "to": other_id, "sdp": "secret"}))
            .await;
        a.expect_error(ErrorCode::UnknownMember).await;
    }
    a.send(json!({"type": "candidate", "to": other_id, "candidate": {"candidate": ""}}))
        .await;
    a.expect_error(ErrorCode::UnknownMember).await;
    a.send(json!({"type": "offer", "to": "000000000000", "sdp": "x"}))
        .await;
    a.expect_error(ErrorCode::UnknownMember).await;
    // The refusals above were decided before the errors reached `a`; anything
    // relayed to `other` would now sit in its queue ahead of this pong.
    other.ping_pong(9).await;
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_unknown_and_invalid_messages_are_answered_and_harmless() {
    let server = start(test_config()).await;
    let mut c = Raw::connect(&server).await;

    c.send_text("{").await;
    c.expect_error(ErrorCode::MalformedJson).await;
    c.send_text("[1,2]").await;
    c.expect_error(ErrorCode::MalformedJson).await;
    c.send_text("").await;
    c.expect_error(ErrorCode::MalformedJson).await;

    c.send(json!({"type": "dance"})).await;
    c.expect_error(ErrorCode::UnknownType).await;

    c.send(json!({"type": 5})).await;
    c.expect_error(ErrorCode::InvalidMessage).await;
    c.send(json!({"room": "x"})).await;
    c.expect_error(ErrorCode::InvalidMessage).await;
    c.send(json!({"type": "join", "room": "r"})).await;
    c.expect_error(ErrorCode::InvalidMessage).await;
    c.send(json!({"type": "join", "room": "r", "name": "n", "colour": "red"}))
        .await;
    c.expect_error(ErrorCode::InvalidMessage).await;
    c.send(json!({"type": "join", "room": "", "name": "n"}))
        .await;
    c.expect_error(ErrorCode::InvalidMessage).await;
    c.send(json!({"type": "join", "room": "r", "name": "x".repeat(65)}))
        .await;
    c.expect_error(ErrorCode::InvalidMessage).await;
    c.send(json!({"type": "join", "room": "r", "name": "new\nline"}))
        .await;
    c.expect_error(ErrorCode::InvalidMessage).await;
    c.send(json!({"type": "ping", "id": "seven"})).await;
    c.expect_error(ErrorCode::InvalidMessage).await;

    timeout(WAIT, c.ws.send(Message::binary(vec![1u8, 2, 3])))
        .await
        .unwrap()
        .unwrap();
    c.expect_error(ErrorCode::BinaryNotSupported).await;

    c.send(json!({"type": "join", "version": 2, "room": "r", "name": "n"}))
        .await;
    let message = c.expect_error(ErrorCode::UnsupportedVersion).await;
    assert!(message.contains('1'), "{message}");

    // None of that was fatal: the connection still joins and works.
    c.join("r", "n", None).await;
    c.ping_pong(3).await;
    server.shutdown().await;
}

#[tokio::test]
async fn not_joined_and_already_joined() {
    let server = start(test_config()).await;
    let mut c = Raw::connect(&server).await;
    c.send(json!({"type": "offer", "to": "abc", "sdp": "x"}))
        .await;
    c.expect_error(ErrorCode::NotJoined).await;
    c.send(json!({"type": "answer", "to": "abc", "sdp": "x"}))
        .await;
    c.expect_error(ErrorCode::NotJoined).await;
    c.send(json!({"type": "candidate", "to": "abc", "candidate": {"candidate": ""}}))
        .await;
    c.expect_error(ErrorCode::NotJoined).await;
    c.send(json!({"type": "leave"})).await;
    c.expect_error(ErrorCode::NotJoined).await;
    // Ping is allowed before join.
    c.ping_pong(1).await;
    c.send(json!({"type": "ping"})).await;
    assert_eq!(c.recv().await, ServerMessage::Pong { id: None });

    c.join("r", "n", None).await;
    c.send(json!({"type": "join", "room": "other", "name": "n"}))
        .await;
    c.expect_error(ErrorCode::AlreadyJoined).await;
    c.ping_pong(2).await;
    server.shutdown().await;
}

#[tokio::test]
async fn tokens_preset_and_set_by_the_creator() {
    let mut config = test_config();
    config.room_tokens.insert("vip".into(), "letmein".into());
    let server = start(config).await;

    let mut c = Raw::connect(&server).await;
    c.send(json!({"type": "join", "room": "vip", "name": "n"}))
        .await;
    c.expect_error(ErrorCode::WrongToken).await;
    c.send(json!({"type": "join", "room": "vip", "name": "n", "token": "guess"}))
        .await;
    c.expect_error(ErrorCode::WrongToken).await;
    // wrong-token is not fatal: retry on the same connection.
    c.join("vip", "n", Some("letmein")).await;

    let mut creator = Raw::connect(&server).await;
    creator.join("club", "creator", Some("t1")).await;
    let mut guest = Raw::connect(&server).await;
    guest
        .send(json!({"type": "join", "room": "club", "name": "guest"}))
        .await;
    guest.expect_error(ErrorCode::WrongToken).await;
    guest
        .send(json!({"type": "join", "room": "club", "name": "guest", "token": "t2"}))
        .await;
    guest.expect_error(ErrorCode::WrongToken).await;

    // Once the room is empty it is gone, and its token with it. The close
    // frame comes after the server removed the member.
    creator.send(json!({"type": "leave"})).await;
    let ended = creator.until_end().await;
    assert!(ended.close.is_some());
    guest.join("club", "guest", Some("t2")).await;
    server.shutdown().await;
}

#[tokio::test]
async fn room_full() {
    let mut config = test_config();
    config.max_members_per_room = 2;
    config.max_rooms = 2;
    let server = start(config).await;
    let mut clients = Vec::new();
    for name in ["a", "b"] {
        let mut c = Raw::connect(&server).await;
        c.join("small", name, None).await;
        clients.push(c);
    }
    let mut late = Raw::connect(&server).await;
    late.send(json!({"type": "join", "room": "small", "name": "c"}))
        .await;
    late.expect_error(ErrorCode::RoomFull).await;
    late.join("second", "c", None).await;
    let mut third_room = Raw::connect(&server).await;
    third_room
        .send(json!({"type": "join", "room": "third", "name": "d"}))
        .await;
    third_room.expect_error(ErrorCode::RoomFull).await;
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_message_is_refused_but_connection_survives() {
    let server = start(test_config()).await;
    let mut c = Raw::connect(&server).await;
    let (id, _) = c.join("r", "n", None).await;
    let mut peer = Raw::connect(&server).await;
    peer.join("r", "p", None).await;
    assert!(matches!(c.recv().await, ServerMessage::MemberJoined { .. }));

    // Just above 64 KiB, well below the 1 MiB hard cap.
    let big_sdp = "a".repeat(64 * 1024);
    c.send(json!({"type": "offer", "to": id, "sdp": big_sdp}))
        .await;
    let message = c.expect_error(ErrorCode::TooLarge).await;
    assert!(message.contains("65536"), "{message}");
    c.ping_pong(1).await;
    peer.ping_pong(2).await;
    server.shutdown().await;
}

#[tokio::test]
async fn frame_over_the_hard_cap_closes_the_connection() {
    let server = start(test_config()).await;
    let mut c = Raw::connect(&server).await;
    let (_, _) = c.join("r", "big", None).await;
    let mut witness = Raw::connect(&server).await;
    witness.join("r", "witness", None).await;
    assert!(matches!(c.recv().await, ServerMessage::MemberJoined { .. }));

    let huge = "x".repeat(1024 * 1024 + 1);
    // The server may cut the connection while the frame is still being
    // written, so the send itself may fail.
    let _ = timeout(WAIT, c.ws.send(Message::text(huge))).await;
    let ended = c.until_end().await;
    if let Some(frame) = &ended.close {
        assert_eq!(close_code(frame), 1009, "{frame:?}");
    }
    for message in &ended.messages {
        assert!(
            matches!(
                message,
                ServerMessage::Error {
                    code: ErrorCode::TooLarge,
                    fatal: true,
                    ..
                }
            ),
            "{message:?}"
        );
    }
    // Its room learns it left, and the server keeps serving.
    assert!(matches!(
        witness.recv().await,
        ServerMessage::MemberLeft { .. }
    ));
    witness.ping_pong(1).await;
    let mut fresh = Raw::connect(&server).await;
    fresh.join("r", "fresh", None).await;
    server.shutdown().await;
}

/// Flooding: first rate-limited (dropped, non-fatal), then closed with a
/// fatal `rate-limited`; another room exchanges messages normally while the
/// flooder is being limited and after it is gone.
#[tokio::test]
async fn flood_is_limited_then_closed_while_other_rooms_work() {
    let mut config = test_config();
    // Slow refill, so the counts below do not depend on how fast the test runs.
    config.rate_limit = RateLimitConfig::new(1.0, 100);
    config.rate_limit.flood_threshold = 20;
    config.rate_limit.flood_window = Duration::from_secs(600);
    // Big enough that the flooder's replies never overflow its queue.
    config.outgoing_queue = 100_000;
    // Room for the close handshake with a client that is still sending.
    config.close_timeout = Duration::from_secs(10);
    let server = start(config).await;

    let mut b1 = Raw::connect(&server).await;
    let mut b2 = Raw::connect(&server).await;
    let (b1_id, _) = b1.join("calm", "b1", None).await;
    let (b2_id, _) = b2.join("calm", "b2", None).await;
    assert!(matches!(
        b1.recv().await,
        ServerMessage::MemberJoined { .. }
    ));

    async fn exchange(b1: &mut Raw, b1_id: &str, b2: &mut Raw, b2_id: &str, round: u32) {
        for i in 0..10 {
            let sdp = format!("offer {round}/{i}");
            b1.send(json!({"type": "offer", "to": b2_id, "sdp": sdp}))
                .await;
            assert_eq!(
                b2.recv().await,
                ServerMessage::Offer {
                    from: b1_id.to_string(),
                    sdp
                }
            );
            let sdp = format!("answer {round}/{i}");
            b2.send(json!({"type": "answer", "to": b1_id, "sdp": sdp}))
                .await;
            assert_eq!(
                b1.recv().await,
                ServerMessage::Answer {
                    from: b2_id.to_string(),
                    sdp
                }
            );
        }
    }

    let mut flooder = Raw::connect(&server).await;
    flooder.join("noisy", "flooder", None).await;
    // Phase 1: empty the bucket (100 tokens, one spent on join) and get a few
    // messages dropped: one reply per ping, pongs first, then rate-limited errors.
    for i in 0..109u64 {
        flooder.send(json!({"type": "ping", "id": i})).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    for _ in 0..109 {
        match flooder.recv().await {
            ServerMessage::Pong { .. } => {
                assert_eq!(
                    limited, 0,
                    "a pong after a rate-limited error without refill time"
                );
                pongs += 1;
            }
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                fatal: false,
                ..
            } => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pongs >= 99, "{pongs} pongs");
    assert!(limited >= 1, "nothing was rate-limited");

    // Phase 2: the flooder is mid-flood (limited, not yet closed); the calm room works.
    exchange(&mut b1, &b1_id, &mut b2, &b2_id, 1).await;

    // Phase 3: keep flooding until the server gives up on the flooder.
    let (mut sink, mut stream) = flooder.ws.split();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = tokio::spawn({
        let stop = Arc::clone(&stop);
        let sent = Arc::clone(&sent);
        async move {
            while !stop.load(Ordering::SeqCst) && sent.load(Ordering::SeqCst) < 100_000 {
                if sink
                    .send(Message::text(r#"{"type":"ping"}"#))
                    .await
                    .is_err()
                {
                    break;
                }
                sent.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }
    });
    let mut saw_limited = false;
    let mut close = None;
    let mut fatal = false;
    loop {
        let frame = timeout(WAIT, stream.next())
            .await
            .expect("flooder was never closed");
        match frame {
            Some(Ok(Message::Text(text))) => match serde_json::from_str(text.as_str()).unwrap() {
                ServerMessage::Pong { .. } => assert!(!fatal),
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    fatal: false,
                    ..
                } => {
                    assert!(!fatal);
                    saw_limited = true;
                }
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    fatal: true,
                    ..
                } => {
                    fatal = true;
                    stop.store(true, Ordering::SeqCst);
                }
                other => panic!("unexpected {other:?}"),
            },
            Some(Ok(Message::Close(frame))) => {
                close = frame;
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    stop.store(true, Ordering::SeqCst);
    let _ = timeout(WAIT, sender).await;
    drop(stream);
    assert!(
        saw_limited,
        "no non-fatal rate-limited error before the fatal one"
    );
    assert!(fatal, "no fatal rate-limited error (close: {close:?})");
    assert_eq!(close.as_ref().map(close_code), Some(1008));

    // Phase 4: after the flood the calm room still works.
    exchange(&mut b1, &b1_id, &mut b2, &b2_id, 2).await;
    drop((b1, b2));
    server.shutdown().await;
}

#[tokio::test]
async fn slow_reader_is_disconnected_without_blocking_others() {
    let mut config = test_config();
    config.outgoing_queue = 64;
    config.rate_limit = RateLimitConfig::new(100_000.0, 100_000);
    let server = start(config).await;

    let mut fast = Raw::connect(&server).await;
    let (fast_id, _) = fast.join("r", "fast", None).await;
    let mut slow = Raw::connect(&server).await;
    let (slow_id, _) = slow.join("r", "slow", None).await;
    let mut bystander = Raw::connect(&server).await;
    let (bystander_id, _) = bystander.join("r", "bystander", None).await;
    assert!(matches!(
        fast.recv().await,
        ServerMessage::MemberJoined { .. }
    ));
    assert!(matches!(
        fast.recv().await,
        ServerMessage::MemberJoined { .. }
    ));
    assert!(matches!(
        slow.recv().await,
        ServerMessage::MemberJoined { .. }
    ));
    // From here on `slow` never reads.

    // Offers to `slow` in batches, each followed by a ping whose pong bounds
    // how many replies `fast` can have pending (well below its queue size).
    let offer = json!({"type": "offer", "to": slow_id, "sdp": "s".repeat(60 * 1024)}).to_string();
    let kicked = timeout(Duration::from_secs(120), async {
        for batch in 0..2000u64 {
            for _ in 0..16 {
                fast.send_text(offer.clone()).await;
            }
            fast.send(json!({"type": "ping", "id": batch})).await;
            let mut left = None;
            loop {
                match fast.recv().await {
                    ServerMessage::Pong { id } if id == Some(batch) => break,
                    ServerMessage::MemberLeft { id } => left = Some(id),
                    // Offers that arrive after the kick are refused.
                    ServerMessage::Error {
                        code: ErrorCode::UnknownMember,
                        ..
                    } => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            if left.is_some() {
                return left;
            }
        }
        None
    })
    .await
    .expect("slow reader was never disconnected");
    assert_eq!(kicked, Some(slow_id.clone()));

    // The others still talk.
    assert_eq!(
        bystander.recv().await,
        ServerMessage::MemberLeft { id: slow_id }
    );
    fast.send(json!({"type": "offer", "to": bystander_id, "sdp": "hi"}))
        .await;
    assert_eq!(
        bystander.recv().await,
        ServerMessage::Offer {
            from: fast_id,
            sdp: "hi".into()
        }
    );
    drop(slow);
    server.shutdown().await;
}

#[tokio::test]
async fn server_pings_and_closes_idle_connections() {
    let mut config = test_config();
    config.ping_interval = Duration::from_millis(50);
    let server = start(config).await;
    let mut c = Raw::connect(&server).await;
    let got_ping = timeout(WAIT, async {
        loop {
            if let Some(Ok(Message::Ping(_))) = c.ws.next().await {
                return;
            }
        }
    })
    .await;
    assert!(got_ping.is_ok(), "no websocket ping from the server");
    server.shutdown().await;

    // No server pings, so a client that sends nothing is silent: closed as idle.
    let mut config = test_config();
    config.ping_interval = Duration::from_secs(3600);
    config.idle_timeout = Duration::from_millis(300);
    let server = start(config).await;
    let mut c = Raw::connect(&server).await;
    let ended = c.until_end().await;
    let frame = ended.close.expect("close frame");
    assert_eq!(close_code(&frame), 1001);
    assert_eq!(frame.reason.as_str(), "idle timeout");
    server.shutdown().await;
}

#[tokio::test]
async fn connection_limit_refuses_upgrades() {
    let mut config = test_config();
    config.max_connections = 1;
    let server = start(config).await;
    let mut first = Raw::connect(&server).await;
    first.ping_pong(1).await;
    let refused = timeout(WAIT, connect_async(server.url())).await.unwrap();
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    first.ping_pong(2).await;
    server.shutdown().await;
}

#[tokio::test]
async fn ws_signallers_exchange_offer_answer_and_candidates() {
    let server = start(test_config()).await;
    let alice = WsSignaller::new(server.url());
    let bob = WsSignaller::new(server.url());

    let mut a = alice
        .join(join_request("call", "alice", None))
        .await
        .unwrap();
    assert!(a.members.is_empty());
    let mut b = bob.join(join_request("call", "bob", None)).await.unwrap();
    assert_eq!(
        b.members,
        vec![MemberInfo {
            id: a.self_id.clone(),
            name: "alice".into()
        }]
    );
    match next_event(&mut a.events).await {
        SignalEvent::MemberJoined(member) => assert_eq!(
            member,
            MemberInfo {
                id: b.self_id.clone(),
                name: "bob".into()
            }
        ),
        other => panic!("{other:?}"),
    }

    alice
        .send(&b.self_id, PeerMessage::Offer("offer-sdp".into()))
        .await
        .unwrap();
    match next_event(&mut b.events).await {
        SignalEvent::Peer { from, message } => {
            assert_eq!(from, a.self_id);
            assert_eq!(message, PeerMessage::Offer("offer-sdp".into()));
        }
        other => panic!("{other:?}"),
    }
    bob.send(&a.self_id, PeerMessage::Answer("answer-sdp".into()))
        .await
        .unwrap();
    let candidate = IceCandidate {
        candidate: "candidate:1 1 udp 2130706431 10.0.0.2 9 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
        username_fragment: Some("abcd".into()),
    };
    bob.send(&a.self_id, PeerMessage::Candidate(candidate.clone()))
        .await
        .unwrap();
    match next_event(&mut a.events).await {
        SignalEvent::Peer { from, message } => {
            assert_eq!(from, b.self_id);
            assert_eq!(message, PeerMessage::Answer("answer-sdp".into()));
        }
        other => panic!("{other:?}"),
    }
    match next_event(&mut a.events).await {
        SignalEvent::Peer {
            message: PeerMessage::Candidate(got),
            ..
        } => assert_eq!(got, candidate),
        other => panic!("{other:?}"),
    }
    alice
        .send(&b.self_id, PeerMessage::Candidate(IceCandidate::default()))
        .await
        .unwrap();
    match next_event(&mut b.events).await {
        SignalEvent::Peer {
            message: PeerMessage::Candidate(got),
            ..
        } => assert_eq!(got, IceCandidate::default()),
        other => panic!("{other:?}"),
    }

    // A server error that does not end the session arrives as an event.
    alice
        .send(&"nobody".to_string(), PeerMessage::Offer("x".into()))
        .await
        .unwrap();
    match next_event(&mut a.events).await {
        SignalEvent::Error(message) => assert!(message.starts_with("unknown-member"), "{message}"),
        other => panic!("{other:?}"),
    }

    // Joining twice is refused locally.
    assert!(
        alice
            .join(join_request("call", "again", None))
            .await
            .is_err()
    );

    // Leaving: bob is told, alice's events end with Closed(None).
    alice.leave().await.unwrap();
    alice.leave().await.unwrap();
    match next_event(&mut b.events).await {
        SignalEvent::MemberLeft(id) => assert_eq!(id, a.self_id),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next_event(&mut a.events).await,
        SignalEvent::Closed(None)
    ));
    assert!(timeout(WAIT, a.events.recv()).await.unwrap().is_none());
    assert!(
        alice
            .send(&b.self_id, PeerMessage::Offer("late".into()))
            .await
            .is_err()
    );

    // Dropping a signaller closes its connection.
    let carol = WsSignaller::new(server.url());
    let c = carol
        .join(join_request("call", "carol", None))
        .await
        .unwrap();
    assert!(matches!(
        next_event(&mut b.events).await,
        SignalEvent::MemberJoined(_)
    ));
    drop(carol);
    match next_event(&mut b.events).await {
        SignalEvent::MemberLeft(id) => assert_eq!(id, c.self_id),
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn ws_signaller_join_rejection_and_retry() {
    let mut config = test_config();
    config.room_tokens.insert("locked".into(), "right".into());
    let server = start(config).await;
    let signaller = WsSignaller::new(server.url());
    let err = signaller
        .join(join_request("locked", "me", Some("wrong")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SignallingRejected, "{err}");
    assert_eq!(err.signalling_code(), Some(ErrorCode::WrongToken));
    let err = signaller
        .join(join_request("", "me", None))
        .await
        .unwrap_err();
    assert!(
        err.signalling_code() == Some(ErrorCode::InvalidMessage),
        "{err}"
    );
    let joined = signaller
        .join(join_request("locked", "me", Some("right")))
        .await
        .unwrap();
    assert_eq!(joined.self_id.len(), 12);
    signaller.leave().await.unwrap();

    // Nothing listening: a connection error, not a panic or a hang.
    let addr = server.local_addr();
    server.shutdown().await;
    let nowhere = WsSignaller::new(format!("ws://{addr}/ws"));
    let err = nowhere
        .join(join_request("r", "me", None))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Signalling | ErrorKind::Timeout),
        "{err}"
    );
}

#[tokio::test]
async fn shutdown_closes_every_client() {
    let server = start(test_config()).await;
    let signaller = WsSignaller::new(server.url());
    let mut joined = signaller.join(join_request("r", "s", None)).await.unwrap();
    let mut raw = Raw::connect(&server).await;
    raw.join("other", "raw", None).await;
    let mut unjoined = Raw::connect(&server).await;
    unjoined.ping_pong(1).await;
    let url = server.url();

    timeout(WAIT, server.shutdown())
        .await
        .expect("shutdown hung");

    match next_event(&mut joined.events).await {
        SignalEvent::Closed(Some(reason)) => assert!(reason.contains("1001"), "{reason}"),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(timeout(WAIT, joined.events.recv()).await.unwrap().is_none());
    for client in [&mut raw, &mut unjoined] {
        let ended = client.until_end().await;
        assert_eq!(ended.close.as_ref().map(close_code), Some(1001));
    }
    assert!(
        connect_async(url).await.is_err(),
        "server still accepts after shutdown"
    );
}

#[tokio::test]
async fn dropping_the_server_closes_clients() {
    let server = start(test_config()).await;
    let signaller = WsSignaller::new(server.url());
    let mut joined = signaller.join(join_request("r", "s", None)).await.unwrap();
    drop(server);
    assert!(matches!(
        next_event(&mut joined.events).await,
        SignalEvent::Closed(Some(_))
    ));
}

#[tokio::test]
async fn serves_static_files_from_web_root() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = std::env::temp_dir().join(format!("rtcgate-webroot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>rtcgate test page</h1>").unwrap();
    let mut config = test_config();
    config.web_root = Some(dir.clone());
    let server = start(config).await;

    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    timeout(WAIT, tcp.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("rtcgate test page"), "{response}");
    // The WebSocket endpoint still works next to the files.
    let mut c = Raw::connect(&server).await;
    c.ping_pong(1).await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);

    let mut config = test_config();
    config.web_root = Some(std::env::temp_dir().join("rtcgate-no-such-dir"));
    let err = SignallingServer::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn urls_point_at_the_bound_port() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = SignallingServer::bind("0.0.0.0:0".parse().unwrap(), test_config())
            .await
            .unwrap();
        let port = server.local_addr().port();
        assert_ne!(port, 0);
        assert_eq!(server.url(), format!("ws://127.0.0.1:{port}/ws"));
        assert_eq!(server.http_url(), format!("http://127.0.0.1:{port}/"));
        server.shutdown().await;
    });
}

/// The `rtcgate-server` program: starts, serves a join, stops on SIGTERM.
#[cfg(all(unix, feature = "server-bin"))]
#[tokio::test]
async fn server_program_runs_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_rtcgate-server"))
            .args(["--listen", "127.0.0.1:0", "--room-token", "locked=sesame"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rtcgate-server"),
    );
    // Read its log on a thread (it must never block on a full pipe) and pass
    // the first WebSocket URL on.
    let stderr = child.0.stderr.take().unwrap();
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut url_tx = Some(url_tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(start) = line.find("ws://") {
                let url: String = line[start..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != ',')
                    .collect();
                if let Some(tx) = url_tx.take() {
                    let _ = tx.send(url);
                }
            }
        }
    });
    let url = timeout(WAIT, url_rx)
        .await
        .expect("rtcgate-server did not start")
        .expect("no URL in its log");

    let signaller = WsSignaller::new(url);
    let err = signaller
        .join(join_request("locked", "me", None))
        .await
        .unwrap_err();
    assert!(
        err.signalling_code() == Some(ErrorCode::WrongToken),
        "{err}"
    );
    let mut joined = signaller
        .join(join_request("locked", "me", Some("sesame")))
        .await
        .unwrap();

    let pid = child.0.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    assert!(matches!(
        next_event(&mut joined.events).await,
        SignalEvent::Closed(Some(_))
    ));
    let exit = tokio::task::spawn_blocking(move || child.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// A one-connection fake server: welcomes the join, then hands the socket to `then`.
async fn fake_server<F, Fut>(then: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: FnOnce(WebSocketStream<TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                assert!(text.as_str().contains(r#""type":"join""#), "{text}")
            }
            other => panic!("expected join, got {other:?}"),
        }
        let welcome = json!({"type": "welcome", "version": 1, "id": "aaaaaaaaaaaa", "room": "r", "members": []});
        ws.send(Message::text(welcome.to_string())).await.unwrap();
        then(ws).await;
    });
    (url, task)
}

#[tokio::test]
async fn ws_signaller_sends_application_pings() {
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let (url, server) = fake_server(|mut ws| async move {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                let value: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                if value["type"] == "ping" {
                    let _ = seen_tx.send(value);
                    break;
                }
            }
        }
    })
    .await;
    let signaller = WsSignaller::new(url).with_ping_interval(Duration::from_millis(50));
    let _joined = signaller.join(join_request("r", "me", None)).await.unwrap();
    let ping = timeout(WAIT, seen_rx).await.expect("no ping").unwrap();
    assert!(ping["id"].is_u64(), "{ping}");
    timeout(WAIT, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn ws_signaller_reports_a_silent_server_as_closed() {
    let (url, server) = fake_server(|ws| async move {
        // Keep the connection open but say nothing (and do not even read).
        tokio::time::sleep(WAIT * 2).await;
        drop(ws);
    })
    .await;
    let signaller = WsSignaller::new(url)
        .with_ping_interval(Duration::from_secs(3600))
        .with_idle_timeout(Duration::from_millis(300));
    let mut joined = signaller.join(join_request("r", "me", None)).await.unwrap();
    match next_event(&mut joined.events).await {
        SignalEvent::Closed(Some(reason)) => assert!(reason.contains("no message"), "{reason}"),
        other => panic!("{other:?}"),
    }
    server.abort();
}
