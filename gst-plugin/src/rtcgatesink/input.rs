//! One request pad of `rtcgatesink`: an `appsink` behind a ghost pad whose
//! samples go to a core `LocalTrack`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gst::prelude::*;
use rtcgate_core::media::H264Profile;
use rtcgate_core::{Call, Codec, LocalTrack, MediaKind, MediaSample};

use super::encoder;

use crate::caps;
use crate::runtime::{block_on, runtime};

/// Where inputs find the call (once joined) and register their tracks.
#[derive(Default)]
pub(crate) struct Publisher {
    pub call: Option<Call>,
    pub tracks: Vec<LocalTrack>,
}

impl Publisher {
    /// Adds `track`, now or when the call is joined.
    pub(crate) fn publish(publisher: &Arc<Mutex<Publisher>>, track: LocalTrack) {
        let mut p = publisher.lock().unwrap_or_else(|e| e.into_inner());
        p.tracks.push(track.clone());
        if let Some(call) = p.call.clone() {
            runtime().spawn(async move {
                if let Err(error) = call.add_track(&track).await {
                    tracing::warn!(%error, track = track.id(), "could not add a track");
                }
            });
        }
    }
}

/// The appsink and ghost pad of one request pad.
pub(crate) struct Input {
    pub appsink: gst_app::AppSink,
    pub pad: gst::GhostPad,
    pub track: Arc<Mutex<Option<LocalTrack>>>,
}

/// Creates the input for a request pad named `name` accepting `accepted`.
pub(crate) fn create(
    bin: &gst::Bin,
    templ: &gst::PadTemplate,
    name: &str,
    accepted: &gst::Caps,
    stream_id: String,
    publisher: Arc<Mutex<Publisher>>,
) -> Result<Input, gst::glib::BoolError> {
    let track: Arc<Mutex<Option<LocalTrack>>> = Arc::default();
    let appsink = gst_app::AppSink::builder()
        .property("name", format!("appsink_{name}"))
        .caps(accepted)
        .sync(true)
        .max_buffers(4)
        .build();
    let weak_bin = bin.downgrade();
    let track_id = name.to_owned();
    let slot = track.clone();
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |appsink| {
                let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let track = {
                    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
                    match slot.as_ref() {
                        Some(track) => track.clone(),
                        None => {
                            let track =
                                new_track(appsink, &sample, &track_id, &stream_id, &weak_bin)?;
                            Publisher::publish(&publisher, track.clone());
                            *slot = Some(track.clone());
                            track
                        }
                    }
                };
                let Some(media) = media_sample(sample) else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                if let Err(error) = block_on(async move { track.write_sample(&media).await }) {
                    tracing::debug!(%error, "sample not sent");
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    bin.add(&appsink)?;
    let target = appsink.static_pad("sink").expect("appsink has a sink pad");
    let kind = if templ.name_template().starts_with("video") {
        MediaKind::Video
    } else {
        MediaKind::Audio
    };
    // Raw input is taken too: the first raw caps put an encoder chain in
    // front of the appsink.
    let mut offered = accepted.clone();
    offered.merge(encoder::raw_caps(kind));
    let encoding = Arc::new(AtomicBool::new(false));
    let (query_offered, query_encoding) = (offered.clone(), encoding.clone());
    let (weak_bin, weak_sink, chain_accepted) =
        (bin.downgrade(), appsink.downgrade(), accepted.clone());
    let pad = gst::GhostPad::builder_from_template_with_target(templ, &target)?
        .name(name)
        .query_function(move |pad, parent, query| {
            if query_encoding.load(Ordering::SeqCst) {
                return gst::Pad::query_default(pad, parent, query);
            }
            match query.view_mut() {
                gst::QueryViewMut::Caps(q) => {
                    let caps = match q.filter() {
                        Some(filter) => filter
                            .intersect_with_mode(&query_offered, gst::CapsIntersectMode::First),
                        None => query_offered.clone(),
                    };
                    q.set_result(&caps);
                    true
                }
                gst::QueryViewMut::AcceptCaps(q) => {
                    let ok = q.caps().is_subset(&query_offered);
                    q.set_result(ok);
                    true
                }
                _ => gst::Pad::query_default(pad, parent, query),
            }
        })
        .event_function(move |pad, parent, event| {
            if let gst::EventView::Caps(c) = event.view()
                && encoder::is_raw(c.caps())
                && !encoding.load(Ordering::SeqCst)
                && let (Some(bin), Some(appsink)) = (weak_bin.upgrade(), weak_sink.upgrade())
            {
                match insert_encoder(&bin, pad, &appsink, kind, &chain_accepted) {
                    Ok(()) => encoding.store(true, Ordering::SeqCst),
                    Err(message) => {
                        tracing::warn!(%message, "no encoder chain");
                        gst::element_error!(bin, gst::CoreError::MissingPlugin, ("{}", message));
                        return false;
                    }
                }
            }
            gst::Pad::event_default(pad, parent, event)
        })
        .build();
    appsink.sync_state_with_parent()?;
    pad.set_active(true)?;
    bin.add_pad(&pad)?;
    Ok(Input {
        appsink,
        pad,
        track,
    })
}

/// Puts converter(s) and an encoder between `pad` and `appsink`.
fn insert_encoder(
    bin: &gst::Bin,
    pad: &gst::GhostPad,
    appsink: &gst_app::AppSink,
    kind: MediaKind,
    accepted: &gst::Caps,
) -> Result<(), String> {
    let elements = encoder::chain(kind, accepted)?;
    bin.add_many(&elements).map_err(|e| e.to_string())?;
    gst::Element::link_many(&elements).map_err(|e| e.to_string())?;
    // Retargeting unlinks the appsink from the ghost pad, so that the
    // encoder can link to it (this runs in the pad's caps event: no buffer
    // flows meanwhile).
    let first = elements[0].static_pad("sink").expect("a sink pad");
    pad.set_target(Some(&first)).map_err(|e| e.to_string())?;
    let last = elements.last().expect("an encoder");
    last.link(appsink).map_err(|e| e.to_string())?;
    for element in &elements {
        element
            .sync_state_with_parent()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The track for a pad whose first sample is `sample`, with a task that
/// turns the members' keyframe requests into force-key-unit events.
fn new_track(
    appsink: &gst_app::AppSink,
    sample: &gst::Sample,
    track_id: &str,
    stream_id: &str,
    bin: &gst::glib::WeakRef<gst::Bin>,
) -> Result<LocalTrack, gst::FlowError> {
    let codec = sample.caps().and_then(caps::caps_codec).ok_or_else(|| {
        if let Some(bin) = bin.upgrade() {
            gst::element_error!(
                bin,
                gst::StreamError::Format,
                ("Pad {} has no caps", track_id)
            );
        }
        gst::FlowError::NotNegotiated
    })?;
    let track = match codec {
        // Announce the profile the stream has: the caps say it (x264enc,
        // h264parse), or the first access unit's SPS does.
        Codec::H264 => match sample.caps().and_then(caps::h264_profile).or_else(|| {
            let buffer = sample.buffer()?.map_readable().ok()?;
            H264Profile::from_sps(&buffer)
        }) {
            Some(profile) => LocalTrack::h264(profile, track_id, stream_id),
            None => LocalTrack::new(codec, track_id, stream_id),
        },
        _ => LocalTrack::new(codec, track_id, stream_id),
    };
    let track = track.map_err(|error| {
        if let Some(bin) = bin.upgrade() {
            gst::element_error!(
                bin,
                gst::LibraryError::Failed,
                ("Could not make track {}: {}", track_id, error)
            );
        }
        gst::FlowError::Error
    })?;
    tracing::info!(track = track_id, codec = codec.name(), profile = ?track.h264_profile(), "rtcgatesink track");
    if codec.kind() == rtcgate_core::MediaKind::Video {
        let sinkpad = appsink.static_pad("sink").expect("appsink has a sink pad");
        let weak_pad = sinkpad.downgrade();
        let requests = track.clone();
        runtime().spawn(async move {
            loop {
                requests.keyframe_requested().await;
                let Some(pad) = weak_pad.upgrade() else {
                    return;
                };
                tracing::debug!(track = requests.id(), "keyframe requested");
                pad.push_event(force_key_unit());
                // Encoders need a moment; requests meanwhile are one.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
    Ok(track)
}

/// The upstream force-key-unit event (as `gst_video_event_new_upstream_force_key_unit`).
fn force_key_unit() -> gst::Event {
    gst::event::CustomUpstream::new(
        gst::Structure::builder("GstForceKeyUnit")
            .field("all-headers", true)
            .field("count", 0u32)
            .build(),
    )
}

/// The core sample for a GStreamer sample: its bytes (not copied) at its
/// running time.
fn media_sample(sample: gst::Sample) -> Option<MediaSample> {
    let segment = sample
        .segment()
        .and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned());
    let buffer = sample.buffer_owned()?;
    let pts = buffer.pts().or(buffer.dts());
    let running = match (segment, pts) {
        (Some(segment), Some(pts)) => segment.to_running_time(pts).or(Some(pts)),
        (None, pts) => pts,
        (_, None) => None,
    }
    .unwrap_or(gst::ClockTime::ZERO);
    let data = buffer.into_mapped_buffer_readable().ok()?;
    if data.is_empty() {
        return None;
    }
    Some(MediaSample::new(
        Bytes::from_owner(data),
        Duration::from_nanos(running.nseconds()),
    ))
}
