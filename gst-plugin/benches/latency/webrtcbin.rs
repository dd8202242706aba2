//! The baseline: the same `… ! vp8enc` through `rtpvp8pay ! webrtcbin` in one
//! pipeline and `webrtcbin ! rtpvp8depay ! fakesink` in another, offer,
//! answer and ICE candidates handed over in-process (no signalling server).
//! Both webrtcbins keep their defaults (a 200 ms jitter buffer latency,
//! which holds only packets after a gap: in-order packets pass at once).

use gst::glib;
use gst::prelude::*;

use crate::measure::Stamps;
use crate::{Pair, SOURCE, fakesink};

const RTP_CAPS: &str =
    "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000";

/// Starts both pipelines and negotiates sender (offerer) → receiver.
pub fn start(stamps: &Stamps) -> Pair {
    let sender = gst::parse::launch(&format!(
        "{SOURCE} ! rtpvp8pay pt=96 mtu=1200 picture-id-mode=15-bit ! {RTP_CAPS} \
         ! webrtcbin name=send bundle-policy=max-bundle"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let send = sender.by_name("send").unwrap();
    stamps.watch_sent(&sender.by_name("enc").unwrap().static_pad("src").unwrap());

    let receiver = gst::Pipeline::new();
    let recv = gst::ElementFactory::make("webrtcbin")
        .property_from_str("bundle-policy", "max-bundle")
        .build()
        .unwrap();
    receiver.add(&recv).unwrap();
    let weak = receiver.downgrade();
    let received = stamps.clone();
    recv.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        if pad.direction() != gst::PadDirection::Src {
            return;
        }
        let depay = gst::ElementFactory::make("rtpvp8depay").build().unwrap();
        let sink = fakesink();
        pipeline.add_many([&depay, &sink]).unwrap();
        depay.link(&sink).unwrap();
        received.watch_received(&sink.static_pad("sink").unwrap());
        depay.sync_state_with_parent().unwrap();
        sink.sync_state_with_parent().unwrap();
        pad.link(&depay.static_pad("sink").unwrap()).unwrap();
    });

    exchange_candidates(&send, &recv);
    exchange_candidates(&recv, &send);
    let (offerer, answerer) = (send.clone(), recv.clone());
    send.connect("on-negotiation-needed", false, move |_| {
        negotiate(&offerer, &answerer);
        None
    });
    receiver.set_state(gst::State::Playing).unwrap();
    sender.set_state(gst::State::Playing).unwrap();
    Pair {
        sender,
        receiver,
        keep: Box::new(()),
    }
}

/// Hands every local candidate of `from` to `to`.
fn exchange_candidates(from: &gst::Element, to: &gst::Element) {
    let to = to.downgrade();
    from.connect("on-ice-candidate", false, move |values| {
        let mline = values[1].get::<u32>().unwrap();
        let candidate = values[2].get::<String>().unwrap();
        if let Some(to) = to.upgrade() {
            to.emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
        }
        None
    });
}

/// create-offer → both descriptions set → create-answer → both set. The
/// session descriptions travel as the `glib::Value`s webrtcbin returns.
fn negotiate(offerer: &gst::Element, answerer: &gst::Element) {
    let (offerer2, answerer2) = (offerer.clone(), answerer.clone());
    let on_offer = gst::Promise::with_change_func(move |reply| {
        let offer = description(reply, "offer");
        offerer2.emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
        answerer2.emit_by_name::<()>("set-remote-description", &[&offer, &None::<gst::Promise>]);
        let (offerer3, answerer3) = (offerer2.clone(), answerer2.clone());
        let on_answer = gst::Promise::with_change_func(move |reply| {
            let answer = description(reply, "answer");
            answerer3
                .emit_by_name::<()>("set-local-description", &[&answer, &None::<gst::Promise>]);
            offerer3
                .emit_by_name::<()>("set-remote-description", &[&answer, &None::<gst::Promise>]);
        });
        answerer2.emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, &on_answer]);
    });
    offerer.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &on_offer]);
}

/// The session description in a create-offer/create-answer reply.
fn description(
    reply: Result<Option<&gst::StructureRef>, gst::PromiseError>,
    field: &str,
) -> glib::Value {
    let reply = reply
        .unwrap_or_else(|e| panic!("create-{field} failed: {e:?}"))
        .unwrap_or_else(|| panic!("create-{field} gave no reply"));
    let value: &glib::Value = reply
        .value(field)
        .unwrap_or_else(|e| panic!("create-{field} reply {reply}: {e}"));
    value.clone()
}
