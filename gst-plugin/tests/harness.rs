//! Element-level checks with `gst_check::Harness` and the element factories:
//! pad templates, caps that `rtcgatesink` pads accept or refuse (refused
//! caps make the next buffer fail with not-negotiated), and EOS. The sink
//! joins a real (local) signalling server; no peer, so no ICE is needed.

mod support;

use gst::prelude::*;
use gst_check::Harness;
use support::*;

/// Templates of `factory`: (name, direction, presence, caps).
fn templates(factory: &str) -> Vec<(String, gst::PadDirection, gst::PadPresence, gst::Caps)> {
    gst::ElementFactory::find(factory)
        .unwrap_or_else(|| panic!("{factory} registered"))
        .static_pad_templates()
        .iter()
        .map(|t| {
            (
                t.name_template().to_string(),
                t.direction(),
                t.presence(),
                t.caps(),
            )
        })
        .collect()
}

#[test]
fn pad_templates() {
    init();
    let sink = templates("rtcgatesink");
    let names: Vec<&str> = sink.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["video_%u", "audio_%u"]);
    for (name, direction, presence, caps) in &sink {
        assert_eq!(*direction, gst::PadDirection::Sink, "{name}");
        assert_eq!(*presence, gst::PadPresence::Request, "{name}");
        let raw = if name.starts_with("video") {
            "video/x-raw"
        } else {
            "audio/x-raw"
        };
        assert!(
            caps.iter().any(|s| s.name() == raw),
            "{name} takes raw media: {caps}"
        );
    }

    let src = templates("rtcgatesrc");
    let names: Vec<&str> = src.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["video_%s_%u", "audio_%s_%u"]);
    for (name, direction, presence, caps) in &src {
        assert_eq!(*direction, gst::PadDirection::Src, "{name}");
        assert_eq!(*presence, gst::PadPresence::Sometimes, "{name}");
        let (encoded, media) = if name.starts_with("video") {
            ("video/x-vp8", "video")
        } else {
            ("audio/x-opus", "audio")
        };
        assert!(caps.iter().any(|s| s.name() == encoded), "{name}: {caps}");
        let rtp = gst::Caps::builder("application/x-rtp")
            .field("media", media)
            .build();
        assert!(caps.can_intersect(&rtp), "{name} can output RTP: {caps}");
    }

    assert!(templates("rtcgaterecorder").is_empty());
}

/// A harness feeding `rtcgatesink`'s request pad `pad`, the sink joined to
/// `url`. The harness wants synchronous state changes and its own clock, so
/// the pad's internal `appsink` gets `async=false sync=false`; the rest is
/// the element as shipped.
fn sink_harness(url: &str, pad: &str, configure: impl FnOnce(&gst::Element)) -> Harness {
    let sink = gst::ElementFactory::make("rtcgatesink")
        .property("uri", url)
        .property("room", "harness")
        .build()
        .unwrap();
    configure(&sink);
    sink.request_pad_simple(pad).expect("request pad");
    let appsink = sink
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name(&format!("appsink_{pad}"))
        .expect("the pad's appsink");
    appsink.set_property("async", false);
    appsink.set_property("sync", false);
    Harness::with_element(&sink, Some(pad), None)
}

fn buffer(pts_ms: u64) -> gst::Buffer {
    // A VP8 keyframe header (frame tag, start code, 320x240) and padding.
    let mut data = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
    data.resize(200, 0);
    let mut buffer = gst::Buffer::from_mut_slice(data);
    buffer
        .get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(pts_ms));
    buffer
}

/// Whether the element's pad accepts `caps` (accept-caps query from the
/// harness's pad); then pushes the caps and a segment event (stream-start
/// was pushed by the harness), as an upstream element would.
fn offer_caps(h: &mut Harness, caps: &str) -> bool {
    let caps = caps.parse::<gst::Caps>().unwrap();
    let accepted = h.srcpad().unwrap().peer_query_accept_caps(&caps);
    h.push_event(gst::event::Caps::new(&caps));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    accepted
}

#[test]
fn sink_pads_take_the_encoded_formats() {
    init();
    let rt = test_runtime();
    let server = start_server(&rt);
    for (pad, caps) in [
        ("video_0", "video/x-vp8, width=320, height=240"),
        ("video_0", "video/x-vp9"),
        (
            "video_0",
            "video/x-h264, stream-format=byte-stream, alignment=au",
        ),
        (
            "video_0",
            "video/x-av1, stream-format=obu-stream, alignment=tu",
        ),
        ("audio_0", "audio/x-opus, channels=2, rate=48000"),
        ("audio_0", "audio/x-opus, channels=1, rate=48000"),
    ] {
        let mut h = sink_harness(&server.url(), pad, |_| {});
        assert!(offer_caps(&mut h, caps), "{pad} refused {caps}");
        assert_eq!(h.push(buffer(0)), Ok(gst::FlowSuccess::Ok), "{caps}");
        assert_eq!(h.push(buffer(33)), Ok(gst::FlowSuccess::Ok), "{caps}");
    }
    rt.block_on(server.shutdown());
}

#[test]
fn refused_caps_give_not_negotiated() {
    init();
    let rt = test_runtime();
    let server = start_server(&rt);
    for (pad, caps) in [
        ("video_0", "video/x-theora"),
        ("video_0", "video/x-h264, stream-format=avc, alignment=au"),
        ("video_0", "audio/x-opus"),
        ("audio_0", "audio/mpeg, mpegversion=4"),
        ("audio_0", "video/x-vp8"),
    ] {
        let mut h = sink_harness(&server.url(), pad, |_| {});
        assert!(!offer_caps(&mut h, caps), "{pad} took {caps}");
        assert_eq!(
            h.push(buffer(0)),
            Err(gst::FlowError::NotNegotiated),
            "{caps}"
        );
    }
    // video-caps restricts what the video pads take.
    let restrict = |sink: &gst::Element| {
        sink.set_property("video-caps", "video/x-vp8".parse::<gst::Caps>().unwrap());
    };
    let mut h = sink_harness(&server.url(), "video_0", restrict);
    assert!(!offer_caps(&mut h, "video/x-vp9"));
    assert_eq!(h.push(buffer(0)), Err(gst::FlowError::NotNegotiated));
    let mut h = sink_harness(&server.url(), "video_0", restrict);
    assert!(offer_caps(&mut h, "video/x-vp8"));
    assert_eq!(h.push(buffer(0)), Ok(gst::FlowSuccess::Ok));
    rt.block_on(server.shutdown());
}

#[test]
fn raw_video_goes_through_an_encoder() {
    init();
    let rt = test_runtime();
    let server = start_server(&rt);
    let restrict = |sink: &gst::Element| {
        sink.set_property("video-caps", "video/x-vp8".parse::<gst::Caps>().unwrap());
    };
    let mut h = sink_harness(&server.url(), "video_0", restrict);
    assert!(offer_caps(
        &mut h,
        "video/x-raw, format=I420, width=64, height=48, framerate=30/1"
    ));
    let sink = h.element().unwrap().downcast::<gst::Bin>().unwrap();
    let encoders: Vec<String> = sink
        .iterate_elements()
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.factory().map(|f| f.name().to_string()))
        .collect();
    assert!(
        encoders.contains(&"vp8enc".to_owned()),
        "children: {encoders:?}"
    );
    let mut frame = gst::Buffer::from_mut_slice(vec![128u8; 64 * 48 * 3 / 2]);
    frame.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    assert_eq!(h.push(frame), Ok(gst::FlowSuccess::Ok));
    rt.block_on(server.shutdown());
}

#[test]
fn buffers_after_eos_are_refused() {
    init();
    let rt = test_runtime();
    let server = start_server(&rt);
    let mut h = sink_harness(&server.url(), "video_0", |_| {});
    assert!(offer_caps(&mut h, "video/x-vp8"));
    assert_eq!(h.push(buffer(0)), Ok(gst::FlowSuccess::Ok));
    assert!(h.push_event(gst::event::Eos::new()));
    assert_eq!(h.push(buffer(33)), Err(gst::FlowError::Eos));
    rt.block_on(server.shutdown());
}
