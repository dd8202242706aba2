//! `rtcgatesink` → core `Call`: GStreamer-encoded VP8 and Opus reach a real
//! call member, keyframe first, as frames a decoder takes.

mod support;

use std::time::Duration;

use gst::prelude::*;
use rtcgate_core::{CallEvent, Codec, MediaKind};
use support::*;

#[test]
fn sink_publishes_vp8_and_opus_into_a_call() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server(&rt);
    let (call, mut events) = join(&rt, &server.url(), "sink-room", "core-viewer");

    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! vp8enc deadline=1 keyframe-max-dist=600 ! sink.video_0 \
         audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! sink.audio_0 \
         rtcgatesink name=sink uri={} room=sink-room display-name=gst-sender",
        server.url()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    // The sink reports the member already in the room.
    let joined = wait_message(&bus, 20, "rtcgate/member-joined", |m| {
        rtcgate_message(m, "member-joined")
    });
    assert_eq!(joined.get::<String>("display-name").unwrap(), "core-viewer");

    let sender = next_event(&rt, &mut events, 30, "the sink to join", |e| match e {
        CallEvent::MemberJoined(m) => Some(m.clone()),
        _ => None,
    });
    assert_eq!(sender.name, "gst-sender");

    let mut video = None;
    let mut audio = None;
    while video.is_none() || audio.is_none() {
        let track = next_event(&rt, &mut events, 30, "the sink's tracks", |e| match e {
            CallEvent::TrackAdded(t) => Some(t.clone()),
            _ => None,
        });
        assert_eq!(track.member(), &sender.id);
        match track.kind() {
            MediaKind::Video => video = Some(track),
            MediaKind::Audio => audio = Some(track),
        }
    }
    let (video, audio) = (video.unwrap(), audio.unwrap());
    assert_eq!(video.codec(), Codec::Vp8);
    assert_eq!(audio.codec(), Codec::Opus);
    assert_eq!(video.id(), "video_0");

    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            // Frames sent before the connection was up never arrived: ask
            // for a keyframe (the encoder makes one every 20 s by itself,
            // so one within the timeout is the force-key-unit event's doing).
            let mut frames = video.subscribe();
            video.request_keyframe().await.unwrap();
            let first = loop {
                let frame = frames.recv().await.expect("a video frame");
                if frame.keyframe {
                    break frame;
                }
            };
            assert_eq!(&first.data[3..6], &[0x9d, 0x01, 0x2a], "a VP8 keyframe");
            let width = u16::from_le_bytes([first.data[6], first.data[7]]) & 0x3fff;
            assert_eq!(width, 320);
            let mut last = first.timestamp;
            for _ in 0..30 {
                let frame = frames.recv().await.expect("video frames");
                assert!(frame.timestamp >= last, "timestamps go forward");
                last = frame.timestamp;
            }
            // 30 frames at 30 fps span about a second of media time.
            assert!(last >= Duration::from_millis(800), "media time {last:?}");
            let mut sound = audio.subscribe();
            for _ in 0..50 {
                let packet = sound.recv().await.expect("audio frames");
                assert!(!packet.data.is_empty());
            }
        })
        .await
        .expect("frames within 30 s")
    });

    // A keyframe request reaches the encoder (force-key-unit upstream).
    let before = video.stats().keyframes;
    rt.block_on(video.request_keyframe()).unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            while video.stats().keyframes == before {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("a keyframe after the request")
    });

    // The stats property lists the core member, connected.
    let sink = pipeline.by_name("sink").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let member_stats = loop {
        let stats = sink.property::<gst::Array>("stats");
        if let Some(first) = stats.first() {
            break first.get::<gst::Structure>().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no stats");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        member_stats.get::<String>("connection-state").unwrap(),
        "connected",
        "{member_stats}"
    );
    assert!(
        member_stats
            .get::<String>("outbound")
            .unwrap()
            .contains("\"video\""),
        "{member_stats}"
    );

    // Leaving the pipeline: the member leaves the call.
    drop(stopper);
    next_event(&rt, &mut events, 30, "the sink to leave", |e| match e {
        CallEvent::MemberLeft(m) if m.id == sender.id => Some(()),
        _ => None,
    });
    rt.block_on(call.leave()).unwrap();
    rt.block_on(server.shutdown());
}

#[test]
fn sink_encodes_raw_input_with_encoders_picked_by_rank() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server(&rt);
    let (call, mut events) = join(&rt, &server.url(), "raw-room", "core-viewer");

    // Raw video and audio: rtcgatesink puts vp8enc (video-caps asks for VP8)
    // and opusenc in front of its pads.
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! sink.video_0 \
         audiotestsrc is-live=true ! sink.audio_0 \
         rtcgatesink name=sink uri={} room=raw-room display-name=gst-raw video-caps=video/x-vp8",
        server.url()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let stopper = Stopper(pipeline.clone());
    pipeline.set_state(gst::State::Playing).unwrap();

    let mut video = None;
    let mut audio = None;
    while video.is_none() || audio.is_none() {
        let track = next_event(&rt, &mut events, 30, "the sink's tracks", |e| match e {
            CallEvent::TrackAdded(t) => Some(t.clone()),
            _ => None,
        });
        match track.kind() {
            MediaKind::Video => video = Some(track),
            MediaKind::Audio => audio = Some(track),
        }
    }
    let (video, audio) = (video.unwrap(), audio.unwrap());
    assert_eq!(video.codec(), Codec::Vp8);
    assert_eq!(audio.codec(), Codec::Opus);
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            let mut frames = video.subscribe();
            video.request_keyframe().await.unwrap();
            let key = loop {
                let frame = frames.recv().await.expect("video frames");
                if frame.keyframe {
                    break frame;
                }
            };
            let width = u16::from_le_bytes([key.data[6], key.data[7]]) & 0x3fff;
            assert_eq!(width, 320);
            let mut sound = audio.subscribe();
            for _ in 0..20 {
                assert!(!sound.recv().await.expect("audio frames").data.is_empty());
            }
        })
        .await
        .expect("encoded frames within 30 s")
    });
    drop(stopper);
    rt.block_on(call.leave()).unwrap();
    rt.block_on(server.shutdown());
}
