//! Headless Chromium (Debian's `chromium`, driven by `core/tests/browser/peer.mjs`)
//! joins a room of the embedded server through `examples/web`, with its fake
//! camera and microphone, and talks to a native `Call`:
//! - core receives the browser's VP8 and Opus frames (keyframes, rising counts);
//! - core's VP8/Opus clips reach the browser and are decoded (page `getStats`);
//! - a data-channel round trip works both ways.
//!
//! Needs `.ci/setup` (Chromium, node modules) and `.ci/with-netns`.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;

use rtcgate_core::signalling::{ServerConfig, SignallingServer};
use rtcgate_core::{Call, CallEvent, Codec};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_exchanges_media_and_data_with_core() {
    init_logging();
    require_interfaces();
    let mut config = ServerConfig::default();
    config.web_root = Some(repo().join("examples/web"));
    let server = SignallingServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .unwrap();

    let (call, mut events) =
        Call::join_url(&server.url(), "browser-room", "native", Default::default())
            .await
            .unwrap();
    let players = send_test_pattern(&call).await;

    let url = format!(
        "{}?room=browser-room&name=chromium&autojoin=1",
        server.http_url()
    );
    let browser = tokio::process::Command::new("node")
        .arg(repo().join("core/tests/browser/peer.mjs"))
        .args([
            "--url",
            &url,
            "--send",
            "hello-from-browser",
            "--expect-message",
            "hello-from-core",
        ])
        .args([
            "--min-inbound-video-bytes",
            "20000",
            "--min-frames-decoded",
            "20",
        ])
        .args(["--timeout-ms", "90000", "--hold-ms", "4000"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node core/tests/browser/peer.mjs (run .ci/setup first)");

    // Core's side: the browser's tracks and channel, in whatever order they come.
    let (mut tracks, mut channel) = (Vec::new(), None);
    while tracks.len() < 2 || channel.is_none() {
        match within(90, "browser tracks and data channel", events.recv())
            .await
            .expect("events")
        {
            CallEvent::TrackAdded(t) => tracks.push(t),
            CallEvent::DataChannelOpened(dc) => channel = Some(dc),
            _ => {}
        }
    }
    let channel = channel.unwrap();
    let mut codecs: Vec<Codec> = tracks.iter().map(|t| t.codec()).collect();
    codecs.sort_by_key(|c| c.name());
    assert_eq!(
        codecs,
        vec![Codec::Opus, Codec::Vp8],
        "browser sends Opus and VP8"
    );

    let video_in = tracks
        .iter()
        .find(|t| t.codec() == Codec::Vp8)
        .unwrap()
        .clone();
    let audio_in = tracks
        .iter()
        .find(|t| t.codec() == Codec::Opus)
        .unwrap()
        .clone();
    video_in.request_keyframe().await.unwrap();
    let video_check = tokio::spawn(async move {
        let (mut frames, mut keyframes, mut bytes) = (0u32, 0u32, 0usize);
        while frames < 60 || keyframes < 1 {
            let frame = video_in.recv().await.expect("browser video ended");
            frames += 1;
            keyframes += u32::from(frame.keyframe);
            bytes += frame.data.len();
        }
        (frames, keyframes, bytes)
    });
    let audio_check = tokio::spawn(async move {
        let mut frames = 0u32;
        while frames < 100 {
            let frame = audio_in.recv().await.expect("browser audio ended");
            assert!(!frame.data.is_empty());
            frames += 1;
        }
        frames
    });

    // Data both ways: the browser's greeting, ours, and an echo through the page.
    expect_text(&channel, "hello-from-browser").await;
    channel.send_text("hello-from-core").await.unwrap();
    channel.send_text("echo:ping-from-core").await.unwrap();
    expect_text(&channel, "echoed:ping-from-core").await;

    let (frames, keyframes, bytes) = within(60, "browser video frames", video_check)
        .await
        .unwrap();
    assert!(
        frames >= 60 && keyframes >= 1 && bytes > 10_000,
        "{frames} frames, {keyframes} keys, {bytes} B"
    );
    assert!(
        within(60, "browser audio frames", audio_check)
            .await
            .unwrap()
            >= 100
    );

    // The browser's verdict: it decoded our video and got our messages.
    let verdict = verdict(browser, 120, "browser harness").await;
    let peer_stats = verdict["stats"]
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or_default();
    assert!(
        peer_stats["inboundVideoBytes"].as_u64().unwrap_or(0) >= 20_000,
        "{peer_stats}"
    );
    assert!(
        peer_stats["inboundAudioBytes"].as_u64().unwrap_or(0) > 0,
        "{peer_stats}"
    );
    assert!(
        peer_stats["framesDecoded"].as_u64().unwrap_or(0) >= 20,
        "{peer_stats}"
    );

    for p in players {
        p.abort();
    }
    call.leave().await.unwrap();
    server.shutdown().await;
}
