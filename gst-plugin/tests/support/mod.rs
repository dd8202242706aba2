//! Helpers of the plugin's tests: the plugin registered in-process, a real
//! signalling server and core calls on a test runtime, bus waits, and files
//! read back by FFmpeg.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gst::prelude::*;
use rtcgate_core::signalling::{ServerConfig, SignallingServer};
use rtcgate_core::{Call, CallEvent, CallEvents, Codec, LocalTrack};

/// Core's WHIP/WHEP test endpoint (a real HTTP server answering with a real call).
#[path = "../../../core/tests/support/whip_endpoint.rs"]
pub mod whip_endpoint;

/// Waits for `fut` at most `secs` seconds, failing the test with `what`
/// otherwise (what `whip_endpoint` expects of its parent module).
pub async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {secs}s waiting for {what}"),
    }
}

/// Initialises GStreamer, registers the plugin statically and installs a log
/// subscriber (RUST_LOG) once.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gst::init().expect("gst::init");
        gstrtcgate::plugin_register_static().expect("register the rtcgate plugin");
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "rtcgate_core=info,gstrtcgate=info".into()),
            )
            .with_test_writer()
            .try_init();
    });
}

/// Tests that need ICE host candidates run inside `.ci/with-netns`.
pub fn require_interfaces() {
    let has_interface = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.99.0.1:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| !a.ip().is_loopback())
        .unwrap_or(false);
    assert!(
        has_interface,
        "this test needs a non-loopback interface: run it through `.ci/with-netns cargo test ...` \
         (see docs/testing.md)"
    );
}

/// A tokio runtime for the test's own core calls (the plugin has its own).
pub fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Starts an embedded signalling server on an ephemeral loopback port.
pub fn start_server(rt: &tokio::runtime::Runtime) -> SignallingServer {
    rt.block_on(SignallingServer::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServerConfig::default(),
    ))
    .expect("bind signalling server")
}

/// A server that lets one member signal to many others in a burst (100
/// members joining in a row make the native member send that many offers).
pub fn start_server_without_rate_limit(rt: &tokio::runtime::Runtime) -> SignallingServer {
    let mut config = ServerConfig::default();
    config.rate_limit = rtcgate_core::signalling::RateLimitConfig::new(100_000.0, 100_000);
    rt.block_on(SignallingServer::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        config,
    ))
    .expect("bind signalling server")
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Joins `room` with display name `name`.
pub fn join(rt: &tokio::runtime::Runtime, url: &str, room: &str, name: &str) -> (Call, CallEvents) {
    rt.block_on(Call::join_url(url, room, name, Default::default()))
        .expect("join")
}

/// Adds VP8 and Opus tracks to `call` and plays the shipped clips into them
/// in a loop. Abort the returned tasks to stop.
pub fn send_test_pattern(
    rt: &tokio::runtime::Runtime,
    call: &Call,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut players = Vec::new();
    for (codec, id, file) in [
        (Codec::Vp8, "native-cam", "examples/media/testsrc-vp8.ivf"),
        (Codec::Opus, "native-mic", "examples/media/testsrc-opus.ogg"),
    ] {
        let track = LocalTrack::new(codec, id, "native").unwrap();
        rt.block_on(call.add_track(&track)).unwrap();
        let clip = rtcgate_core::media::Clip::open(repo().join(file)).unwrap();
        players.push(rt.spawn(async move {
            clip.play(&track, None).await.expect("play clip");
        }));
    }
    players
}

/// Reads call events until `pick` returns something (at most `secs`).
pub fn next_event<T>(
    rt: &tokio::runtime::Runtime,
    events: &mut CallEvents,
    secs: u64,
    what: &str,
    mut pick: impl FnMut(&CallEvent) -> Option<T>,
) -> T {
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(secs), async {
            loop {
                let event = events
                    .recv()
                    .await
                    .unwrap_or_else(|| panic!("events ended before {what}"));
                if let Some(value) = pick(&event) {
                    return value;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs}s waiting for {what}"))
    })
}

/// Waits at most `secs` for a bus message `pick` accepts; fails the test on
/// an error message (unless `pick` takes it) or the timeout.
pub fn wait_message<T>(
    bus: &gst::Bus,
    secs: u64,
    what: &str,
    mut pick: impl FnMut(&gst::Message) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!("timed out after {secs}s waiting for {what}");
        }
        let Some(message) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64))
        else {
            continue;
        };
        if let Some(value) = pick(&message) {
            return value;
        }
        if let gst::MessageView::Error(err) = message.view() {
            panic!(
                "error while waiting for {what}: {} ({:?})",
                err.error(),
                err.debug()
            );
        }
    }
}

/// An `rtcgate/<name>` element message's structure, if `message` is one.
pub fn rtcgate_message(message: &gst::Message, name: &str) -> Option<gst::Structure> {
    let gst::MessageView::Element(element) = message.view() else {
        return None;
    };
    let s = element.structure()?;
    (s.name() == format!("rtcgate/{name}").as_str()).then(|| s.to_owned())
}

/// Codec names of a file's streams (ffprobe).
pub fn stream_codecs(path: &Path) -> Vec<String> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-show_streams"])
        .arg(path)
        .output()
        .expect("run ffprobe (Debian package ffmpeg)");
    assert!(
        output.status.success(),
        "ffprobe {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    json["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Number of packets of the stream `codec` (ffprobe).
pub fn packet_count(path: &Path, codec: &str) -> usize {
    let codecs = stream_codecs(path);
    let index = codecs
        .iter()
        .position(|c| c == codec)
        .unwrap_or_else(|| panic!("no {codec} stream in {}: {codecs:?}", path.display()));
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_packets",
            "-select_streams",
        ])
        .arg(index.to_string())
        .arg(path)
        .output()
        .expect("run ffprobe");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    json["packets"].as_array().map(Vec::len).unwrap_or(0)
}

/// Decodes the whole file with FFmpeg, failing on any decode error.
pub fn assert_decodes(path: &Path) {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-enc_time_base", "-1", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "ffmpeg could not decode {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A fresh temporary folder (removed by the caller when it wants).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtcgate-gst-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sets `pipeline` to NULL when dropped (also when the test panics).
pub struct Stopper(pub gst::Pipeline);

impl Drop for Stopper {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}
