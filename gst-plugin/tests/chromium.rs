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
