//! Element messages the elements post on the bus, so applications can react.
//!
//! Every message is a `GST_MESSAGE_ELEMENT` whose structure is named
//! `rtcgate/<what>` (see `docs/gst-plugin.md`).

use gst::prelude::*;
use rtcgate_core::signalling::MemberInfo;

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
