//! Calls over impaired networks, built by the tests themselves inside the
//! namespace of `.ci/with-netns`: a path that dies and comes back (ICE
//! restart), a TURN relay (coturn) with right and wrong credentials, and media
//! under random loss and load-dependent delay. Every impairment and server is
//! a guard that is removed when the test ends, also on panic (docs/testing.md).

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rtcgate_core::signalling::{
    JoinRequest, Joined, MemberId, MemberInfo, NegotiationPolicy, PeerMessage, Signaller,
    SignallingServer, WsSignaller,
};
use rtcgate_core::stats::CandidatePairStats;
use rtcgate_core::{
    Call, CallEvent, CallOptions, Codec, ConnectionState, DataChannel, DataChannelOptions,
    DataMessage, IceServer, LocalTrack, RemoteTrack,
};
use rtcgate_core::{IceTimeouts, IceTransportPolicy};
use support::netem::Impairment;
use support::turn::Turn;
use support::*;
use tokio::task::JoinHandle;

/// The tests here change the namespace's network or listen on the TURN port:
/// one at a time, whatever `--test-threads` says.
static NETWORK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------
// What the tests observe of a call: its events, and the descriptions and
// candidates it sends (through a signaller that records them).

/// Something a call sent through signalling.
#[derive(Debug, Clone)]
enum Sent {
    /// An offer or answer, with its `a=ice-ufrag`.
    Description {
        offer: bool,
        ufrag: String,
        at: Instant,
    },
    /// A trickled candidate line.
    Candidate(String),
    /// A message of a kind added after this test was written.
    Other,
}

/// Records what the call sends, then passes it to the real signaller.
struct RecordingSignaller {
    inner: WsSignaller,
    sent: Arc<Mutex<Vec<Sent>>>,
}

#[async_trait]
impl Signaller for RecordingSignaller {
    async fn join(&self, request: JoinRequest) -> rtcgate_core::Result<Joined> {
        self.inner.join(request).await
    }

    async fn send(&self, to: &MemberId, message: PeerMessage) -> rtcgate_core::Result<()> {
        let record = match &message {
            PeerMessage::Offer(sdp) | PeerMessage::Answer(sdp) => Sent::Description {
                offer: matches!(message, PeerMessage::Offer(_)),
                ufrag: sdp
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
                    .unwrap_or_default()
                    .to_owned(),
                at: Instant::now(),
            },
            PeerMessage::Candidate(c) => Sent::Candidate(c.candidate.clone()),
            _ => Sent::Other,
        };
        self.sent.lock().unwrap().push(record);
        self.inner.send(to, message).await
    }

    async fn leave(&self) -> rtcgate_core::Result<()> {
        self.inner.leave().await
    }

    fn negotiation(&self, self_id: &MemberId, remote: &MemberInfo) -> NegotiationPolicy {
        self.inner.negotiation(self_id, remote)
    }
}

/// A call with everything it reported and sent.
struct Member {
    call: Call,
    events: Arc<Mutex<Vec<(Instant, CallEvent)>>>,
    sent: Arc<Mutex<Vec<Sent>>>,
    drain: JoinHandle<()>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.drain.abort();
    }
}

async fn join_member(
    server: &SignallingServer,
    room: &str,
    name: &str,
    options: CallOptions,
) -> Member {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let signaller = RecordingSignaller {
        inner: WsSignaller::new(server.url()),
        sent: sent.clone(),
    };
    let request = JoinRequest::new(room, name);
    let (call, mut rx) = Call::join(Arc::new(signaller), request, options)
        .await
        .expect("join");
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let drain = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            log.lock().unwrap().push((Instant::now(), event));
        }
    });
    Member {
        call,
        events,
        sent,
        drain,
    }
}

impl Member {
    /// The first recorded event (since the join) that `pick` accepts.
    async fn wait_event<T>(
        &self,
        secs: u64,
        what: &str,
        mut pick: impl FnMut(&CallEvent, Instant) -> Option<T>,
    ) -> T {
        eventually(secs, what, || {
            let found = self
                .events
                .lock()
                .unwrap()
                .iter()
                .find_map(|(at, e)| pick(e, *at));
            async move { found }
        })
        .await
    }

    /// Connection states the call reported, in order.
    fn states(&self) -> Vec<(Instant, ConnectionState)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(at, e)| match e {
                CallEvent::ConnectionStateChanged { state, .. } => Some((*at, *state)),
                _ => None,
            })
            .collect()
    }

    fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// Every ICE ufrag the call put in a description so far.
    fn ufrags(&self) -> BTreeSet<String> {
        self.sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Description { ufrag, .. } => Some(ufrag),
                Sent::Candidate(_) | Sent::Other => None,
            })
            .collect()
    }

    fn candidates(&self) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Candidate(c) => Some(c),
                Sent::Description { .. } | Sent::Other => None,
            })
            .collect()
    }

    async fn member_id(&self, name: &str) -> MemberId {
        let name = name.to_owned();
        self.wait_event(30, "member joined", |e, _| match e {
            CallEvent::MemberJoined(m) if m.name == name => Some(m.id.clone()),
            _ => None,
        })
        .await
    }

    async fn track(&self, id: &str) -> RemoteTrack {
        self.wait_event(30, &format!("track {id}"), |e, _| match e {
            CallEvent::TrackAdded(t) if t.id() == id => Some(t.clone()),
            _ => None,
        })
        .await
    }

    async fn channel(&self, label: &str) -> DataChannel {
        self.wait_event(30, &format!("data channel {label}"), |e, _| match e {
            CallEvent::DataChannelOpened(dc) if dc.label() == label => Some(dc.clone()),
            _ => None,
        })
        .await
    }

    /// The selected candidate pair with `member`, if any.
    async fn selected_pair(&self, member: &MemberId) -> Option<CandidatePairStats> {
        self.call
            .stats()
            .await
            .members
            .into_iter()
            .find(|m| &m.member.id == member)?
            .candidate_pair
    }
}

/// Polls `check` every 50 ms until it yields something, at most `secs` seconds.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(secs, what, async {
        loop {
            if let Some(value) = check().await {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

// ---------------------------------------------------------------------------
// Received frames, recorded in the background.

#[derive(Debug, Default)]
struct FrameLog {
    /// Synthetic indices in delivery order.
    indices: Vec<u32>,
    /// Frames that were not byte-identical to what the sender produced.
    corrupted: usize,
    /// The track ended.
    ended: bool,
}

/// Reads `track` until it ends, checking every frame.
struct FrameRecorder {
    track: RemoteTrack,
    log: Arc<Mutex<FrameLog>>,
    task: JoinHandle<()>,
}

impl FrameRecorder {
    fn start(track: RemoteTrack) -> FrameRecorder {
        let log = Arc::new(Mutex::new(FrameLog::default()));
        let shared = log.clone();
        let reader = track.clone();
        let task = tokio::spawn(async move {
            let codec = reader.codec();
            while let Some(frame) = reader.recv().await {
                let mut log = shared.lock().unwrap();
                match synthetic_index(codec, &frame.data) {
                    Some(index) => log.indices.push(index),
                    None => log.corrupted += 1,
                }
            }
            shared.lock().unwrap().ended = true;
        });
        FrameRecorder { track, log, task }
    }

    fn highest(&self) -> u32 {
        self.log
            .lock()
            .unwrap()
            .indices
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Distinct indices above `mark` delivered so far.
    fn count_above(&self, mark: u32) -> usize {
        let log = self.log.lock().unwrap();
        let above: BTreeSet<u32> = log.indices.iter().copied().filter(|i| *i > mark).collect();
        above.len()
    }

    /// Asserts no frame was corrupted, duplicated or delivered out of order.
    fn assert_intact(&self, what: &str) {
        let log = self.log.lock().unwrap();
        assert_eq!(log.corrupted, 0, "{what}: corrupted frames");
        assert!(
            log.indices.windows(2).all(|w| w[0] < w[1]),
            "{what}: frames out of order or repeated: {:?}",
            log.indices
        );
    }

    /// Waits until `want` distinct frames above `mark` arrived.
    async fn wait_above(&self, secs: u64, what: &str, mark: u32, want: usize) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.count_above(mark);
            if got >= want {
                return;
            }
            let ended = self.log.lock().unwrap().ended;
            assert!(
                !ended && Instant::now() < deadline,
                "{what}: {got} of {want} frames above index {mark} after {secs}s (track ended: {ended}; {:?})",
                self.track.stats()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FrameRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ice_timeouts_for_tests() -> IceTimeouts {
    // Failure after ~5 s of silence instead of ~30 s; keepalives well below that,
    // so a loaded machine does not see a healthy path as disconnected.
    IceTimeouts::new(
        Duration::from_secs(2),
        Duration::from_secs(3),
        Duration::from_millis(500),
    )
}

fn is_state(event: &CallEvent, wanted: ConnectionState) -> bool {
    matches!(event, CallEvent::ConnectionStateChanged { state, .. } if *state == wanted)
}

// ---------------------------------------------------------------------------

/// Both directions of a call go silent (every UDP datagram between the two
/// addresses dropped) until ICE declares the connection failed; once the path
/// is back, the impolite side's ICE restart (new credentials in a new
/// offer/answer) reconnects it and media flows again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_restart_recovers_a_failed_path() {
    init_logging();
    require_interfaces();
    let _network = NETWORK.lock().await;
    let options = CallOptions::default().with_ice_timeouts(ice_timeouts_for_tests());
    let server = start_server().await;
    let alice = join_member(&server, "restart", "alice", options.clone()).await;
    let video = LocalTrack::new(Codec::Vp8, "alice-cam", "alice").unwrap();
    alice.call.add_track(&video).await.unwrap();
    let bob = join_member(&server, "restart", "bob", options).await;
    let audio = LocalTrack::new(Codec::Opus, "bob-mic", "bob").unwrap();
    bob.call.add_track(&audio).await.unwrap();
    let senders = [
        spawn_sender(video.clone(), u32::MAX),
        spawn_sender(audio.clone(), u32::MAX),
    ];
    let bob_id = alice.member_id("bob").await;
    let alice_id = bob.member_id("alice").await;
    let at_bob = FrameRecorder::start(bob.track("alice-cam").await);
    let at_alice = FrameRecorder::start(alice.track("bob-mic").await);
    at_bob
        .wait_above(30, "video before the outage", 0, 30)
        .await;
    at_alice
        .wait_above(30, "audio before the outage", 0, 50)
        .await;

    // Of two members the one with the smaller id is impolite and restarts ICE.
    let (impolite, polite) = if alice.call.self_id() < bob.call.self_id() {
        ((&alice, &bob_id), (&bob, &alice_id))
    } else {
        ((&bob, &alice_id), (&alice, &bob_id))
    };
    let mut ufrags_before = alice.ufrags();
    ufrags_before.extend(bob.ufrags());

    let outage = Instant::now();
    let blackhole = Impairment::blackhole();
    let failed_at = impolite
        .0
        .wait_event(60, "the impolite side to report Failed", |e, at| {
            (at > outage && is_state(e, ConnectionState::Failed)).then_some(at)
        })
        .await;
    let dropped = blackhole.dropped();
    blackhole.remove();
    assert!(dropped > 0, "the blackhole dropped nothing");
    // Both sides lost the path (failure is the impolite side's to act on).
    polite
        .0
        .wait_event(10, "the polite side to notice the outage", |e, at| {
            (at > outage
                && (is_state(e, ConnectionState::Disconnected)
                    || is_state(e, ConnectionState::Failed)))
            .then_some(())
        })
        .await;

    // Connected again, through a restart: new ufrags in an offer from the
    // impolite side and in the polite side's answer.
    eventually(60, "connected again after an ICE restart", || async {
        let restarted_offer = impolite.0.sent().iter().any(|s| {
            matches!(s, Sent::Description { offer: true, ufrag, at }
                if *at > failed_at && !ufrags_before.contains(ufrag))
        });
        let restarted_answer = polite.0.sent().iter().any(|s| {
            matches!(s, Sent::Description { offer: false, ufrag, .. }
                if !ufrags_before.contains(ufrag))
        });
        let connected = impolite.0.call.connection_state(impolite.1).await
            == Some(ConnectionState::Connected)
            && polite.0.call.connection_state(polite.1).await == Some(ConnectionState::Connected);
        (restarted_offer && restarted_answer && connected).then_some(())
    })
    .await;
    let back = Instant::now();
    eprintln!(
        "outage: Failed {:?} after the blackhole began, Connected again {:?} after Failed; {dropped} datagrams dropped",
        failed_at - outage,
        back - failed_at
    );
    for (member, remote) in [impolite, polite] {
        let pair = member
            .selected_pair(remote)
            .await
            .expect("a selected candidate pair after the restart");
        assert_eq!(pair.local.candidate_type, "host");
    }

    // Frames flow again: new indices, beyond everything delivered before.
    let (video_mark, audio_mark) = (at_bob.highest(), at_alice.highest());
    at_bob
        .wait_above(30, "video after the restart", video_mark, 30)
        .await;
    at_alice
        .wait_above(30, "audio after the restart", audio_mark, 50)
        .await;
    at_bob.assert_intact("video");
    at_alice.assert_intact("audio");

    for sender in senders {
        sender.abort();
    }
    alice.call.leave().await.unwrap();
    bob.call.leave().await.unwrap();
    server.shutdown().await;
}

const TURN_USER: &str = "rtcgate";
const TURN_PASSWORD: &str = "relay-secret";

fn relay_options(turn: &Turn, password: &str) -> CallOptions {
    CallOptions::default()
        .with_ice_server(IceServer::turn(turn.url(), TURN_USER, password))
        .with_ice_transport_policy(IceTransportPolicy::Relay)
        .with_ice_timeouts(ice_timeouts_for_tests())
}

/// Relay-only calls through coturn: media and data flow, both ends use a
/// relay candidate, and no host address is ever signalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_calls_go_through_turn() {
    init_logging();
    require_interfaces();
    let _network = NETWORK.lock().await;
    let turn = Turn::start(TURN_USER, TURN_PASSWORD);
    let server = start_server().await;
    let alice = join_member(
        &server,
        "relay",
        "alice",
        relay_options(&turn, TURN_PASSWORD),
    )
    .await;
    let video = LocalTrack::new(Codec::Vp8, "alice-cam", "alice").unwrap();
    alice.call.add_track(&video).await.unwrap();
    let bob = join_member(&server, "relay", "bob", relay_options(&turn, TURN_PASSWORD)).await;
    let bob_id = alice.member_id("bob").await;
    let alice_id = bob.member_id("alice").await;
    let channel = alice
        .call
        .create_data_channel(&bob_id, "chat", DataChannelOptions::reliable())
        .await
        .unwrap();
    let sender = spawn_sender(video.clone(), u32::MAX);

    let at_bob = FrameRecorder::start(bob.track("alice-cam").await);
    at_bob
        .wait_above(30, "video through the relay", 0, 30)
        .await;
    at_bob.assert_intact("video through the relay");
    let bob_channel = bob.channel("chat").await;
    eventually(20, "channel open at alice", || {
        let open = channel.is_open();
        async move { open.then_some(()) }
    })
    .await;
    channel.send_text("via turn").await.unwrap();
    assert_eq!(
        within(20, "message at bob", bob_channel.recv()).await,
        Some(DataMessage::Text("via turn".into()))
    );
    bob_channel.send_text("via turn too").await.unwrap();
    assert_eq!(
        within(20, "reply at alice", channel.recv()).await,
        Some(DataMessage::Text("via turn too".into()))
    );

    for (member, remote) in [(&alice, &bob_id), (&bob, &alice_id)] {
        let pair = eventually(20, "a selected candidate pair", || {
            member.selected_pair(remote)
        })
        .await;
        assert_eq!(
            (
                pair.local.candidate_type.as_str(),
                pair.remote.candidate_type.as_str()
            ),
            ("relay", "relay"),
            "{}",
            turn.log()
        );
        // Both ends are coturn relay addresses (10.99.0.1, ports 20000-20199), and
        // we reach the server over UDP.
        for end in [&pair.local, &pair.remote] {
            assert_eq!(end.address.as_deref(), Some("10.99.0.1"), "{pair:?}");
            assert!((20000..20200).contains(&end.port), "{pair:?}");
            assert_eq!(end.protocol, "udp");
        }
        assert_eq!(pair.local.relay_protocol.as_deref(), Some("udp"));
        assert_eq!(pair.remote.relay_protocol, None);
        let candidates = member.candidates();
        assert!(!candidates.is_empty(), "no candidate was signalled");
        assert!(
            candidates.iter().all(|c| c.contains(" typ relay")),
            "relay-only policy signalled other candidates: {candidates:?}"
        );
    }
    let log = turn.log();
    assert!(
        log.contains("ALLOCATE processed, success"),
        "coturn saw no successful allocation:\n{log}"
    );

    sender.abort();
    alice.call.leave().await.unwrap();
    bob.call.leave().await.unwrap();
    server.shutdown().await;
    drop(turn);
}

/// With a wrong TURN password and relay-only policy there is no candidate to
/// connect with: ICE fails (reported as `Failed` on both sides), the calls
/// never connect and report no candidate pair, and they can still be left
/// promptly (no hang, no panic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_turn_password_never_connects() {
    init_logging();
    require_interfaces();
    let _network = NETWORK.lock().await;
    let turn = Turn::start(TURN_USER, TURN_PASSWORD);
    let server = start_server().await;
    let options = relay_options(&turn, "not-the-password");
    let alice = join_member(&server, "bad-turn", "alice", options.clone()).await;
    let video = LocalTrack::new(Codec::Vp8, "alice-cam", "alice").unwrap();
    alice.call.add_track(&video).await.unwrap();
    let bob = join_member(&server, "bad-turn", "bob", options).await;
    let bob_id = alice.member_id("bob").await;
    let alice_id = bob.member_id("alice").await;
    // Opening a channel waits for a data transport that never comes.
    let channel = tokio::spawn({
        let call = alice.call.clone();
        let bob_id = bob_id.clone();
        async move {
            call.create_data_channel(&bob_id, "chat", DataChannelOptions::reliable())
                .await
        }
    });
    let sender = spawn_sender(video.clone(), u32::MAX);

    // coturn refused the credentials ...
    eventually(20, "coturn to refuse the credentials", || {
        let log = turn.log();
        async move { log.contains("credentials are incorrect").then_some(()) }
    })
    .await;
    // ... so ICE fails on both sides (and keeps failing after every restart),
    // and for well over the ICE timeouts (5 s) nothing connects.
    let never_connected = |member: &Member| {
        let states = member.states();
        assert!(
            !states.iter().any(|(_, s)| *s == ConnectionState::Connected),
            "connected without a usable relay: {states:?}"
        );
        assert!(
            member.candidates().is_empty(),
            "candidates signalled without a relay: {:?}",
            member.candidates()
        );
    };
    let start = Instant::now();
    eventually(30, "ICE to fail on both sides without a relay", || {
        never_connected(&alice);
        never_connected(&bob);
        let failed = [&alice, &bob].iter().all(|member| {
            member
                .states()
                .iter()
                .any(|(_, s)| *s == ConnectionState::Failed)
        });
        async move { failed.then_some(()) }
    })
    .await;
    while start.elapsed() < Duration::from_secs(12) {
        for (member, remote) in [(&alice, &bob_id), (&bob, &alice_id)] {
            never_connected(member);
            assert!(member.selected_pair(remote).await.is_none());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Still waiting after 12 s, or given up with an error: never a channel.
    if channel.is_finished() {
        let result = channel.await.unwrap();
        assert!(
            result.is_err(),
            "a channel without a connection: {result:?}"
        );
    } else {
        channel.abort();
    }
    eprintln!(
        "states without a relay: alice {:?}, bob {:?}",
        alice.states().iter().map(|(_, s)| s).collect::<Vec<_>>(),
        bob.states().iter().map(|(_, s)| s).collect::<Vec<_>>()
    );

    sender.abort();
    within(10, "alice leaves", alice.call.leave())
        .await
        .unwrap();
    within(10, "bob leaves", bob.call.leave()).await.unwrap();
    server.shutdown().await;
}

/// Media under 5 % random loss and a bottleneck queue (delay varying with the
/// frame sizes, up to ~50 ms): frames keep arriving intact and in order, and
/// the losses show in the receiver's statistics instead of being hidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_survives_loss_and_jitter_and_reports_it() {
    init_logging();
    require_interfaces();
    let _network = NETWORK.lock().await;
    let server = start_server().await;
    let alice = join_member(&server, "lossy", "alice", CallOptions::default()).await;
    let video = LocalTrack::new(Codec::Vp8, "alice-cam", "alice").unwrap();
    let audio = LocalTrack::new(Codec::Opus, "alice-mic", "alice").unwrap();
    alice.call.add_track(&video).await.unwrap();
    alice.call.add_track(&audio).await.unwrap();
    let bob = join_member(&server, "lossy", "bob", CallOptions::default()).await;
    let alice_id = bob.member_id("alice").await;
    let senders = [
        spawn_sender(video.clone(), u32::MAX),
        spawn_sender(audio.clone(), u32::MAX),
    ];
    let audio_track = bob.track("alice-mic").await;
    let video_at_bob = FrameRecorder::start(bob.track("alice-cam").await);
    let audio_at_bob = FrameRecorder::start(audio_track.clone());
    video_at_bob.wait_above(30, "video", 0, 30).await;
    audio_at_bob.wait_above(30, "audio", 0, 50).await;
    let lost_before = audio_track.stats().lost;

    let impairment = Impairment::lossy(5, Some(1200));
    let (video_mark, audio_mark) = (video_at_bob.highest(), audio_at_bob.highest());
    // ~8 s of media through the impaired path.
    video_at_bob
        .wait_above(60, "video under loss", video_mark, 240)
        .await;
    audio_at_bob
        .wait_above(60, "audio under loss", audio_mark, 300)
        .await;
    let dropped = impairment.dropped();
    let assembled = audio_track.stats();
    let stats = bob.call.stats().await;
    impairment.remove();
    let member = stats
        .members
        .iter()
        .find(|m| m.member.id == alice_id)
        .expect("alice in bob's stats");
    eprintln!(
        "impaired: {dropped} datagrams dropped; audio track {assembled:?}; video track {:?}; inbound {:?}",
        video_at_bob.track.stats(),
        member.inbound
    );

    assert!(dropped > 0, "the impairment dropped nothing");
    video_at_bob.assert_intact("video under loss");
    // Video losses are repaired by retransmission, once each: no storm of
    // repeated retransmissions (see RtxUnwrapper in call/factory.rs).
    let repaired = video_at_bob.track.stats();
    assert!(
        repaired.duplicates * 10 <= repaired.packets,
        "retransmission storm: {repaired:?}"
    );
    audio_at_bob.assert_intact("audio under loss");
    // Audio has no retransmission: its losses must be visible, to the frame
    // assembler and in the RTP statistics.
    assert!(
        assembled.lost > lost_before,
        "audio losses hidden from the track stats: {assembled:?} ({dropped} datagrams dropped)"
    );
    let audio_in = member
        .inbound
        .iter()
        .find(|s| s.kind == "audio")
        .unwrap_or_else(|| panic!("no inbound audio stats: {member:?}"));
    assert!(
        audio_in.packets_lost > 0,
        "audio losses hidden from the call stats: {audio_in:?}"
    );

    for sender in senders {
        sender.abort();
    }
    alice.call.leave().await.unwrap();
    bob.call.leave().await.unwrap();
    server.shutdown().await;
}
