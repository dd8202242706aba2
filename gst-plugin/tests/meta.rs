//! The `meta` property: each element's metadata reaches the other members
//! through the room protocol and is posted there as `rtcgate/member-meta`.

mod support;

use gst::prelude::*;
use support::*;

fn pipeline_with(element: &gst::Element) -> gst::Pipeline {
    let pipeline = gst::Pipeline::new();
    pipeline.add(element).unwrap();
    pipeline
}

/// The `rtcgate/joined` self-id of the element of `bus`.
fn self_id(bus: &gst::Bus) -> String {
    wait_message(bus, 20, "rtcgate/joined", |m| rtcgate_message(m, "joined"))
        .get::<String>("self-id")
        .unwrap()
}

/// The next `rtcgate/member-meta` on `bus`: (member-id, meta).
fn member_meta(bus: &gst::Bus) -> (String, gst::Structure) {
    let s = wait_message(bus, 20, "rtcgate/member-meta", |m| {
        rtcgate_message(m, "member-meta")
    });
    (
        s.get::<String>("member-id").unwrap(),
        s.get::<gst::Structure>("meta").unwrap(),
    )
}

#[test]
fn meta_reaches_the_other_members() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server(&rt);

    // A member without meta is there first: nobody gets meta about it.
    let (plain, _plain_events) = join(&rt, &server.url(), "meta-room", "plain");

    let sink = gst::ElementFactory::make("rtcgatesink")
        .property("uri", server.url())
        .property("room", "meta-room")
        .property(
            "meta",
            "meta, camera=front, index=(int)3, mirrored=true"
                .parse::<gst::Structure>()
                .unwrap(),
        )
        .build()
        .unwrap();
    let sink_pipeline = pipeline_with(&sink);
    let _stop_sink = Stopper(sink_pipeline.clone());
    let sink_bus = sink_pipeline.bus().unwrap();
    sink_pipeline.set_state(gst::State::Playing).unwrap();
    let sink_id = self_id(&sink_bus);

    let src = gst::ElementFactory::make("rtcgatesrc")
        .property("uri", server.url())
        .property("room", "meta-room")
        .property(
            "meta",
            "meta, role=viewer".parse::<gst::Structure>().unwrap(),
        )
        .build()
        .unwrap();
    let src_pipeline = pipeline_with(&src);
    let _stop_src = Stopper(src_pipeline.clone());
    let src_bus = src_pipeline.bus().unwrap();
    src_pipeline.set_state(gst::State::Playing).unwrap();
    let src_id = self_id(&src_bus);

    // The src joined after the sink: it gets the sink's meta with the welcome.
    let (member, meta) = member_meta(&src_bus);
    assert_eq!(member, sink_id);
    assert_eq!(meta.get::<String>("camera").unwrap(), "front");
    assert_eq!(meta.get::<i32>("index").unwrap(), 3);
    assert!(meta.get::<bool>("mirrored").unwrap());

    // The sink was there: it gets the src's meta after its member-joined.
    let (member, meta) = member_meta(&sink_bus);
    assert_eq!(member, src_id);
    assert_eq!(meta.get::<String>("role").unwrap(), "viewer");
    assert_eq!(meta.n_fields(), 1);

    // The property reads back; the plain member never shows up as meta.
    let read: gst::Structure = sink.property("meta");
    assert_eq!(read.get::<i32>("index").unwrap(), 3);
    std::thread::sleep(std::time::Duration::from_millis(500));
    for bus in [&sink_bus, &src_bus] {
        while let Some(m) = bus.pop() {
            assert!(
                rtcgate_message(&m, "member-meta").is_none(),
                "unexpected {m:?}"
            );
        }
    }
    rt.block_on(plain.leave()).unwrap();
    rt.block_on(server.shutdown());
}

#[test]
fn oversized_meta_fails_the_state_change() {
    init();
    let big = "x".repeat(5000);
    let recorder = gst::ElementFactory::make("rtcgaterecorder")
        .property("room", "r")
        .property(
            "meta",
            gst::Structure::builder("meta").field("blob", big).build(),
        )
        .build()
        .unwrap();
    let pipeline = pipeline_with(&recorder);
    let _stop = Stopper(pipeline.clone());
    assert!(pipeline.set_state(gst::State::Playing).is_err());
    let bus = pipeline.bus().unwrap();
    let error = wait_message(&bus, 5, "an error", |m| match m.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    });
    assert!(error.contains("meta"), "{error}");
}
