//! The recorder records headless Chromium (fake camera and microphone, the
//! `examples/web` page driven by `core/tests/browser/peer.mjs`), and FFmpeg
//! reads the file back: on a clean path, and under loss with delay jitter.
//!
//! Needs `.ci/setup` (Chromium, node modules, ffmpeg) and `.ci/with-netns`.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rtcgate_core::CallEvent;
use rtcgate_core::recorder::{Recorder, RecorderEvent, RecorderOptions, RecordingSummary};
use rtcgate_core::signalling::{ServerConfig, SignallingServer};
use support::netem::Impairment;
use support::probe::{assert_plays, last_pts, packets};
use support::*;

/// One Chromium at a time, and never beside an impaired network.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long each test records once the browser's media flows.
const RECORD_FOR: Duration = Duration::from_secs(10);

struct Recording {
    summary: RecordingSummary,
    /// From the browser's first packet to the recorder's stop.
    recorded_for: f64,
    gap_events: usize,
}

/// Serves the page, records room `room` while Chromium sends into it, and
/// returns the browser's one recording. `impair` runs once media flows.
async fn record_chromium(room: &str, impair: impl FnOnce() -> Option<Impairment>) -> Recording {
    let mut config = ServerConfig::default();
    config.web_root = Some(repo().join("examples/web"));
    let server = SignallingServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("rtcgate-rec-{room}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (recorder, mut events) = Recorder::join(
        &server.url(),
        room,
        "recorder",
        Default::default(),
        RecorderOptions::new(&dir),
    )
    .await
    .unwrap();
    let mut call_events = recorder.call().subscribe();
    let url = format!("{}?room={room}&name=chromium&autojoin=1", server.http_url());
    let hold_ms = (RECORD_FOR.as_millis() + 8_000).to_string();
    let browser = tokio::process::Command::new("node")
        .arg(repo().join("core/tests/browser/peer.mjs"))
        .args([
            "--url",
            &url,
            "--timeout-ms",
            "120000",
            "--hold-ms",
            &hold_ms,
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node core/tests/browser/peer.mjs (run .ci/setup first)");
    within(90, "the browser's first track", async {
        while !matches!(call_events.recv().await, Some(CallEvent::TrackAdded(_))) {}
    })
    .await;
    let first_packet = Instant::now();
    let impairment = impair();
    let mut gap_events = 0;
    let deadline = tokio::time::Instant::now() + RECORD_FOR;
    while let Ok(event) = tokio::time::timeout_at(deadline, events.recv()).await {
        match event.expect("recorder events") {
            RecorderEvent::Gap { .. } => gap_events += 1,
            RecorderEvent::WriteFailed { message, .. } => panic!("write failed: {message}"),
            _ => {}
        }
    }
    if let Some(impairment) = impairment {
        eprintln!("impairment dropped {} datagrams", impairment.dropped());
        impairment.remove();
    }
    let summaries = recorder.stop().await;
    let recorded_for = first_packet.elapsed().as_secs_f64();
    // The events sent while stopping (the stream ends once the recorder has).
    within(10, "the recorder's last events", async {
        while let Some(event) = events.recv().await {
            if matches!(event, RecorderEvent::Gap { .. }) {
                gap_events += 1;
            }
        }
    })
    .await;
    verdict(browser, 60, "browser harness").await;
    server.shutdown().await;
    assert_eq!(summaries.len(), 1, "one participant: {summaries:?}");
    Recording {
        summary: summaries.into_iter().next().unwrap(),
        recorded_for,
        gap_events,
    }
}

/// First packet time of the audio and of the video stream.
fn first_pts(path: &std::path::Path) -> (f64, f64) {
    let all = packets(path, false);
    let first = |codec: &str| {
        all.iter()
            .filter(|p| p.codec == codec)
            .map(|p| p.pts)
            .fold(f64::MAX, f64::min)
    };
    (first("opus"), first("vp8"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_is_recorded_to_a_file_that_plays_in_sync() {
    init_logging();
    require_interfaces();
    let _one = BROWSER.lock().await;
    let recording = record_chromium("rec-chromium", || None).await;
    let path = recording.summary.progress.path.clone().expect("a file");
    let decoded = assert_plays(&path, &["opus", "vp8"]);
    eprintln!("decoded {decoded:?}");
    let plays_for = last_pts(&path);
    assert!(
        (plays_for - recording.recorded_for).abs() < 0.5,
        "file plays {plays_for:.2}s of {:.2}s recorded",
        recording.recorded_for
    );
    let (audio, video) = first_pts(&path);
    eprintln!("first audio {audio:.3}s, first video {video:.3}s");
    // Both tracks start at their true (sender-clock) times, so the gap is the
    // browser's: its first video frame comes up to one frame interval after the
    // first audio frame, and Chromium paces its fake camera at 10–50 fps (frame
    // intervals of 19–100 ms were seen; a CI run saw a 120 ms start gap on a
    // loaded machine). Sync precision itself is measured with tagged frames in
    // recorder.rs (1–7 ms); this bound only catches a track placed by arrival
    // or on the wrong clock (hundreds of ms off and more).
    assert!(
        (audio - video).abs() < 0.200,
        "audio starts at {audio:.3}s, video at {video:.3}s"
    );
    assert_eq!(recording.summary.progress.tracks_timed_by_arrival, 0);
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_under_loss_and_jitter_is_recorded_without_decode_errors() {
    init_logging();
    require_interfaces();
    let _one = BROWSER.lock().await;
    // 5 % of the datagrams dropped, the rest through a 1.5 Mbit/s queue
    // (video frames wait tens of ms, small packets behind them less).
    let recording = record_chromium("rec-chromium-lossy", || {
        Some(Impairment::lossy(5, Some(1500)))
    })
    .await;
    let path = recording.summary.progress.path.clone().expect("a file");
    let decoded = assert_plays(&path, &["opus", "vp8"]);
    eprintln!(
        "decoded under loss {decoded:?}, summary {:?}",
        recording.summary.progress
    );
    let progress = &recording.summary.progress;
    assert!(
        progress.gaps > 0,
        "losses are reported, not hidden: {progress:?}"
    );
    assert_eq!(
        recording.gap_events as u64, progress.gaps,
        "one event per gap"
    );
    let video_frames = decoded.iter().find(|(c, _)| c == "vp8").unwrap().1;
    assert!(
        video_frames > 50,
        "video kept coming under loss: {video_frames} frames"
    );
    std::fs::remove_file(&path).unwrap();
}
