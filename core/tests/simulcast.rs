//! Headless Chromium publishing three simulcast layers (rids q/h/f: a
//! quarter, half and full of 1280x720) into a room with a recorder and a
//! forwarding unit. The recorder's file holds one layer at a time (every
//! frame decodes, the picture size changes only a few times, never frame by
//! frame, and the file plays as long as it was recorded); the member
//! forwarded into another call reaches a subscriber that prefers the lowest
//! layer at about a quarter of the width, switches up when the preference
//! says so and back down, each time at a keyframe, and everything the
//! subscriber received decodes.
//!
//! Needs `.ci/setup` (Chromium, node modules, ffmpeg) and `.ci/with-netns`.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rtcgate_core::forward::{ForwardOptions, Forwarder, LayerPreference};
use rtcgate_core::recorder::{Recorder, RecorderOptions};
use rtcgate_core::signalling::{ServerConfig, SignallingServer};
use rtcgate_core::{CallEvent, Codec, EncodedFrame, MediaKind};
use support::probe::{assert_plays, decode_all, decoded_widths, packets};
use support::*;

/// How long each preference of the subscriber holds.
const PHASE: Duration = Duration::from_secs(6);

/// Width of a VP8 keyframe (RFC 6386 §9.1), if `frame` is one.
fn vp8_key_width(frame: &[u8]) -> Option<u32> {
    let key = frame.first()? & 1 == 0;
    (key && frame.get(3..6)? == [0x9d, 0x01, 0x2a])
        .then(|| u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff))
}

/// `frames` as an IVF file FFmpeg reads.
fn write_ivf(path: &std::path::Path, frames: &[EncodedFrame]) {
    let mut out = Vec::new();
    out.extend_from_slice(b"DKIF");
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&32u16.to_le_bytes());
    out.extend_from_slice(b"VP80");
    out.extend_from_slice(&1280u16.to_le_bytes());
    out.extend_from_slice(&720u16.to_le_bytes());
    out.extend_from_slice(&90_000u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let first = frames.first().map_or(0, |f| f.rtp_timestamp);
    for frame in frames {
        out.extend_from_slice(&(frame.data.len() as u32).to_le_bytes());
        let pts = u64::from(frame.rtp_timestamp.wrapping_sub(first));
        out.extend_from_slice(&pts.to_le_bytes());
        out.extend_from_slice(&frame.data);
    }
    std::fs::write(path, out).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_simulcast_is_recorded_one_layer_at_a_time_and_forwarded_by_preference() {
    init_logging();
    require_interfaces();
    let mut config = ServerConfig::default();
    config.web_root = Some(repo().join("examples/web"));
    let server = SignallingServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("rtcgate-simulcast-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (recorder, _recorder_events) = Recorder::join(
        &server.url(),
        "sim",
        "recorder",
        Default::default(),
        RecorderOptions::new(&dir),
    )
    .await
    .unwrap();
    let mut recorder_call = recorder.call().subscribe();
    let (bridge_a, mut bridge_events) = join(&server, "sim", "bridge").await;
    let (bridge_b, _) = join(&server, "sim-b", "bridge").await;
    let (bob, mut bob_events) = join(&server, "sim-b", "bob").await;
    let forwarder =
        Forwarder::new(ForwardOptions::default().with_preference(LayerPreference::lowest()));

    let url = format!(
        "{}?room=sim&name=chromium&autojoin=1&simulcast=1&video=1280x720",
        server.http_url()
    );
    let hold = PHASE * 3 + Duration::from_secs(2);
    let browser = tokio::process::Command::new("node")
        .arg(repo().join("core/tests/browser/peer.mjs"))
        .args(["--url", &url])
        .args(["--expect-peers", "2"])
        .args(["--timeout-ms", "60000"])
        .args(["--hold-ms", &hold.as_millis().to_string()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node core/tests/browser/peer.mjs (run .ci/setup first)");

    let chromium = next_matching(&mut bridge_events, "Chromium joining", |e| match e {
        CallEvent::MemberJoined(m) if m.name == "chromium" => Some(m.id.clone()),
        _ => None,
    })
    .await;
    let forwarding = forwarder
        .forward_member(&bridge_a, &chromium, &bridge_b)
        .await
        .unwrap();
    let video = next_matching(&mut bob_events, "the forwarded video", |e| match e {
        CallEvent::TrackAdded(t) if t.kind() == MediaKind::Video => Some(t.clone()),
        _ => None,
    })
    .await;
    assert_eq!(video.codec(), Codec::Vp8);
    let recorded_video_from = next_matching(
        &mut recorder_call,
        "Chromium's video at the recorder",
        |e| {
            matches!(e, CallEvent::TrackAdded(t) if t.kind() == MediaKind::Video).then(Instant::now)
        },
    )
    .await;

    // Bob's frames through three phases of his preference: lowest, highest, lowest.
    let mut frames = video.subscribe();
    let mut phases: Vec<Vec<EncodedFrame>> = vec![Vec::new(), Vec::new(), Vec::new()];
    let forwarded = within(10, "the forwarded video track", async {
        loop {
            if let Some(t) = forwarding
                .tracks()
                .into_iter()
                .find(|t| t.codec() == Codec::Vp8)
            {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for (phase, preference) in [
        LayerPreference::lowest(),
        LayerPreference::highest(),
        LayerPreference::lowest(),
    ]
    .into_iter()
    .enumerate()
    {
        forwarded.set_layer_preference(None, preference);
        let until = tokio::time::Instant::now() + PHASE;
        while let Ok(Some(frame)) = tokio::time::timeout_at(until, frames.recv()).await {
            phases[phase].push(frame);
        }
    }
    let stats = forwarded.stats();
    let layers = video_layers_of(&bridge_a).await;
    let result = verdict(browser, 60, "browser harness").await;
    let left_at = next_matching(&mut recorder_call, "Chromium leaving", |e| {
        matches!(e, CallEvent::MemberLeft(m) if m.name == "chromium").then(Instant::now)
    })
    .await;
    let summaries = recorder.stop().await;
    forwarding.stop().await;

    let sent = &result["stats"];
    eprintln!(
        "Chromium's layers: {}",
        serde_json::to_string(sent).unwrap_or_default()
    );
    eprintln!("layers received: {layers:?}");
    assert_eq!(layers.len(), 3, "three encodings demultiplexed: {layers:?}");
    assert!(
        layers.iter().all(|l| l.rid.is_some() && l.bitrate_bps > 0),
        "{layers:?}"
    );
    eprintln!("forwarded: {stats:?}");

    // The recording: one layer at a time, every frame decodes, the file
    // plays as long as Chromium was recorded.
    let summary = summaries
        .iter()
        .find(|s| s.progress.name == "chromium")
        .expect("Chromium's recording");
    let path = summary.progress.path.clone().expect("a file");
    assert_plays(&path, &["opus", "vp8"]);
    let widths = decoded_widths(&path);
    let changes = widths.windows(2).filter(|w| w[0] != w[1]).count();
    let mut sizes = widths.clone();
    sizes.sort_unstable();
    sizes.dedup();
    eprintln!(
        "recording: {} frames, widths {sizes:?}, {changes} size changes",
        widths.len()
    );
    assert!(widths.len() > 100, "{} frames recorded", widths.len());
    assert!(
        changes <= 6,
        "the picture size changed {changes} times in {} frames: layers interleaved",
        widths.len()
    );
    let video_pts: Vec<f64> = packets(&path, false)
        .into_iter()
        .filter(|p| p.codec == "vp8")
        .map(|p| p.pts)
        .collect();
    let plays = video_pts.iter().fold(0.0f64, |a, &b| a.max(b))
        - video_pts.iter().fold(f64::MAX, |a, &b| a.min(b));
    let recorded = left_at.duration_since(recorded_video_from).as_secs_f64();
    eprintln!("recording plays {plays:.2} s of {recorded:.2} s recorded");
    assert!(
        (plays - recorded).abs() <= 0.10 * recorded,
        "video plays {plays:.2} s of {recorded:.2} s recorded"
    );

    // Bob: about a quarter of the width, up, then down again; every width
    // change at a keyframe (widths are only read from keyframes) and
    // everything he received decodes.
    let key_widths: Vec<Vec<u32>> = phases
        .iter()
        .map(|p| p.iter().filter_map(|f| vp8_key_width(&f.data)).collect())
        .collect();
    eprintln!("Bob's keyframe widths per phase: {key_widths:?}");
    let top = *sizes.last().unwrap() as u32;
    let low = |w: u32| w * 3 <= top;
    assert!(
        !key_widths[0].is_empty() && key_widths[0].iter().all(|&w| low(w)),
        "lowest layer first: {:?} (recording up to {top})",
        key_widths[0]
    );
    assert!(
        key_widths[1].iter().any(|&w| !low(w)),
        "a higher layer when preferred: {:?}",
        key_widths[1]
    );
    assert!(
        key_widths[2].last().is_some_and(|&w| low(w)),
        "the lowest layer again: {:?}",
        key_widths[2]
    );
    let all: Vec<EncodedFrame> = phases.into_iter().flatten().collect();
    assert!(all[0].keyframe, "Bob's first frame is a keyframe");
    let ivf = dir.join("bob.ivf");
    write_ivf(&ivf, &all);
    let decoded = decode_all(&ivf).unwrap_or_else(|e| panic!("Bob's frames: {e}"));
    eprintln!("Bob: {} frames, decoded {decoded:?}", all.len());

    for call in [bridge_a, bridge_b, bob] {
        call.leave().await.unwrap();
    }
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The layers of the video track the bridge receives from Chromium.
async fn video_layers_of(call: &rtcgate_core::Call) -> Vec<rtcgate_core::media::TrackLayer> {
    call.remote_tracks()
        .await
        .into_iter()
        .find(|t| t.kind() == MediaKind::Video)
        .map(|t| t.layers())
        .unwrap_or_default()
}
