//! Helpers shared by the integration tests: a server, synthetic media, waits.
#![allow(dead_code)]

pub mod netem;
pub mod path;
pub mod probe;
pub mod turn;
pub mod whip_endpoint;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rtcgate_core::signalling::{ServerConfig, SignallingServer};
use rtcgate_core::{Call, CallEvent, CallEvents, Codec, LocalTrack, MediaSample};

/// Installs a log subscriber once (RUST_LOG controls it).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "rtcgate_core=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Tests that need ICE host candidates run inside `.ci/with-netns`; say so clearly otherwise.
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

/// Starts an embedded signalling server on an ephemeral loopback port.
pub async fn start_server() -> SignallingServer {
    SignallingServer::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServerConfig::default(),
    )
    .await
    .expect("bind signalling server")
}

/// Waits for `fut` at most `secs` seconds, failing the test with `what` otherwise.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {secs}s waiting for {what}"),
    }
}

/// Reads events until `pick` returns something.
pub async fn next_matching<T>(
    events: &mut CallEvents,
    what: &str,
    mut pick: impl FnMut(&CallEvent) -> Option<T>,
) -> T {
    within(30, what, async {
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
}

/// A synthetic encoded frame: a VP8-style key bit in byte 0 (keyframe every
/// 30 frames), the index in bytes 1..5, then a pattern derived from the index.
/// Size grows with the index so that frames span one to several RTP packets.
pub fn synthetic_frame(codec: Codec, index: u32) -> Bytes {
    let len = match codec {
        Codec::Opus => 80 + (index % 40) as usize,
        _ => 500 + (index % 7) as usize * 900,
    };
    let mut data = vec![0u8; len];
    data[0] = if index.is_multiple_of(30) { 0x10 } else { 0x11 };
    data[1..5].copy_from_slice(&index.to_be_bytes());
    for (i, byte) in data.iter_mut().enumerate().skip(5) {
        *byte = (i as u32).wrapping_mul(31).wrapping_add(index) as u8;
    }
    Bytes::from(data)
}

/// The index a synthetic frame carries, if `data` is one (checks every byte).
pub fn synthetic_index(codec: Codec, data: &[u8]) -> Option<u32> {
    let index = u32::from_be_bytes(data.get(1..5)?.try_into().ok()?);
    (synthetic_frame(codec, index) == data).then_some(index)
}

/// Sends synthetic frames on `track` at real-time pace until `count` were sent.
pub fn spawn_sender(track: LocalTrack, count: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let codec = track.codec();
        let period = if codec == Codec::Opus {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(33)
        };
        let mut ticker = tokio::time::interval(period);
        for index in 0..count {
            ticker.tick().await;
            let sample = MediaSample::new(synthetic_frame(codec, index), period * index);
            track.write_sample(&sample).await.expect("write sample");
        }
    })
}

/// Reads `channel` until the text message `text` arrives (others are skipped).
pub async fn expect_text(channel: &rtcgate_core::DataChannel, text: &str) {
    within(60, &format!("message {text:?}"), async {
        loop {
            match channel.recv().await {
                Some(rtcgate_core::DataMessage::Text(t)) if t == text => return,
                Some(_) => continue,
                None => panic!("channel closed before {text:?}"),
            }
        }
    })
    .await
}

/// Waits for a peer program (browser harness, webrtcbin peer) to exit and
/// returns the one JSON line it printed; fails unless it exited 0 with `"ok": true`.
pub async fn verdict(mut child: tokio::process::Child, secs: u64, what: &str) -> serde_json::Value {
    use tokio::io::AsyncReadExt;
    let mut stdout = child.stdout.take().expect("child stdout piped");
    let status = within(secs, &format!("{what} to finish"), child.wait())
        .await
        .unwrap();
    let mut out = String::new();
    stdout.read_to_string(&mut out).await.unwrap();
    let verdict: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{what}: {e}: {out}"));
    assert!(
        status.success() && verdict["ok"] == true,
        "{what} failed: {out}"
    );
    verdict
}

/// The repository root.
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Adds VP8 and Opus tracks to `call` and plays the shipped test clips into
/// them in a loop (real encoded media a browser or GStreamer can decode).
/// Abort the returned tasks to stop.
pub async fn send_test_pattern(call: &Call) -> Vec<tokio::task::JoinHandle<()>> {
    let mut players = Vec::new();
    for (codec, id, file) in [
        (Codec::Vp8, "native-cam", "examples/media/testsrc-vp8.ivf"),
        (Codec::Opus, "native-mic", "examples/media/testsrc-opus.ogg"),
    ] {
        let track = LocalTrack::new(codec, id, "native").unwrap();
        call.add_track(&track).await.unwrap();
        let clip = rtcgate_core::media::Clip::open(repo().join(file)).unwrap();
        players.push(tokio::spawn(async move {
            clip.play(&track, None).await.expect("play clip");
        }));
    }
    players
}

/// Joins `room` with display name `name` on `server`.
pub async fn join(server: &SignallingServer, room: &str, name: &str) -> (Call, CallEvents) {
    Call::join_url(&server.url(), room, name, Default::default())
        .await
        .expect("join")
}

/// What RTP carries of an encoded frame: an H.264 access unit without its
/// access unit delimiters (rtc's payloader drops NAL type 9, as most RTP
/// senders do; they are optional in an Annex-B stream). Other codecs: unchanged.
pub fn as_carried(codec: Codec, frame: &Bytes) -> Bytes {
    if codec != Codec::H264 {
        return frame.clone();
    }
    // NAL units with their (3- or 4-byte) start codes.
    let starts: Vec<usize> = (0..frame.len().saturating_sub(2))
        .filter(|&i| frame[i..i + 3] == [0, 0, 1])
        .map(|i| if i > 0 && frame[i - 1] == 0 { i - 1 } else { i })
        .collect();
    let mut out = Vec::with_capacity(frame.len());
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(frame.len());
        let header = start + if frame[start + 2] == 1 { 3 } else { 4 };
        if frame.get(header).is_some_and(|h| h & 0x1f != 9) {
            out.extend_from_slice(&frame[start..end]);
        }
    }
    Bytes::from(out)
}
