//! Errors and state changes: an unreachable signalling server and bad
//! properties give an error message on the bus (not a hang), and NULL ↔
//! PLAYING cycles neither deadlock nor keep members in the room.

mod support;

use std::time::Duration;

use gst::prelude::*;
use support::*;

fn error_of(message: &gst::Message) -> Option<String> {
    match message.view() {
        gst::MessageView::Error(e) => Some(format!("{} {:?}", e.error(), e.debug())),
        _ => None,
    }
}

#[test]
fn unreachable_signalling_server_is_an_error_on_the_bus() {
    init();
    for element in ["rtcgatesrc", "rtcgatesink", "rtcgaterecorder"] {
        let pipeline = gst::Pipeline::new();
        // Nothing listens on port 9 (discard) of the loopback address.
        let e = gst::ElementFactory::make(element)
            .property("uri", "ws://127.0.0.1:9/ws")
            .property("room", "r")
            .build()
            .unwrap();
        pipeline.add(&e).unwrap();
        if element == "rtcgatesink" {
            let src = gst::parse::bin_from_description(
                "videotestsrc is-live=true ! vp8enc deadline=1",
                true,
            )
            .unwrap();
            pipeline.add(&src).unwrap();
            src.link_pads(None, &e, Some("video_%u")).unwrap();
        }
        if element == "rtcgaterecorder" {
            let dir = temp_dir("unreachable");
            e.set_property("location", dir.to_str().unwrap());
        }
        let _stopper = Stopper(pipeline.clone());
        let bus = pipeline.bus().unwrap();
        let _ = pipeline.set_state(gst::State::Playing);
        let error = wait_message(&bus, 30, "an error message", error_of);
        assert!(error.contains("127.0.0.1:9"), "{element}: {error}");
    }
}

#[test]
fn bad_properties_fail_the_state_change_with_an_error() {
    init();
    for (property, value) in [
        ("uri", "http://example.invalid/"),
        ("stun-server", "example.invalid:3478"),
    ] {
        let pipeline = gst::Pipeline::new();
        let e = gst::ElementFactory::make("rtcgatesrc")
            .property("room", "r")
            .property(property, value)
            .build()
            .unwrap();
        pipeline.add(&e).unwrap();
        let _stopper = Stopper(pipeline.clone());
        assert!(pipeline.set_state(gst::State::Playing).is_err());
        let error = wait_message(&pipeline.bus().unwrap(), 5, "an error message", error_of);
        assert!(error.contains(property), "{property}: {error}");
    }
    // No room at all.
    let pipeline = gst::Pipeline::new();
    let e = gst::ElementFactory::make("rtcgatesrc").build().unwrap();
    pipeline.add(&e).unwrap();
    let _stopper = Stopper(pipeline.clone());
    assert!(pipeline.set_state(gst::State::Playing).is_err());
    let error = wait_message(&pipeline.bus().unwrap(), 5, "an error message", error_of);
    assert!(error.contains("room"), "{error}");
    // A TURN server without credentials.
    let e = gst::ElementFactory::make("rtcgatesink")
        .property("room", "r")
        .build()
        .unwrap();
    e.set_property(
        "turn-servers",
        gst::Array::new(["turn://10.99.0.1:3478".to_send_value()]),
    );
    assert!(e.set_state(gst::State::Paused).is_err());
    let _ = e.set_state(gst::State::Null);
}

#[test]
fn a_hundred_null_playing_cycles_without_deadlock() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server_without_rate_limit(&rt);
    let (call, events) = join(&rt, &server.url(), "cycles", "native");
    let _players = send_test_pattern(&rt, &call);

    let pipeline = gst::parse::launch(&format!(
        "rtcgatesrc name=src uri={} room=cycles ! fakesink async=false",
        server.url()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let _stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    // The cycles run on their own thread so that a deadlock fails the test
    // instead of hanging it.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let cycler = pipeline.clone();
    std::thread::spawn(move || {
        for cycle in 0..100 {
            cycler.set_state(gst::State::Playing).unwrap();
            if cycle % 20 == 0 {
                // Now and then stay until joined and media flows.
                wait_message(&bus, 30, "joined", |m| rtcgate_message(m, "joined"));
                std::thread::sleep(Duration::from_millis(500));
            }
            cycler.set_state(gst::State::Null).unwrap();
            let (result, state, _) = cycler.state(gst::ClockTime::from_seconds(10));
            assert!(result.is_ok() && state == gst::State::Null, "cycle {cycle}");
            let _ = done_tx.send(cycle);
        }
    });
    let mut done = 0;
    while done < 99 {
        done = done_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("cycle {} did not finish: {e}", done + 1));
    }
    // Every session left: a member joining now finds only the native one.
    // (The server's view: the native call itself works through 100 joins
    // and leaves of peer connections and may lag behind.)
    let url = server.url();
    rt.block_on(async {
        let mut others = Vec::new();
        for _ in 0..20 {
            let (probe, _) =
                rtcgate_core::Call::join_url(&url, "cycles", "probe", Default::default())
                    .await
                    .expect("join the probe");
            others = probe.members().await.into_iter().map(|m| m.name).collect();
            probe.leave().await.unwrap();
            if others == ["native"] {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("rtcgatesrc sessions still in the room: {others:?}");
    });
    drop(events);
    rt.block_on(call.leave()).unwrap();
    rt.block_on(server.shutdown());
}

#[test]
fn signaller_uri_is_the_uri_as_in_webrtcsink() {
    init();
    for element in ["rtcgatesrc", "rtcgatesink", "rtcgaterecorder"] {
        let e = gst::parse::launch(&format!(
            "{element} name=e signaller::uri=ws://10.99.0.1:1234/ws room=r"
        ))
        .unwrap();
        assert_eq!(
            e.property::<String>("uri"),
            "ws://10.99.0.1:1234/ws",
            "{element}"
        );
        let proxy = e.dynamic_cast_ref::<gst::ChildProxy>().unwrap();
        let signaller = proxy.child_by_name("signaller").unwrap();
        e.set_property("uri", "ws://127.0.0.1:1/ws");
        assert_eq!(signaller.property::<String>("uri"), "ws://127.0.0.1:1/ws");
    }
}
