//! The elements on WHIP and WHEP URLs (`signaller::uri`-style, as
//! `whipclientsink`/`whepsrc` users write them): `rtcgatesink` publishes
//! GStreamer-encoded VP8 + Opus to a WHIP endpoint, `rtcgatesrc` plays a WHEP
//! endpoint's stream; a URL of the wrong direction is refused at start. The
//! endpoint is core's test endpoint (`core/tests/support/whip_endpoint.rs`:
//! hyper on a real socket, a real rtcgate call answering).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gst::prelude::*;
use rtcgate_core::{CallEvent, Codec, LocalTrack};
use support::whip_endpoint::{Script, WhipEndpoint};
use support::*;

#[test]
fn sink_publishes_vp8_and_opus_to_a_whip_endpoint() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let mut endpoint = rt.block_on(WhipEndpoint::start(Script {
        token: Some("bearer-secret"),
        ..Script::default()
    }));
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! vp8enc deadline=1 keyframe-max-dist=600 ! sink.video_0 \
         audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! sink.audio_0 \
         rtcgatesink name=sink uri=whip+{} token=bearer-secret",
        endpoint.url()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let stopper = Stopper(pipeline.clone());
    pipeline.set_state(gst::State::Playing).unwrap();

    let (_call, mut events) = rt.block_on(endpoint.next_call());
    let mut tracks = Vec::new();
    while tracks.len() < 2 {
        tracks.push(next_event(
            &rt,
            &mut events,
            30,
            "the sink's tracks",
            |e| match e {
                CallEvent::TrackAdded(t) => Some(t.clone()),
                _ => None,
            },
        ));
    }
    let mut codecs: Vec<Codec> = tracks.iter().map(|t| t.codec()).collect();
    codecs.sort_by_key(|c| c.name());
    assert_eq!(codecs, [Codec::Opus, Codec::Vp8]);
    for track in &tracks {
        let video = track.codec() == Codec::Vp8;
        let (frames, keyframes) = rt.block_on(async {
            if video {
                // Through the WHIP session's RTCP to the encoder (force-key-unit).
                track.request_keyframe().await.unwrap();
            }
            tokio::time::timeout(Duration::from_secs(30), async {
                let (mut frames, mut keyframes) = (0, 0);
                while frames < 30 || (video && keyframes == 0) {
                    let frame = track.recv().await.expect("frame");
                    assert!(!frame.data.is_empty());
                    frames += 1;
                    keyframes += usize::from(frame.keyframe);
                }
                (frames, keyframes)
            })
            .await
            .expect("30 frames at the endpoint")
        });
        assert!(frames >= 30);
        if video {
            assert!(keyframes >= 1, "a VP8 keyframe among {frames} frames");
        }
    }
    drop(stopper);
    // The session was a WHIP one: POST with the Bearer token, DELETE at the end.
    let log = endpoint.log();
    let post = log.iter().find(|l| l.method == "POST").expect("a POST");
    assert_eq!(post.status, 201);
    assert_eq!(post.header("authorization"), Some("Bearer bearer-secret"));
    assert_eq!(post.header("content-type"), Some("application/sdp"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !endpoint.log().iter().any(|l| l.method == "DELETE") {
        assert!(
            std::time::Instant::now() < deadline,
            "no DELETE after the pipeline stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn src_plays_a_whep_endpoints_stream() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let video = LocalTrack::new(Codec::Vp8, "cam", "endpoint").unwrap();
    let endpoint = rt.block_on(WhipEndpoint::start(Script {
        send: vec![video.clone()],
        ..Script::default()
    }));
    let clip =
        rtcgate_core::media::Clip::open(repo().join("examples/media/testsrc-vp8.ivf")).unwrap();
    let player = rt.spawn(async move {
        let _ = clip.play(&video, None).await;
    });

    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtcgatesrc")
        .property("uri", format!("whep+{}", endpoint.url()))
        .build()
        .unwrap();
    pipeline.add(&src).unwrap();
    let decoded = Arc::new(AtomicUsize::new(0));
    let weak = pipeline.downgrade();
    let counter = decoded.clone();
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let dec = gst::ElementFactory::make("vp8dec").build().unwrap();
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
            .unwrap();
        pipeline.add_many([&dec, &sink]).unwrap();
        dec.link(&sink).unwrap();
        let counter = counter.clone();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        dec.sync_state_with_parent().unwrap();
        sink.sync_state_with_parent().unwrap();
        pad.link(&dec.static_pad("sink").unwrap()).unwrap();
    });
    let stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while decoded.load(Ordering::Relaxed) < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} frames decoded from the WHEP stream",
            decoded.load(Ordering::Relaxed)
        );
        if let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
            panic!("pipeline error: {message:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stopper);
    player.abort();
    let log = endpoint.log();
    let offer = &log.iter().find(|l| l.method == "POST").unwrap().body;
    assert!(
        offer.contains("a=recvonly"),
        "a receive-only offer: {offer}"
    );
}

#[test]
fn a_url_of_the_wrong_direction_is_refused_at_start() {
    init();
    for (factory, uri, says) in [
        ("rtcgatesrc", "whip+http://127.0.0.1:9/whip/x", "WHIP"),
        ("rtcgatesink", "whep+http://127.0.0.1:9/whep/x", "WHEP"),
        ("rtcgatesrc", "http://127.0.0.1:9/", "uri"),
    ] {
        let element = gst::ElementFactory::make(factory)
            .property("uri", uri)
            .build()
            .unwrap();
        let pipeline = gst::Pipeline::new();
        pipeline.add(&element).unwrap();
        let bus = pipeline.bus().unwrap();
        let _ = pipeline.set_state(gst::State::Playing);
        let error = wait_message(&bus, 10, "the refusal", |m| match m.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        });
        assert!(error.contains(says), "{factory} {uri}: {error}");
        let _ = pipeline.set_state(gst::State::Null);
    }
}
