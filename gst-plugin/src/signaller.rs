//! The `signaller` child of every element, so that webrtcsink's spelling
//! `signaller::uri=ws://…` works (GstChildProxy): its `uri` property is the
//! element's `uri`.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

glib::wrapper! {
    /// The `signaller` child of the rtcgate elements: the embedded room
    /// protocol over WebSocket. Its `uri` property mirrors the element's.
    pub struct RtcGateSignaller(ObjectSubclass<imp::RtcGateSignaller>)
        @extends gst::Object;
}

impl RtcGateSignaller {
    /// A signaller whose `uri` is `element`'s.
    pub(crate) fn new(element: &gst::Element) -> Self {
        let signaller: Self = glib::Object::builder()
            .property("name", "signaller")
            .build();
        *signaller
            .imp()
            .element
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = element.downgrade();
        signaller
    }
}

mod imp {
    use super::*;

    /// Implementation of [`super::RtcGateSignaller`].
    #[derive(Default)]
    pub struct RtcGateSignaller {
        pub(super) element: Mutex<glib::WeakRef<gst::Element>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RtcGateSignaller {
        const NAME: &'static str = "GstRtcGateSignaller";
        type Type = super::RtcGateSignaller;
        type ParentType = gst::Object;
    }

    impl ObjectImpl for RtcGateSignaller {
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
                vec![
                    glib::ParamSpecString::builder("uri")
                        .nick("Signalling URI")
                        .blurb("WebSocket URL of the rtcgate signalling server (the element's uri)")
                        .default_value(Some(crate::connection::DEFAULT_URI))
                        .build(),
                ]
            });
            PROPERTIES.as_ref()
        }

        fn set_property(&self, _id: usize, value: &glib::Value, _pspec: &glib::ParamSpec) {
            let element = self
                .element
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .upgrade();
            if let Some(element) = element {
                element.set_property_from_value("uri", value);
            }
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            let element = self
                .element
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .upgrade();
            element
                .map(|e| e.property_value("uri"))
                .unwrap_or_else(|| pspec.default_value().clone())
        }
    }

    impl GstObjectImpl for RtcGateSignaller {}
}
