//! `rtcgatesrc` caps: a mid-stream resolution change reaches downstream as
//! new caps before the keyframe that has the new size.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;
use rtcgate_core::media::{Clip, MediaSample};
use rtcgate_core::{Codec, LocalTrack};
use support::*;

/// Sends the 320x240 clip in laps until `switch` is set, then the 640x360
/// clip in laps, timestamps continuing; each lap starts with a keyframe.
fn send_then_switch(
    rt: &tokio::runtime::Runtime,
    call: &rtcgate_core::Call,
    switch: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let track = LocalTrack::new(Codec::Vp8, "cam", "native").unwrap();
    rt.block_on(call.add_track(&track)).unwrap();
    let small = Clip::open(repo().join("examples/media/testsrc-vp8.ivf")).unwrap();
    let big = Clip::open(repo().join("examples/media/testsrc-vp8-640x360.ivf")).unwrap();
    rt.spawn(async move {
        let start = tokio::time::Instant::now();
        let mut offset = Duration::ZERO;
        loop {
            let clip = if switch.load(Ordering::SeqCst) {
                &big
            } else {
                &small
            };
            for sample in clip.samples(0) {
                let at = offset + sample.timestamp;
                tokio::time::sleep_until(start + at).await;
                let sample = MediaSample::new(sample.data.clone(), at);
                track.write_sample(&sample).await.expect("write sample");
            }
            offset += clip.duration();
        }
    })
}

/// The size a VP8 keyframe declares (bytes 6..10 after the start code).
fn vp8_keyframe_size(data: &[u8]) -> Option<(i32, i32)> {
    (data.len() >= 10 && data[0] & 1 == 0 && data[3..6] == [0x9d, 0x01, 0x2a]).then(|| {
        (
            i32::from(u16::from_le_bytes([data[6], data[7]]) & 0x3fff),
            i32::from(u16::from_le_bytes([data[8], data[9]]) & 0x3fff),
        )
    })
}

fn caps_size(caps: &gst::CapsRef) -> (i32, i32) {
    let s = caps.structure(0).unwrap();
    (s.get("width").unwrap(), s.get("height").unwrap())
}

/// What the test saw on the rtcgatesrc pad and after `vp8dec`.
#[derive(Default)]
struct Seen {
    /// Sizes of the caps events on the pad, in order.
    caps: Vec<(i32, i32)>,
    /// Keyframes whose declared size was not that of the caps before them.
    mismatched: Vec<String>,
    /// Keyframes by declared size.
    keyframes: Vec<(i32, i32)>,
    /// Decoded frames: (width, height) of each.
    decoded: Vec<(i32, i32)>,
}

impl Seen {
    fn decoded_at(&self, size: (i32, i32)) -> usize {
        self.decoded.iter().filter(|s| **s == size).count()
    }
}

/// Watches caps and keyframes on every new video pad and decodes it with
/// `vp8dec ! fakesink`.
fn watch_and_decode(src: &gst::Element, pipeline: &gst::Pipeline, seen: &Arc<Mutex<Seen>>) {
    let pipeline = pipeline.downgrade();
    let seen = seen.clone();
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline.upgrade() else {
            return;
        };
        let on_pad = seen.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| {
                let mut seen = on_pad.lock().unwrap();
                match &info.data {
                    Some(gst::PadProbeData::Event(event)) => {
                        if let gst::EventView::Caps(c) = event.view() {
                            seen.caps.push(caps_size(c.caps()));
                        }
                    }
                    Some(gst::PadProbeData::Buffer(buffer)) => {
                        let map = buffer.map_readable().unwrap();
                        if let Some(size) = vp8_keyframe_size(&map) {
                            seen.keyframes.push(size);
                            let current = pad.current_caps().map(|c| caps_size(&c));
                            if current != Some(size) {
                                seen.mismatched.push(format!("{size:?} under {current:?}"));
                            }
                        }
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
        let dec = gst::ElementFactory::make("vp8dec").build().unwrap();
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
            .unwrap();
        pipeline.add_many([&dec, &sink]).unwrap();
        dec.link(&sink).unwrap();
        let decoded = seen.clone();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
                let size = caps_size(&pad.current_caps().unwrap());
                decoded.lock().unwrap().decoded.push(size);
                gst::PadProbeReturn::Ok
            });
        dec.sync_state_with_parent().unwrap();
        sink.sync_state_with_parent().unwrap();
        pad.link(&dec.static_pad("sink").unwrap()).unwrap();
    });
}

/// Polls `cond` on `seen` every 100 ms for at most `secs`.
fn wait_seen(seen: &Mutex<Seen>, secs: u64, what: &str, cond: impl Fn(&Seen) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        {
            let seen = seen.lock().unwrap();
            if cond(&seen) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}: caps {:?}, keyframes {:?}, decoded 320x240: {}, 640x360: {}",
                seen.caps,
                seen.keyframes,
                seen.decoded_at((320, 240)),
                seen.decoded_at((640, 360))
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn src_caps_follow_a_resolution_change() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server(&rt);

    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtcgatesrc")
        .property("uri", server.url())
        .property("room", "resize")
        .build()
        .unwrap();
    pipeline.add(&src).unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    watch_and_decode(&src, &pipeline, &seen);
    let stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    wait_message(&bus, 20, "rtcgate/joined", |m| rtcgate_message(m, "joined"));

    let (call, _events) = join(&rt, &server.url(), "resize", "native");
    let switch = Arc::new(AtomicBool::new(false));
    let player = send_then_switch(&rt, &call, switch.clone());

    wait_seen(&seen, 30, "30 frames decoded at 320x240", |s| {
        s.decoded_at((320, 240)) >= 30
    });
    switch.store(true, Ordering::SeqCst);
    wait_seen(&seen, 30, "30 frames decoded at 640x360", |s| {
        s.decoded_at((640, 360)) >= 30
    });
    player.abort();

    let seen = seen.lock().unwrap();
    // appsrc may repeat identical caps; what matters is the sizes in order.
    let mut sizes = seen.caps.clone();
    sizes.dedup();
    assert_eq!(sizes, [(320, 240), (640, 360)], "caps events in order");
    assert!(
        seen.mismatched.is_empty(),
        "keyframes arrived before their caps: {:?}",
        seen.mismatched
    );
    assert!(seen.keyframes.contains(&(640, 360)), "{:?}", seen.keyframes);
    // Nothing was decoded at the old size after the first new-size frame.
    let first_big = seen.decoded.iter().position(|s| *s == (640, 360)).unwrap();
    assert!(
        seen.decoded[first_big..].iter().all(|s| *s == (640, 360)),
        "decoded sizes went back to 320x240"
    );
    drop(seen);
    drop(stopper);
    rt.block_on(call.leave()).unwrap();
    rt.block_on(server.shutdown());
}

/// Counts the buffers reaching `sink`'s sink pad.
fn count_buffers(sink: &gst::Element) -> Arc<std::sync::atomic::AtomicU64> {
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = count.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    count
}

#[test]
fn src_outputs_rtp_that_depayloaders_decode() {
    init();
    require_interfaces();
    let rt = test_runtime();
    let server = start_server(&rt);
    let (call, _events) = join(&rt, &server.url(), "rtp-room", "native");
    let players = send_test_pattern(&rt, &call);

    // gst-launch style: the delayed links pick the pads by their RTP caps.
    let pipeline = gst::parse::launch(&format!(
        "rtcgatesrc name=src rtp=true uri={} room=rtp-room \
         src. ! application/x-rtp,media=video ! rtpvp8depay ! vp8dec ! fakesink name=vsink sync=false \
         src. ! application/x-rtp,media=audio ! rtpopusdepay ! opusdec ! fakesink name=asink sync=false",
        server.url()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let video = count_buffers(&pipeline.by_name("vsink").unwrap());
    let audio = count_buffers(&pipeline.by_name("asink").unwrap());
    let stopper = Stopper(pipeline.clone());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while video.load(Ordering::Relaxed) < 30 || audio.load(Ordering::Relaxed) < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "decoded {} video frames and {} audio buffers",
            video.load(Ordering::Relaxed),
            audio.load(Ordering::Relaxed)
        );
        if let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
            panic!("pipeline error: {message:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let src = pipeline.by_name("src").unwrap();
    assert!(src.property::<bool>("rtp"));
    let mut encodings: Vec<String> = src
        .src_pads()
        .iter()
        .map(|pad| {
            let caps = pad.current_caps().expect("negotiated");
            let s = caps.structure(0).unwrap();
            assert_eq!(s.name(), "application/x-rtp", "{caps}");
            s.get::<String>("encoding-name").unwrap()
        })
        .collect();
    encodings.sort();
    assert_eq!(encodings, ["OPUS", "VP8"]);
    for player in players {
        player.abort();
    }
    drop(stopper);
    rt.block_on(call.leave()).unwrap();
    rt.block_on(server.shutdown());
}
