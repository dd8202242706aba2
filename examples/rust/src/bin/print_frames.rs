//! Joins a room and prints every frame and data-channel message it receives.
//!
//! ```text
//! cargo run -p rtcgate-examples --bin print_frames -- ws://127.0.0.1:8080/ws demo
//! ```

use rtcgate_core::{Call, CallEvent, DataMessage};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, room] = args.as_slice() else {
        eprintln!("usage: print_frames WS_URL ROOM");
        std::process::exit(2);
    };
    let (call, mut events) = Call::join_url(url, room, "print_frames", Default::default()).await?;
    println!("joined {room} as {}", call.self_id());
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tokio::signal::ctrl_c() => None,
        };
        match event {
            Some(CallEvent::TrackAdded(track)) => {
                tokio::spawn(async move {
                    while let Some(frame) = track.recv().await {
                        println!(
                            "{} {} {:>6} bytes at {:>8.3}s{}",
                            track.member(),
                            track.codec(),
                            frame.data.len(),
                            frame.timestamp.as_secs_f64(),
                            if frame.keyframe && track.kind() == rtcgate_core::MediaKind::Video {
                                " key"
                            } else {
                                ""
                            }
                        );
                    }
                });
            }
            Some(CallEvent::DataChannelOpened(channel)) => {
                tokio::spawn(async move {
                    while let Some(message) = channel.recv().await {
                        match message {
                            DataMessage::Text(t) => println!("{} says {t:?}", channel.member()),
                            DataMessage::Binary(b) => {
                                println!("{} sent {} bytes", channel.member(), b.len())
                            }
                        }
                    }
                });
            }
            Some(CallEvent::MemberJoined(m)) => println!("{} joined", m.name),
            Some(CallEvent::MemberLeft(m)) => println!("{} left", m.name),
            Some(_) => {}
            None => break,
        }
    }
    call.leave().await?;
    Ok(())
}
