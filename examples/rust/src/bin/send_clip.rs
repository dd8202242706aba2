//! Joins a room and sends an encoded clip (IVF, Ogg Opus or H.264) in a loop.
//!
//! ```text
//! cargo run -p rtcgate-examples --bin send_clip -- ws://127.0.0.1:8080/ws demo examples/media/testsrc-vp8.ivf
//! ```

use rtcgate_core::media::Clip;
use rtcgate_core::{Call, CallEvent, LocalTrack};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, room, path] = args.as_slice() else {
        eprintln!("usage: send_clip WS_URL ROOM CLIP_FILE");
        std::process::exit(2);
    };
    let clip = Clip::open(path)?;
    let (call, mut events) = Call::join_url(url, room, "send_clip", Default::default()).await?;
    let track = LocalTrack::new(clip.codec(), "clip", "send_clip")?;
    call.add_track(&track).await?;
    println!(
        "sending {} ({} frames, {:?} per lap) to room {room}",
        clip.codec(),
        clip.len(),
        clip.duration()
    );
    let player = tokio::spawn(async move { clip.play(&track, None).await });
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(CallEvent::MemberJoined(m)) => println!("{} joined", m.name),
                Some(CallEvent::MemberLeft(m)) => println!("{} left", m.name),
                Some(CallEvent::ConnectionStateChanged { member, state }) => println!("{member}: {state:?}"),
                Some(_) => {}
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    player.abort();
    call.leave().await?;
    Ok(())
}
