//! [`ExtensionMap`]: which RTP header extensions of a forwarded packet go on
//! to a leg, and under which id.
//!
//! Ids are per connection (`a=extmap`), so an extension is matched by URI:
//! one the publisher's connection and the leg's connection both negotiated
//! goes out under the leg's id; others are dropped. Extensions that belong
//! to one hop are never forwarded, even when both sides negotiated them:
//! the stack that sends the leg writes its own (MID, RID, repaired RID,
//! transport-wide sequence numbers, absolute send time, transmission time
//! offset), and the dependency descriptor describes every layer of the
//! publisher's stream, which a leg that drops layers would misstate.

/// Extensions that describe one hop, or a stream a leg may cut down.
const NOT_FORWARDED: &[&str] = &[
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:toffset",
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
];

/// Source extension id → leg extension id (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ExtensionMap {
    /// Indexed by source id (1–255); 0: not forwarded.
    to_leg: Vec<u8>,
}

impl ExtensionMap {
    /// The map between the `source` and `leg` negotiations (URI, id).
    pub(crate) fn new<'a>(
        source: impl IntoIterator<Item = (&'a str, u16)>,
        leg: &[(&str, u16)],
    ) -> Self {
        let mut to_leg = Vec::new();
        for (uri, source_id) in source {
            if NOT_FORWARDED.contains(&uri) || source_id == 0 || source_id > 255 {
                continue;
            }
            let Some(&(_, leg_id)) = leg.iter().find(|(u, _)| *u == uri) else {
                continue;
            };
            if leg_id == 0 || leg_id > 255 {
                continue;
            }
            let index = usize::from(source_id as u8);
            if to_leg.len() <= index {
                to_leg.resize(index + 1, 0);
            }
            to_leg[index] = leg_id as u8;
        }
        Self { to_leg }
    }

    /// The leg's id for source extension `id`, if it goes on.
    pub(crate) fn leg_id(&self, id: u8) -> Option<u8> {
        self.to_leg
            .get(usize::from(id))
            .copied()
            .filter(|&id| id != 0)
    }

    /// Whether nothing is forwarded (the common case: no allocation per packet).
    pub(crate) fn is_empty(&self) -> bool {
        self.to_leg.iter().all(|&id| id == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
    const ORIENTATION: &str = "urn:3gpp:video-orientation";
    const MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

    #[test]
    fn extensions_are_matched_by_uri_and_hop_by_hop_ones_dropped() {
        let source = [
            (MID, 1),
            (AUDIO_LEVEL, 3),
            (ORIENTATION, 4),
            ("urn:x-unknown", 5),
        ];
        let leg = [(MID, 9), (AUDIO_LEVEL, 1), ("urn:x-other", 5)];
        let map = ExtensionMap::new(source, &leg);
        assert_eq!(map.leg_id(3), Some(1));
        assert_eq!(map.leg_id(1), None, "MID is the leg's own");
        assert_eq!(map.leg_id(4), None, "not negotiated on the leg");
        assert_eq!(map.leg_id(5), None, "another URI under the same id");
        assert_eq!(map.leg_id(200), None);
        assert!(!map.is_empty());
        assert!(ExtensionMap::new([(MID, 1)], &[(MID, 1)]).is_empty());
    }
}
