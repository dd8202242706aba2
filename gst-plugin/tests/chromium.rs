//! Interop: headless Chromium (the `examples/web` page driven by
//! `core/tests/browser/peer.mjs`, fake camera and microphone) →
//! `rtcgatesrc` → `webmmux` → a file that FFmpeg demuxes and decodes.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gst::prelude::*;
use rtcgate_core::signalling::{ServerConfig, SignallingServer};
use support::*;

/// Kills the browser harness when the test ends, also on panic.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn chromium_recorded_through_rtcgatesrc_to_webm() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let mut config = ServerConfig::default();
    config.web_root = Some(repo().join("examples/web"));
    let server = rt
        .block_on(SignallingServer::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
        ))
        .unwrap();
    let room = "gst-chromium";

    let dir = temp_dir("chromium");
    let file = dir.join("chromium.webm");
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtcgatesrc")
        .property("uri", server.url())
        .property("room", room)
        .build()
        .unwrap();
    let mux = gst::ElementFactory::make("webmmux").build().unwrap();
    let sink = gst::ElementFactory::make("filesink")
        .property("location", file.to_str().unwrap())
        .build()
        .unwrap();
    pipeline.add_many([&src, &mux, &sink]).unwrap();
    mux.link(&sink).unwrap();
    {
        let pipeline = pipeline.downgrade();
        let mux = mux.clone();
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline.upgrade() else {
                return;
            };
            let template = if pad.name().starts_with("video_") {
                "video_%u"
            } else {
                "audio_%u"
            };
            let queue = gst::ElementFactory::make("queue").build().unwrap();
            pipeline.add(&queue).unwrap();
            queue.sync_state_with_parent().unwrap();
            pad.link(&queue.static_pad("sink").unwrap()).unwrap();
            let mux_pad = mux.request_pad_simple(template).unwrap();
            queue.static_pad("src").unwrap().link(&mux_pad).unwrap();
        });
    }
    let stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    let page = format!("{}?room={room}&name=chromium&autojoin=1", server.http_url());
    let _browser = Reaped(
        Command::new("node")
            .arg(repo().join("core/tests/browser/peer.mjs"))
            .args([
                "--url",
                &page,
                "--timeout-ms",
                "120000",
                "--hold-ms",
                "60000",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("run node core/tests/browser/peer.mjs (run .ci/setup first)"),
    );
    let joined = wait_message(&bus, 90, "Chromium to join", |m| {
        rtcgate_message(m, "member-joined")
            .filter(|s| s.get::<String>("display-name").as_deref() == Ok("chromium"))
    });
    let member = joined.get::<String>("member-id").unwrap();

    // Chromium's camera and microphone get their pads.
    let deadline = Instant::now() + Duration::from_secs(90);
    while src.src_pads().len() < 2 {
        assert!(Instant::now() < deadline, "pads: {:?}", src.src_pads());
        if let Some(m) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(e) = m.view()
        {
            panic!("error: {} {:?}", e.error(), e.debug());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for pad in src.src_pads() {
        assert!(pad.name().contains(&member), "{}", pad.name());
    }
    std::thread::sleep(Duration::from_secs(6));
    assert!(pipeline.send_event(gst::event::Eos::new()));
    wait_message(&bus, 30, "EOS", |m| {
        matches!(m.view(), gst::MessageView::Eos(_)).then_some(())
    });
    drop(stopper);

    let codecs = stream_codecs(&file);
    assert!(codecs.contains(&"vp8".to_owned()), "{codecs:?}");
    assert!(codecs.contains(&"opus".to_owned()), "{codecs:?}");
    assert!(packet_count(&file, "vp8") > 30);
    assert!(packet_count(&file, "opus") > 100);
    assert_decodes(&file);
    rt.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(dir);
}

/// `x264enc` makes high profile (as it and most hardware encoders do by
/// default); `rtcgatesink` announces it from its caps, and headless Chromium,
/// which lists high 4:4:4 predictive but not high among what it decodes,
/// receives the track under that format and decodes its frames. Chromium
/// lists that format only where it just receives (on a send-receive m-line
/// it offers and answers the profiles it can also send: then the track is
/// refused by name), so the page is a viewer here.
#[test]
fn chromium_decodes_high_profile_h264_from_rtcgatesink() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let mut config = ServerConfig::default();
    config.web_root = Some(repo().join("examples/web"));
    let server = rt
        .block_on(SignallingServer::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
        ))
        .unwrap();
    let room = "gst-h264-high";
    let pipeline = x264_high_into(&server, room);
    let stopper = Stopper(pipeline.clone());
    pipeline.set_state(gst::State::Playing).unwrap();

    let page = format!(
        "{}?room={room}&name=chromium&autojoin=1&media=receive",
        server.http_url()
    );
    let browser = Command::new("node")
        .arg(repo().join("core/tests/browser/peer.mjs"))
        .args(["--url", &page, "--timeout-ms", "90000"])
        .args(["--min-frames-decoded", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run node core/tests/browser/peer.mjs (run .ci/setup first)");
    let output = browser.wait_with_output().unwrap();
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("harness output: {e}: {:?}", output.stdout));
    assert_eq!(verdict["ok"], true, "{verdict}");
    let stats = verdict["stats"]
        .as_object()
        .and_then(|peers| peers.values().next())
        .cloned()
        .expect("the sender's stats");
    eprintln!("Chromium received: {stats}");
    assert_eq!(stats["videoCodec"], "video/H264");
    let fmtp = stats["videoFmtp"].as_str().unwrap_or_default();
    assert!(
        fmtp.contains("profile-level-id=f4001f") && fmtp.contains("packetization-mode=1"),
        "received as high 4:4:4 predictive: {fmtp}"
    );
    assert!(
        stats["framesDecoded"].as_u64().unwrap_or(0) >= 60,
        "{stats}"
    );
    drop(stopper);
    rt.block_on(server.shutdown());
}

/// `x264enc` (high profile) into `rtcgatesink` joining `room`.
fn x264_high_into(server: &SignallingServer, room: &str) -> gst::Pipeline {
    gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 \
         ! video/x-h264,profile=high ! sink.video_0 \
         rtcgatesink name=sink uri={} room={room} display-name=gst-h264",
        server.url()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap()
}

/// With its camera on, Chromium's send-receive video m-line lists only the
/// H.264 profiles it also sends (constrained baseline, baseline, main): the
/// high-profile track is refused by name (a warning on the bus from the
/// call's error event), not sent to be dropped by the decoder.
#[test]
fn a_high_profile_track_chromium_cannot_take_is_refused_by_name() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let mut config = ServerConfig::default();
    config.web_root = Some(repo().join("examples/web"));
    let server = rt
        .block_on(SignallingServer::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
        ))
        .unwrap();
    let room = "gst-h264-refused";
    let pipeline = x264_high_into(&server, room);
    let stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let page = format!("{}?room={room}&name=chromium&autojoin=1", server.http_url());
    let _browser = Reaped(
        Command::new("node")
            .arg(repo().join("core/tests/browser/peer.mjs"))
            .args([
                "--url",
                &page,
                "--timeout-ms",
                "90000",
                "--hold-ms",
                "60000",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("run node core/tests/browser/peer.mjs (run .ci/setup first)"),
    );
    let warning = wait_message(&bus, 90, "the refusal", |m| match m.view() {
        gst::MessageView::Warning(w) if w.error().to_string().contains("cannot be sent") => {
            Some(w.error().to_string())
        }
        _ => None,
    });
    eprintln!("{warning}");
    assert!(warning.contains("H.264 high (64001e)"), "{warning}");
    assert!(
        warning.contains("main (4d001f)"),
        "names what Chromium takes: {warning}"
    );
    drop(stopper);
    rt.block_on(server.shutdown());
}
