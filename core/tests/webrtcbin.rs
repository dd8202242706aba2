//! GStreamer's `webrtcbin` (driven by `core/tests/peers/webrtcbin_peer.py`) as a
//! second native peer: core sends its VP8/Opus clips and a data channel, the
//! peer answers, decodes, echoes, and sends its own live test pattern back.
//!
//! Needs `.ci/setup` (GStreamer 1.22, python3-gi, libnice) and `.ci/with-netns`.

mod support;

use std::process::Stdio;

use rtcgate_core::{CallEvent, Codec, DataChannelOptions};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtcbin_exchanges_media_and_data_with_core() {
    init_logging();
    require_interfaces();
    let server = start_server().await;
    let (call, mut events) = join(&server, "gst-room", "native").await;
    let players = send_test_pattern(&call).await;

    // Debian's python3 sees python3-gi; a pyenv python on PATH would not.
    let peer = tokio::process::Command::new("/usr/bin/python3")
        .arg(repo().join("core/tests/peers/webrtcbin_peer.py"))
        .args(["--ws", &server.url(), "--room", "gst-room", "--name", "gst"])
        .args(["--duration", "8", "--timeout", "60"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run core/tests/peers/webrtcbin_peer.py (run .ci/setup first)");

    let gst_id = next_matching(&mut events, "gst joined", |e| match e {
        CallEvent::MemberJoined(m) if m.name == "gst" => Some(m.id.clone()),
        _ => None,
    })
    .await;
    let channel = call
        .create_data_channel(&gst_id, "chat", DataChannelOptions::reliable())
        .await
        .unwrap();

    // The peer's live test pattern comes back to us.
    let (mut video_in, mut audio_in) = (None, None);
    while video_in.is_none() || audio_in.is_none() {
        match within(60, "webrtcbin's tracks", events.recv())
            .await
            .expect("events")
        {
            CallEvent::TrackAdded(t) if t.codec() == Codec::Vp8 => video_in = Some(t),
            CallEvent::TrackAdded(t) if t.codec() == Codec::Opus => audio_in = Some(t),
            _ => {}
        }
    }
    let (video_in, audio_in) = (video_in.unwrap(), audio_in.unwrap());
    let (frames, keyframes) = within(60, "webrtcbin video", async {
        let (mut frames, mut keyframes) = (0u32, 0u32);
        while frames < 60 || keyframes < 1 {
            let frame = video_in.recv().await.expect("gst video ended");
            frames += 1;
            keyframes += u32::from(frame.keyframe);
        }
        (frames, keyframes)
    })
    .await;
    assert!(frames >= 60 && keyframes >= 1);
    let audio_frames = within(60, "webrtcbin audio", async {
        let mut n = 0;
        while n < 50 {
            audio_in.recv().await.expect("gst audio ended");
            n += 1;
        }
        n
    })
    .await;
    assert_eq!(audio_frames, 50);

    // Data channel round trip through webrtcbin's echo.
    within(30, "channel open", async {
        while !channel.is_open() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    channel.send_text("echo:from-core").await.unwrap();
    expect_text(&channel, "echoed:from-core").await;

    // The peer's own verdict: it decoded our VP8 and Opus.
    let verdict = verdict(peer, 90, "webrtcbin peer").await;
    assert!(
        verdict["video_frames_decoded"].as_u64().unwrap_or(0) >= 30,
        "{verdict}"
    );
    assert!(
        verdict["audio_buffers_decoded"].as_u64().unwrap_or(0) >= 30,
        "{verdict}"
    );
    assert!(
        verdict["data_messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|v| v == "echo:from-core")),
        "{verdict}"
    );

    for p in players {
        p.abort();
    }
    call.leave().await.unwrap();
    server.shutdown().await;
}
