//! One remote track's output: an `appsrc` in the bin behind a ghost pad,
//! fed with the track's frames.

use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use rtcgate_core::media::FrameSubscription;
use rtcgate_core::{EncodedFrame, MediaKind, RemoteTrack};
use tokio::sync::watch;

use crate::caps;

/// Latency reported for the outputs: frames are timestamped at arrival, so
/// this only has to cover the time they take from the network to a sink.
pub(crate) const LATENCY: gst::ClockTime = gst::ClockTime::from_mseconds(100);

/// The appsrc, payloader (with the `rtp` property) and ghost pad of one track.
pub(crate) struct Output {
    pub appsrc: gst_app::AppSrc,
    pub payloader: Option<gst::Element>,
    pub pad: gst::GhostPad,
}

impl Output {
    /// Its elements, upstream first.
    pub(crate) fn elements(&self) -> Vec<gst::Element> {
        let mut elements = vec![self.appsrc.clone().upcast()];
        elements.extend(self.payloader.clone());
        elements
    }
}

/// Creates the output `name` for a track whose first frame is `first`, adds
/// it to `bin` and returns it. With `rtp`, a payloader after the appsrc
/// makes it output `application/x-rtp` (`rtp::payloader`).
pub(crate) fn create(
    bin: &gst::Bin,
    name: &str,
    codec: rtcgate_core::Codec,
    first: &EncodedFrame,
    rtp: bool,
) -> Result<Output, glib::BoolError> {
    let caps = caps::frame_caps(codec, &first.data);
    tracing::debug!(pad = name, %caps, "rtcgatesrc output caps");
    let appsrc = gst_app::AppSrc::builder()
        .property("name", format!("appsrc_{name}"))
        .caps(&caps)
        .format(gst::Format::Time)
        .is_live(true)
        .do_timestamp(false)
        .min_latency(LATENCY.nseconds() as i64)
        .max_bytes(16 << 20)
        .property_from_str("leaky-type", "downstream")
        .build();
    bin.add(&appsrc)?;
    let payloader = if rtp {
        super::rtp::payloader(codec, name)?
    } else {
        None
    };
    if let Some(payloader) = &payloader {
        bin.add(payloader)?;
        appsrc.link(payloader)?;
    }
    let last = payloader.as_ref().unwrap_or(appsrc.upcast_ref());
    let target = last
        .static_pad("src")
        .expect("the last element has a src pad");
    let kind = if codec.kind() == MediaKind::Video {
        "video_%s_%u"
    } else {
        "audio_%s_%u"
    };
    let templ = bin
        .pad_template(kind)
        .expect("rtcgatesrc has its pad templates");
    let pad = gst::GhostPad::builder_from_template_with_target(&templ, &target)?
        .name(name)
        .build();
    // A pad nobody linked (a pipeline that wants only some tracks) drops
    // its buffers instead of failing the element with not-linked.
    pad.add_probe(gst::PadProbeType::BUFFER, |pad, _| {
        if pad.is_linked() {
            gst::PadProbeReturn::Ok
        } else {
            gst::PadProbeReturn::Drop
        }
    });
    if let Some(payloader) = &payloader {
        payloader.sync_state_with_parent()?;
    }
    appsrc.sync_state_with_parent()?;
    pad.set_active(true)?;
    bin.add_pad(&pad)?;
    Ok(Output {
        appsrc,
        payloader,
        pad,
    })
}

/// Maps a track's frame timestamps onto the element's running time: the
/// first frame is placed at the running time it arrived at, the others
/// follow by their own (RTP) timestamps.
pub(crate) struct Timeline {
    first_pts: gst::ClockTime,
    first_ts: Duration,
}

impl Timeline {
    /// A timeline anchored at `first`, which arrived at `first.received_at`.
    pub(crate) fn new(element: &gst::Element, first: &EncodedFrame) -> Self {
        let now = element
            .current_running_time()
            .unwrap_or(gst::ClockTime::ZERO);
        let age = Instant::now().saturating_duration_since(first.received_at);
        let first_pts = now.saturating_sub(gst::ClockTime::from_nseconds(age.as_nanos() as u64));
        Self {
            first_pts,
            first_ts: first.timestamp,
        }
    }

    /// The buffer for `frame`.
    pub(crate) fn buffer(&self, frame: &EncodedFrame, discont: bool) -> gst::Buffer {
        let offset = frame.timestamp.saturating_sub(self.first_ts);
        let mut buffer = gst::Buffer::from_slice(frame.data.clone());
        {
            let buffer = buffer.get_mut().expect("new buffer is writable");
            buffer
                .set_pts(self.first_pts + gst::ClockTime::from_nseconds(offset.as_nanos() as u64));
            if !frame.keyframe {
                buffer.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
            if discont || frame.discontinuity {
                buffer.set_flags(gst::BufferFlags::DISCONT);
            }
        }
        buffer
    }
}

/// Waits for a track's first decodable frame (video: a keyframe, asked for
/// with PLI every second until it comes). `None` when the track ended or
/// `stop` was set.
pub(crate) async fn first_frame(
    track: &RemoteTrack,
    frames: &mut FrameSubscription,
    stop: &mut watch::Receiver<bool>,
) -> Option<EncodedFrame> {
    let mut last_request: Option<Instant> = None;
    loop {
        let frame = next(frames, stop).await?;
        if frame.keyframe || track.kind() == MediaKind::Audio {
            return Some(frame);
        }
        if last_request.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
            last_request = Some(Instant::now());
            if let Err(error) = track.request_keyframe().await {
                tracing::debug!(%error, "keyframe request");
            }
        }
    }
}

/// The next frame, or `None` when the track ended or `stop` was set.
pub(crate) async fn next(
    frames: &mut FrameSubscription,
    stop: &mut watch::Receiver<bool>,
) -> Option<EncodedFrame> {
    if *stop.borrow() {
        return None;
    }
    tokio::select! {
        frame = frames.recv() => frame,
        _ = stop.changed() => None,
    }
}
