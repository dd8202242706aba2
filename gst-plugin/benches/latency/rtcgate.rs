//! The rtcgate stack: `… ! vp8enc ! rtcgatesink` in one pipeline,
//! `rtcgatesrc ! fakesink` in another, one room of an embedded signalling
//! server (all in this process).

use std::net::SocketAddr;

use gst::prelude::*;
use rtcgate_core::signalling::{ServerConfig, SignallingServer};

use crate::measure::Stamps;
use crate::{Pair, SOURCE, fakesink};

/// Starts the server and both pipelines; the receiver joins first.
pub fn start(stamps: &Stamps) -> Pair {
    gstrtcgate::plugin_register_static().expect("register the rtcgate plugin");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(SignallingServer::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            ServerConfig::default(),
        ))
        .expect("bind signalling server");
    let url = server.url();

    let receiver = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtcgatesrc")
        .property("uri", &url)
        .property("room", "bench")
        .build()
        .unwrap();
    receiver.add(&src).unwrap();
    let weak = receiver.downgrade();
    let received = stamps.clone();
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        if !pad.name().starts_with("video_") {
            return;
        }
        let sink = fakesink();
        pipeline.add(&sink).unwrap();
        sink.sync_state_with_parent().unwrap();
        let sink_pad = sink.static_pad("sink").unwrap();
        received.watch_received(&sink_pad);
        pad.link(&sink_pad).unwrap();
    });
    receiver.set_state(gst::State::Playing).unwrap();

    let sender = gst::parse::launch(&format!(
        "{SOURCE} ! sink.video_0 rtcgatesink name=sink uri={url} room=bench"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    if std::env::var_os("RTCGATE_BENCH_NO_SINK_SYNC").is_some() {
        // Diagnostic only: rtcgatesink's pad appsink without clock sync, to
        // see how much of the latency that sync is (docs/benchmarks-gst.md).
        let sink = sender.by_name("sink").unwrap();
        let appsink = sink
            .downcast_ref::<gst::Bin>()
            .unwrap()
            .by_name("appsink_video_0")
            .expect("rtcgatesink's appsink for video_0");
        appsink.set_property("sync", false);
    }
    let enc = sender.by_name("enc").unwrap();
    stamps.watch_sent(&enc.static_pad("src").unwrap());
    sender.set_state(gst::State::Playing).unwrap();

    Pair {
        sender,
        receiver,
        keep: Box::new((rt, server)),
    }
}
