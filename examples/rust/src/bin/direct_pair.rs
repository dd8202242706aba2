//! Two calls in one process, connected without any signalling server: the
//! application carries the signalling itself (here `DirectSignaller::pair`,
//! an in-memory pair; `DirectSignaller::new` hands the same messages, as
//! JSON, to whatever transport an application has). Alice opens a data
//! channel to Bob, sends numbered messages and prints the round trips.
//!
//! ```text
//! cargo run -p rtcgate-examples --bin direct_pair -- [MESSAGES]
//! ```
//!
//! Both calls also bind loopback (`with_include_loopback`), so this runs on a
//! machine with no other interface too.

use std::time::{Duration, Instant};

use rtcgate_core::signalling::{DirectSignaller, JoinRequest};
use rtcgate_core::{Call, CallEvent, CallEvents, CallOptions, DataChannelOptions, DataMessage};

/// Waits up to ten seconds for the first event `pick` accepts.
async fn wait_for<T>(
    events: &mut CallEvents,
    what: &str,
    mut pick: impl FnMut(&CallEvent) -> Option<T>,
) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => {
                if let Some(found) = pick(&event) {
                    return Ok(found);
                }
            }
            Ok(None) => return Err(format!("events ended before {what}")),
            Err(_) => return Err(format!("timed out waiting for {what}")),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10,
    };
    let options = CallOptions::default().with_include_loopback(true);
    let (a, b) = DirectSignaller::pair();
    let (alice, mut alice_events) =
        Call::join(a.into(), JoinRequest::new("pair", "alice"), options.clone()).await?;
    let (bob, mut bob_events) =
        Call::join(b.into(), JoinRequest::new("pair", "bob"), options).await?;

    let bob_id = wait_for(&mut alice_events, "bob", |e| match e {
        CallEvent::MemberJoined(m) => Some(m.id.clone()),
        _ => None,
    })
    .await?;
    let started = Instant::now();
    let channel = alice
        .create_data_channel(&bob_id, "echo", DataChannelOptions::reliable())
        .await?;
    let at_bob = wait_for(&mut bob_events, "the channel at bob", |e| match e {
        CallEvent::DataChannelOpened(dc) => Some(dc.clone()),
        _ => None,
    })
    .await?;
    println!("channel open after {:?}", started.elapsed());

    // Bob echoes every message back.
    let echo = tokio::spawn(async move {
        while let Some(message) = at_bob.recv().await {
            if let DataMessage::Binary(bytes) = message
                && at_bob.send(bytes).await.is_err()
            {
                break;
            }
        }
    });
    for n in 0..count {
        let sent = Instant::now();
        channel.send(format!("ping {n}").into_bytes()).await?;
        match tokio::time::timeout(Duration::from_secs(5), channel.recv()).await {
            Ok(Some(DataMessage::Binary(reply))) => println!(
                "{} back after {:?}",
                String::from_utf8_lossy(&reply),
                sent.elapsed()
            ),
            other => return Err(format!("no echo for message {n}: {other:?}").into()),
        }
    }
    echo.abort();
    alice.leave().await?;
    bob.leave().await?;
    Ok(())
}
