//! `rtcgaterecorder`: a room recorded into a folder from a pipeline of one
//! element; EOS closes the files, which FFmpeg decodes.

mod support;

use std::time::Duration;

use gst::prelude::*;
use support::*;

#[test]
fn recorder_element_records_a_member_until_eos() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server(&rt);
    let (call, _events) = join(&rt, &server.url(), "rec-room", "alice");
    let players = send_test_pattern(&rt, &call);

    let dir = temp_dir("recorder");
    // A one-element "pipeline": parse::launch gives the element itself.
    let recorder = gst::parse::launch(&format!(
        "rtcgaterecorder uri={} room=rec-room location={}",
        server.url(),
        dir.display()
    ))
    .unwrap();
    let pipeline = gst::Pipeline::new();
    pipeline.add(&recorder).unwrap();
    let stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    let started = wait_message(&bus, 30, "rtcgate/recording-started", |m| {
        rtcgate_message(m, "recording-started")
    });
    let path = std::path::PathBuf::from(started.get::<String>("location").unwrap());
    assert!(path.starts_with(&dir), "{}", path.display());
    std::thread::sleep(Duration::from_secs(4));

    assert!(pipeline.send_event(gst::event::Eos::new()));
    let finished = wait_message(&bus, 30, "rtcgate/recording-finished", |m| {
        rtcgate_message(m, "recording-finished")
    });
    assert_eq!(finished.get::<String>("display-name").unwrap(), "alice");
    wait_message(&bus, 30, "EOS", |m| {
        matches!(m.view(), gst::MessageView::Eos(_)).then_some(())
    });
    drop(stopper);

    let codecs = stream_codecs(&path);
    assert_eq!(codecs.len(), 2, "{codecs:?}");
    assert!(packet_count(&path, "vp8") > 30);
    assert_decodes(&path);
    for player in players {
        player.abort();
    }
    rt.block_on(call.leave()).unwrap();
    rt.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(dir);
}
