//! Raw input: an encoder chain picked by rank, as webrtcsink does, in front
//! of a pad's appsink.

use gst::prelude::*;
use rtcgate_core::MediaKind;

/// Caps of raw media of `kind`.
pub(crate) fn raw_caps(kind: MediaKind) -> gst::Caps {
    gst::Caps::builder(match kind {
        MediaKind::Video => "video/x-raw",
        MediaKind::Audio => "audio/x-raw",
    })
    .build()
}

/// True for raw audio or video caps.
pub(crate) fn is_raw(caps: &gst::CapsRef) -> bool {
    caps.structure(0)
        .is_some_and(|s| s.name().as_str().ends_with("/x-raw"))
}

/// The highest-ranked encoder of `kind` that can produce one of `accepted`.
fn pick_encoder(kind: MediaKind, accepted: &gst::Caps) -> Option<gst::ElementFactory> {
    let type_ = match kind {
        MediaKind::Video => gst::ElementFactoryType::VIDEO_ENCODER,
        MediaKind::Audio => gst::ElementFactoryType::AUDIO_ENCODER,
    };
    let mut factories: Vec<gst::ElementFactory> =
        gst::ElementFactory::factories_with_type(type_, gst::Rank::MARGINAL)
            .into_iter()
            .collect();
    factories.sort_by_key(|f| std::cmp::Reverse(f.rank()));
    factories.into_iter().find(|f| {
        f.static_pad_templates()
            .iter()
            .any(|t| t.direction() == gst::PadDirection::Src && t.caps().can_intersect(accepted))
    })
}

/// Sets `name` to `value` on `element` when it has that property.
fn tune(element: &gst::Element, name: &str, value: &str) {
    if element.find_property(name).is_some() {
        element.set_property_from_str(name, value);
    }
}

/// Converter(s) and an encoder for raw `kind` into one of `accepted`,
/// linked in order (not yet in a bin).
pub(crate) fn chain(kind: MediaKind, accepted: &gst::Caps) -> Result<Vec<gst::Element>, String> {
    let factory = pick_encoder(kind, accepted)
        .ok_or_else(|| format!("no {} encoder for {accepted}", kind.as_str()))?;
    let encoder = factory
        .create()
        .build()
        .map_err(|e| format!("could not make {}: {e}", factory.name()))?;
    // Real-time settings of the usual encoders.
    match factory.name().as_str() {
        "vp8enc" | "vp9enc" => {
            tune(&encoder, "deadline", "1");
            tune(&encoder, "cpu-used", "8");
        }
        "x264enc" => {
            tune(&encoder, "tune", "zerolatency");
            tune(&encoder, "speed-preset", "ultrafast");
        }
        "av1enc" => {
            tune(&encoder, "usage-profile", "realtime");
            tune(&encoder, "cpu-used", "8");
        }
        _ => {}
    }
    tracing::info!(encoder = %factory.name(), "rtcgatesink encodes raw {}", kind.as_str());
    let names: &[&str] = match kind {
        MediaKind::Video => &["videoconvert"],
        MediaKind::Audio => &["audioconvert", "audioresample"],
    };
    let mut elements = Vec::new();
    for name in names {
        elements.push(
            gst::ElementFactory::make(name)
                .build()
                .map_err(|e| format!("could not make {name}: {e}"))?,
        );
    }
    elements.push(encoder);
    Ok(elements)
}
