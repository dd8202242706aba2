//! Element messages the elements post on the bus, so applications can react.
//!
//! Every message is a `GST_MESSAGE_ELEMENT` whose structure is named
//! `rtcgate/<what>` (see `docs/gst-plugin.md`).

use gst::prelude::*;
use rtcgate_core::media::StallReport;
use rtcgate_core::signalling::{MemberInfo, MemberMeta};
use tokio::sync::{broadcast, watch};

/// Posts `rtcgate/<name>` with `fields` from `element`.
pub(crate) fn post(element: &impl IsA<gst::Element>, name: &str, fields: &[(&str, &str)]) {
    let mut s = gst::Structure::builder(format!("rtcgate/{name}"));
    for (key, value) in fields {
        s = s.field(*key, *value);
    }
    let message = gst::message::Element::builder(s.build())
        .src(element.as_ref())
        .build();
    let _ = element.as_ref().post_message(message);
}

/// `rtcgate/joined`: we are in the room.
pub(crate) fn joined(element: &impl IsA<gst::Element>, room: &str, self_id: &str) {
    post(element, "joined", &[("room", room), ("self-id", self_id)]);
}

/// `rtcgate/track-stalled`: a member's track receives packets but gave no
/// usable frame for about a second (`member-id`, `track-id`, `codec`,
/// `duration-ms`, `packets`, `dropped-depacketization`, `dropped-incomplete`,
/// `dropped-waiting-for-keyframe`, `message`).
pub(crate) fn track_stalled(element: &impl IsA<gst::Element>, report: &StallReport) {
    let s = gst::Structure::builder("rtcgate/track-stalled")
        .field("member-id", report.member.as_str())
        .field("track-id", report.track_id.as_str())
        .field("codec", report.codec.name())
        .field(
            "duration-ms",
            u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        )
        .field("packets", report.packets)
        .field("dropped-depacketization", report.drops.depacketization)
        .field("dropped-incomplete", report.drops.incomplete)
        .field(
            "dropped-waiting-for-keyframe",
            report.drops.waiting_for_keyframe,
        )
        .field("message", report.to_string())
        .build();
    let message = gst::message::Element::builder(s)
        .src(element.as_ref())
        .build();
    let _ = element.as_ref().post_message(message);
}

/// `rtcgate/member-joined` or `rtcgate/member-left`.
pub(crate) fn member(element: &impl IsA<gst::Element>, what: &str, member: &MemberInfo) {
    post(
        element,
        what,
        &[
            ("member-id", member.id.as_str()),
            ("display-name", member.name.as_str()),
        ],
    );
}

/// Posts `rtcgate/member-meta` (`member-id`, `meta` as a structure) for every
/// other member's metadata from `rx`, until `stop` is set or the session ends.
pub(crate) fn forward_member_meta<E: IsA<gst::Element> + Send + Sync>(
    element: gst::glib::WeakRef<E>,
    rx: Option<broadcast::Receiver<MemberMeta>>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(mut rx) = rx else {
        return;
    };
    tokio::spawn(async move {
        loop {
            let member = tokio::select! {
                _ = stop.changed() => return,
                member = rx.recv() => member,
            };
            match member {
                Ok(member) => {
                    let Some(element) = element.upgrade() else {
                        return;
                    };
                    let s = gst::Structure::builder("rtcgate/member-meta")
                        .field("member-id", member.id.as_str())
                        .field("meta", crate::meta::from_json(&member.meta))
                        .build();
                    let message = gst::message::Element::builder(s)
                        .src(element.upcast_ref::<gst::Element>())
                        .build();
                    let _ = element.post_message(message);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "member-meta messages dropped");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}
