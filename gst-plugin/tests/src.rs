//! core `Call` → `rtcgatesrc` → a muxer and a file that FFmpeg demuxes and
//! decodes; pads follow the member; EOS ends the file.

mod support;

use std::time::Duration;

use gst::prelude::*;
use support::*;

/// Links every new rtcgatesrc pad through a queue to a request pad of `mux`.
fn link_to_muxer(src: &gst::Element, pipeline: &gst::Pipeline, mux: &gst::Element) {
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

#[test]
fn src_records_a_member_to_matroska_that_ffmpeg_decodes() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server(&rt);
    let (call, _events) = join(&rt, &server.url(), "src-room", "native");
    let players = send_test_pattern(&rt, &call);

    let dir = temp_dir("src");
    let file = dir.join("call.mkv");
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtcgatesrc")
        .property("uri", server.url())
        .property("room", "src-room")
        .build()
        .unwrap();
    let mux = gst::ElementFactory::make("matroskamux").build().unwrap();
    let sink = gst::ElementFactory::make("filesink")
        .property("location", file.to_str().unwrap())
        .build()
        .unwrap();
    pipeline.add_many([&src, &mux, &sink]).unwrap();
    mux.link(&sink).unwrap();
    link_to_muxer(&src, &pipeline, &mux);
    let stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    let joined = wait_message(&bus, 20, "rtcgate/member-joined", |m| {
        rtcgate_message(m, "member-joined")
    });
    assert_eq!(joined.get::<String>("display-name").unwrap(), "native");
    let member = joined.get::<String>("member-id").unwrap();

    // Two pads named after the member and the kind.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut names = Vec::new();
    while names.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "pads: {names:?}");
        std::thread::sleep(Duration::from_millis(100));
        names = src
            .src_pads()
            .iter()
            .map(|p| p.name().to_string())
            .collect();
    }
    names.sort();
    let member_part: String = member
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    assert_eq!(
        names,
        [
            format!("audio_{member_part}_0"),
            format!("video_{member_part}_0")
        ]
    );
    // The caps event reaches the pad on the streaming thread, after the pad
    // was added.
    let video_pad = src.static_pad(&names[1]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let caps = loop {
        if let Some(caps) = video_pad.current_caps() {
            break caps;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no caps on {}",
            names[1]
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "video/x-vp8");
    assert!(s.get::<i32>("width").unwrap() > 0);

    // Record a few seconds, then the member leaves: its pads end (EOS) and go.
    std::thread::sleep(Duration::from_secs(5));
    for player in players {
        player.abort();
    }
    rt.block_on(call.leave()).unwrap();
    wait_message(&bus, 30, "EOS after the member left", |m| {
        matches!(m.view(), gst::MessageView::Eos(_)).then_some(())
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !src.src_pads().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "pads left after the member left"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stopper);

    let codecs = stream_codecs(&file);
    assert!(codecs.contains(&"vp8".to_owned()), "{codecs:?}");
    assert!(codecs.contains(&"opus".to_owned()), "{codecs:?}");
    let video_packets = packet_count(&file, "vp8");
    let audio_packets = packet_count(&file, "opus");
    assert!(video_packets > 50, "{video_packets} video packets");
    assert!(audio_packets > 100, "{audio_packets} audio packets");
    assert_decodes(&file);
    rt.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn src_output_decodes_in_decodebin_and_ends_on_eos() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server(&rt);
    let (call, _events) = join(&rt, &server.url(), "decode-room", "native");
    let players = send_test_pattern(&rt, &call);

    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtcgatesrc")
        .property("uri", server.url())
        .property("room", "decode-room")
        .build()
        .unwrap();
    pipeline.add(&src).unwrap();
    let decoded = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let pipeline = pipeline.downgrade();
        let decoded = decoded.clone();
        src.connect_pad_added(move |_, pad| {
            if !pad.name().starts_with("video_") {
                let sink = gst::ElementFactory::make("fakesink")
                    .property("async", false)
                    .build()
                    .unwrap();
                let pipeline = pipeline.upgrade().unwrap();
                pipeline.add(&sink).unwrap();
                sink.sync_state_with_parent().unwrap();
                pad.link(&sink.static_pad("sink").unwrap()).unwrap();
                return;
            }
            let pipeline = pipeline.upgrade().unwrap();
            let decodebin = gst::ElementFactory::make("decodebin").build().unwrap();
            let rest = gst::parse::bin_from_description(
                "videoconvert ! video/x-raw,format=I420 ! fakesink name=out async=false",
                true,
            )
            .unwrap();
            let decoded = decoded.clone();
            rest.by_name("out")
                .unwrap()
                .static_pad("sink")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    decoded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                });
            pipeline.add_many([&decodebin, rest.upcast_ref()]).unwrap();
            let rest_sink = rest.static_pad("sink").unwrap();
            decodebin.connect_pad_added(move |_, decoded_pad| {
                decoded_pad.link(&rest_sink).unwrap();
            });
            rest.sync_state_with_parent().unwrap();
            decodebin.sync_state_with_parent().unwrap();
            pad.link(&decodebin.static_pad("sink").unwrap()).unwrap();
        });
    }
    let stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while decoded.load(std::sync::atomic::Ordering::Relaxed) < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "decoded frames: {decoded:?}"
        );
        if let Some(m) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(e) = m.view()
        {
            panic!("error: {} {:?}", e.error(), e.debug());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // EOS sent to the pipeline reaches every output: the pipeline ends.
    assert!(pipeline.send_event(gst::event::Eos::new()));
    wait_message(&bus, 20, "EOS", |m| {
        matches!(m.view(), gst::MessageView::Eos(_)).then_some(())
    });
    drop(stopper);
    for player in players {
        player.abort();
    }
    rt.block_on(call.leave()).unwrap();
    rt.block_on(server.shutdown());
}

#[test]
fn src_ends_with_eos_when_the_signalling_session_ends() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server(&rt);
    let (call, _events) = join(&rt, &server.url(), "end-room", "native");
    let players = send_test_pattern(&rt, &call);

    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtcgatesrc")
        .property("uri", server.url())
        .property("room", "end-room")
        .build()
        .unwrap();
    pipeline.add(&src).unwrap();
    {
        let pipeline = pipeline.downgrade();
        src.connect_pad_added(move |_, pad| {
            let pipeline = pipeline.upgrade().unwrap();
            let sink = gst::ElementFactory::make("fakesink")
                .property("async", false)
                .build()
                .unwrap();
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            pad.link(&sink.static_pad("sink").unwrap()).unwrap();
        });
    }
    let stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while src.src_pads().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no pads");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The server goes away: the call can learn nothing more, every pad ends.
    rt.block_on(server.shutdown());
    wait_message(&bus, 30, "EOS after the server stopped", |m| {
        matches!(m.view(), gst::MessageView::Eos(_)).then_some(())
    });
    drop(stopper);
    for player in players {
        player.abort();
    }
    rt.block_on(call.leave()).unwrap();
}
