//! Two `Call`s connected by `DirectSignaller::pair` — no signalling server
//! running — exchange media and data; a call whose signalling the test
//! carries itself, as JSON, through `DirectTransport`; and data-channel flow
//! control (`bufferedamountlow`) as browsers have it.
//!
//! Needs non-loopback interfaces: run through `.ci/with-netns` (see docs/testing.md).

mod support;

use std::time::Duration;

use rtcgate_core::signalling::{DirectMessage, DirectSignaller, JoinRequest};
use rtcgate_core::{
    Call, CallEvent, CallEvents, CallOptions, Codec, DataChannel, DataChannelOptions, DataMessage,
    LocalTrack,
};
use support::*;

async fn join_pair() -> ((Call, CallEvents), (Call, CallEvents)) {
    let (a, b) = DirectSignaller::pair();
    let alice = Call::join(
        a.into(),
        JoinRequest::new("pair", "alice"),
        CallOptions::default(),
    )
    .await
    .expect("alice joins");
    let bob = Call::join(
        b.into(),
        JoinRequest::new("pair", "bob"),
        CallOptions::default(),
    )
    .await
    .expect("bob joins");
    (alice, bob)
}

/// Alice opens a channel to her one member; returns both ends, open.
async fn open_channel(
    alice: &Call,
    alice_events: &mut CallEvents,
    bob_events: &mut CallEvents,
    options: DataChannelOptions,
) -> (DataChannel, DataChannel) {
    let bob_id = next_matching(alice_events, "bob joined", |e| match e {
        CallEvent::MemberJoined(m) if m.name == "bob" => Some(m.id.clone()),
        _ => None,
    })
    .await;
    let sender = alice
        .create_data_channel(&bob_id, "flow", options)
        .await
        .expect("channel");
    let receiver = next_matching(bob_events, "the channel at bob", |e| match e {
        CallEvent::DataChannelOpened(dc) if dc.label() == "flow" => Some(dc.clone()),
        _ => None,
    })
    .await;
    (sender, receiver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_exchanges_media_and_data_without_a_server() {
    init_logging();
    require_interfaces();
    let ((alice, mut alice_events), (bob, mut bob_events)) = join_pair().await;
    let video = LocalTrack::new(Codec::Vp8, "alice-cam", "alice").unwrap();
    alice.add_track(&video).await.unwrap();
    let (to_bob, at_bob) = open_channel(
        &alice,
        &mut alice_events,
        &mut bob_events,
        DataChannelOptions::reliable(),
    )
    .await;
    assert_eq!(at_bob.member(), alice.self_id());

    let sender = spawn_sender(video.clone(), 240);
    let track = next_matching(&mut bob_events, "alice's video at bob", |e| match e {
        CallEvent::TrackAdded(t) => Some(t.clone()),
        _ => None,
    })
    .await;
    assert_eq!(track.codec(), Codec::Vp8);
    within(60, "40 byte-exact frames", async {
        let mut frames = 0;
        while frames < 40 {
            let frame = track.recv().await.expect("track ended");
            synthetic_index(Codec::Vp8, &frame.data).expect("a frame the sender made");
            frames += 1;
        }
    })
    .await;

    to_bob.send_text("hello bob").await.unwrap();
    expect_text(&at_bob, "hello bob").await;
    at_bob.send(b"hello alice".to_vec()).await.unwrap();
    match within(10, "bob's answer", to_bob.recv()).await {
        Some(DataMessage::Binary(data)) => assert_eq!(&data[..], b"hello alice"),
        other => panic!("{other:?}"),
    }

    sender.abort();
    bob.leave().await.unwrap();
    next_matching(&mut alice_events, "bob left", |e| match e {
        CallEvent::MemberLeft(m) if m.name == "bob" => Some(()),
        _ => None,
    })
    .await;
    alice.leave().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_carries_signalling_as_json() {
    init_logging();
    require_interfaces();
    // Two signallers whose messages only ever exist here as JSON text, as
    // they would on an application's own socket.
    let (a, mut a_transport) = DirectSignaller::new();
    let (b, mut b_transport) = DirectSignaller::new();
    let carried = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = carried.clone();
    let carrier = tokio::spawn(async move {
        loop {
            let (text, to_b) = tokio::select! {
                m = a_transport.recv() => match m { Some(m) => (m.to_json(), true), None => break },
                m = b_transport.recv() => match m { Some(m) => (m.to_json(), false), None => break },
            };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let target = if to_b { &b_transport } else { &a_transport };
            target
                .deliver_json(&text)
                .expect("well-formed JSON from the other side");
        }
    });
    let (alice, mut alice_events) = Call::join(
        a.into(),
        JoinRequest::new("json", "alice"),
        CallOptions::default(),
    )
    .await
    .unwrap();
    let (_bob, mut bob_events) = Call::join(
        b.into(),
        JoinRequest::new("json", "bob"),
        CallOptions::default(),
    )
    .await
    .unwrap();
    let (to_bob, at_bob) = open_channel(
        &alice,
        &mut alice_events,
        &mut bob_events,
        DataChannelOptions::reliable(),
    )
    .await;
    to_bob.send_text("over json").await.unwrap();
    expect_text(&at_bob, "over json").await;
    // Hellos, an offer, an answer and candidates went through the carrier.
    assert!(carried.load(std::sync::atomic::Ordering::SeqCst) >= 4);
    let malformed = DirectMessage::from_json(r#"{"type":"offer"}"#);
    assert_eq!(
        malformed.unwrap_err().kind(),
        rtcgate_core::ErrorKind::InvalidArgument
    );
    carrier.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_amount_low_fires_once_per_downward_crossing() {
    init_logging();
    require_interfaces();
    let ((alice, mut alice_events), (_bob, mut bob_events)) = join_pair().await;
    let (sender, receiver) = open_channel(
        &alice,
        &mut alice_events,
        &mut bob_events,
        DataChannelOptions::reliable(),
    )
    .await;
    const THRESHOLD: usize = 64 * 1024;
    const MESSAGE: usize = 16 * 1024;
    sender
        .set_buffered_amount_low_threshold(THRESHOLD)
        .await
        .unwrap();
    assert_eq!(sender.buffered_amount_low_threshold(), THRESHOLD);
    assert_eq!(sender.buffered_amount(), 0);
    let mut events = sender.buffered_amount_low_events();

    // Bob reads everything.
    let reader = tokio::spawn(async move {
        let mut bytes = 0;
        while bytes < 3 * 64 * MESSAGE {
            match receiver.recv().await {
                Some(DataMessage::Binary(data)) => bytes += data.len(),
                Some(_) => {}
                None => break,
            }
        }
        bytes
    });

    for burst in 1..=3u64 {
        // 1 MiB queued at once: far above the threshold.
        for _ in 0..64 {
            sender.send(vec![burst as u8; MESSAGE]).await.unwrap();
        }
        let queued = sender.buffered_amount();
        assert!(
            queued > THRESHOLD,
            "burst {burst}: {queued} bytes buffered right after sending 1 MiB"
        );
        let amount = within(60, "bufferedamountlow", events.next())
            .await
            .expect("the channel is open");
        assert!(
            amount <= THRESHOLD,
            "burst {burst}: the event fired at {amount} bytes, above the {THRESHOLD}-byte threshold"
        );
        assert_eq!(
            sender.buffered_amount_low_count(),
            burst,
            "exactly one event per crossing"
        );
        // Draining further (to 0) crosses nothing: no second event.
        within(60, "the queue drains", async {
            while sender.buffered_amount() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            tokio::time::timeout(Duration::from_millis(300), events.next())
                .await
                .is_err(),
            "burst {burst}: an event without a crossing"
        );
        assert_eq!(sender.buffered_amount_low_count(), burst);
    }
    // wait_buffered_below returns at once at or below the level.
    within(5, "already below", sender.wait_buffered_below(THRESHOLD))
        .await
        .unwrap();
    assert_eq!(
        within(60, "bob read 3 MiB", reader).await.unwrap(),
        3 * 64 * MESSAGE
    );
    sender.close().await.unwrap();
    assert!(
        within(10, "events end with the channel", events.next())
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_pauses_gets_everything_when_it_resumes() {
    init_logging();
    require_interfaces();
    let ((alice, mut alice_events), (_bob, mut bob_events)) = join_pair().await;
    let (sender, receiver) = open_channel(
        &alice,
        &mut alice_events,
        &mut bob_events,
        DataChannelOptions::reliable(),
    )
    .await;
    const MESSAGE: usize = 16 * 1024;
    // Bob reads nothing: the queue builds up behind his receive window.
    let mut sent = 0u32;
    within(60, "the sender's queue grows past 256 KiB", async {
        while sender.buffered_amount() <= 256 * 1024 {
            let mut message = vec![0u8; MESSAGE];
            message[..4].copy_from_slice(&sent.to_be_bytes());
            sender.send(message).await.unwrap();
            sent += 1;
            // Slowly, so that each message is acknowledged while bob's
            // buffers still take it, until they are all full.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    within(60, "everything arrives, in order, once bob reads", async {
        for expected in 0..sent {
            match receiver.recv().await {
                Some(DataMessage::Binary(data)) => {
                    assert_eq!(data.len(), MESSAGE);
                    assert_eq!(u32::from_be_bytes(data[..4].try_into().unwrap()), expected);
                }
                other => panic!("message {expected} of {sent}: {other:?}"),
            }
        }
    })
    .await;
    within(30, "the queue drains", sender.wait_buffered_below(0))
        .await
        .unwrap();
}
