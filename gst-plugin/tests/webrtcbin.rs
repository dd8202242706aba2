//! Interop: `rtcgatesink` → GStreamer `webrtcbin` (the peer of
//! `core/tests/peers/webrtcbin_peer.py`, docs/interop.md) decodes the VP8 and
//! Opus the sink publishes.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gst::prelude::*;
use support::*;

#[test]
fn webrtcbin_decodes_what_rtcgatesink_sends() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server(&rt);

    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! vp8enc deadline=1 keyframe-max-dist=30 ! sink.video_0 \
         audiotestsrc is-live=true ! audioconvert ! audioresample ! opusenc ! sink.audio_0 \
         rtcgatesink name=sink uri={} room=interop display-name=gst-sink",
        server.url()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let stopper = Stopper(pipeline.clone());
    pipeline.set_state(gst::State::Playing).unwrap();

    // Debian's python3 sees python3-gi; a pyenv python on PATH would not.
    let mut peer = Command::new("/usr/bin/python3")
        .arg(repo().join("core/tests/peers/webrtcbin_peer.py"))
        .args([
            "--ws",
            &server.url(),
            "--room",
            "interop",
            "--name",
            "webrtcbin",
        ])
        .args(["--duration", "8", "--timeout", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run core/tests/peers/webrtcbin_peer.py (run .ci/setup first)");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = peer.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = peer.kill();
            panic!("the webrtcbin peer did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut out = String::new();
    peer.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let verdict: serde_json::Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no verdict from the webrtcbin peer: {out}"));
    assert!(status.success(), "{verdict}");
    assert!(
        verdict["video_frames_decoded"].as_u64().unwrap_or(0) >= 30,
        "{verdict}"
    );
    assert!(
        verdict["audio_buffers_decoded"].as_u64().unwrap_or(0) >= 30,
        "{verdict}"
    );
    drop(stopper);
    rt.block_on(server.shutdown());
}
