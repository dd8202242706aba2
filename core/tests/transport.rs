//! The data-channel transport over an emulated wide-area path (issue 7):
//! a reliable channel delivers every byte, intact and in order, through delay,
//! random loss and reordering; and setup stays fast on a path with a real
//! round-trip time. Runs inside `.ci/with-netns`; the path is user-space
//! NFQUEUE emulation (`support/path.rs`, docs/testing.md).

mod support;

use std::time::{Duration, Instant};

use rtcgate_core::{
    Call, CallEvent, CallEvents, CallOptions, DataChannel, DataChannelOptions, DataMessage,
};
use support::path::{EmulatedPath, PathSpec};
use support::{init_logging, next_matching, require_interfaces, start_server, within};

/// One emulated path at a time: its NFQUEUE rule takes every UDP datagram of the
/// namespace, so two tests' paths (and `lo` MTU changes) would mix.
static PATH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Two calls in `room`, the second opening a channel to the first; returns
/// (sending end, receiving end, time from the second join to open on both).
async fn channel_pair(
    url: &str,
    room: &str,
    options: DataChannelOptions,
) -> (
    [Call; 2],
    [CallEvents; 2],
    DataChannel,
    DataChannel,
    Duration,
) {
    let (first, mut first_events) = Call::join_url(url, room, "first", CallOptions::default())
        .await
        .expect("first joins");
    let start = Instant::now();
    let (second, mut second_events) = Call::join_url(url, room, "second", CallOptions::default())
        .await
        .expect("second joins");
    let first_id = next_matching(&mut second_events, "first member", |e| match e {
        CallEvent::MemberJoined(m) => Some(m.id.clone()),
        _ => None,
    })
    .await;
    let created = second
        .create_data_channel(&first_id, "bulk", options)
        .await
        .expect("create channel");
    let opened = |e: &CallEvent| match e {
        CallEvent::DataChannelOpened(c) if c.label() == "bulk" => Some(c.clone()),
        _ => None,
    };
    let accepted = next_matching(&mut first_events, "channel open (first)", opened).await;
    next_matching(&mut second_events, "channel open (second)", opened).await;
    let setup = start.elapsed();
    (
        [first, second],
        [first_events, second_events],
        created,
        accepted,
        setup,
    )
}

/// Message `seq` of `size` bytes: its number, then a byte derived from it.
fn message(seq: u32, size: usize) -> Vec<u8> {
    let mut data = vec![(seq as u8) ^ 0x5A; size];
    data[..4].copy_from_slice(&seq.to_le_bytes());
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliable_channel_delivers_every_byte_in_order_through_loss_and_reordering() {
    init_logging();
    require_interfaces();
    let _path = PATH.lock().await;
    let server = start_server().await;
    let (calls, _events, sender, receiver, _) =
        channel_pair(&server.url(), "lossy-bulk", DataChannelOptions::reliable()).await;

    // 20 ms round trip, 2 % loss each way, 3 % of datagrams held 8 ms longer
    // (overtaken by the next few).
    let path = EmulatedPath::start(PathSpec {
        delay: Duration::from_millis(10),
        loss: 0.02,
        reorder: 0.03,
        reorder_extra: Duration::from_millis(8),
    });
    const SIZE: usize = 16 * 1024;
    const COUNT: u32 = 256; // 4 MiB
    let sending = tokio::spawn(async move {
        sender
            .set_buffered_amount_low_threshold(256 * 1024)
            .await
            .unwrap();
        for seq in 0..COUNT {
            sender.send(message(seq, SIZE)).await.expect("send");
            if sender.buffered_amount() > 1024 * 1024 {
                sender.wait_buffered_below(256 * 1024).await.unwrap();
            }
        }
        sender
    });
    let started = Instant::now();
    within(180, "4 MiB through the lossy path", async {
        for expected in 0..COUNT {
            match receiver.recv().await {
                Some(DataMessage::Binary(data)) => assert!(
                    data[..] == message(expected, SIZE)[..],
                    "message {expected}: got {} bytes starting {:?} (wrong, out of order or corrupt)",
                    data.len(),
                    &data[..data.len().min(4)]
                ),
                other => panic!("message {expected}: {other:?}"),
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    let sender = within(30, "sender to finish", sending).await.unwrap();
    let counts = path.remove();
    eprintln!(
        "4 MiB reliable through 20 ms RTT, 2 % loss, 3 % reordering in {elapsed:.2?} \
         ({:.1} MB/s): {counts:?}",
        (SIZE * COUNT as usize) as f64 / 1e6 / elapsed.as_secs_f64()
    );
    assert!(counts.dropped > 0, "the path dropped nothing: {counts:?}");
    assert!(
        counts.reordered > 0,
        "the path reordered nothing: {counts:?}"
    );
    // Nothing more than the messages sent.
    let extra = tokio::time::timeout(Duration::from_millis(300), receiver.recv()).await;
    assert!(extra.is_err(), "unexpected extra message: {extra:?}");
    drop(sender);
    for call in calls {
        call.leave().await.unwrap();
    }
    server.shutdown().await;
}

/// Setup over a path with a real round-trip time and loss (40 ms, 1 %):
/// every pair connects and carries data. The setup times are printed, not
/// asserted (docs/benchmarks.md has the measured figures); the lower bound
/// only shows that the path really delayed the handshakes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_open_and_carry_data_over_a_slow_lossy_path() {
    init_logging();
    require_interfaces();
    let _path = PATH.lock().await;
    let server = start_server().await;
    let path = EmulatedPath::start(PathSpec::rtt_loss(Duration::from_millis(40), 1.0));
    let mut setups = Vec::new();
    for round in 0..3 {
        let (calls, _events, created, accepted, setup) = channel_pair(
            &server.url(),
            &format!("slow-setup-{round}"),
            DataChannelOptions::reliable(),
        )
        .await;
        setups.push(setup);
        created.send_text(&format!("hello {round}")).await.unwrap();
        support::expect_text(&accepted, &format!("hello {round}")).await;
        for call in calls {
            call.leave().await.unwrap();
        }
    }
    let counts = path.remove();
    setups.sort();
    eprintln!("join → open over a 40 ms RTT, 1 % loss path: {setups:?}; {counts:?}");
    assert!(counts.passed > 0, "no traffic went through the path");
    // ICE check, DTLS (2 round trips), SCTP (2), channel open (1): ≥ 5 round trips.
    assert!(
        setups[0] >= Duration::from_millis(5 * 40),
        "setup faster than the path allows (is the path in place?): {setups:?}"
    );
    server.shutdown().await;
}
