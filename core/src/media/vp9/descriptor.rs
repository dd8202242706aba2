//! The VP9 payload descriptor (RFC 9628 section 4.2): the bytes in front of
//! every VP9 RTP payload that say where a layer frame starts and ends, which
//! picture and layers it belongs to, what it predicts from, and, on key
//! pictures, the scalability structure of the stream.
//!
//! ```text
//!       0 1 2 3 4 5 6 7
//!      +-+-+-+-+-+-+-+-+
//!      |I|P|L|F|B|E|V|Z|  always
//!      +-+-+-+-+-+-+-+-+
//! I:   |M| PICTURE ID  |  7 or (M=1) 15 bits
//! M:   | EXTENDED PID  |
//!      +-+-+-+-+-+-+-+-+
//! L:   |  TID  |U| SID |D|   (TID 3 bits, SID 3 bits)
//!      +-+-+-+-+-+-+-+-+
//!      |   TL0PICIDX   |  L and not flexible (F=0)
//!      +-+-+-+-+-+-+-+-+
//! P,F: | P_DIFF      |N|  up to 3 times, flexible mode only
//!      +-+-+-+-+-+-+-+-+
//! V:   | SS ...        |  scalability structure (section 4.2.1)
//! ```
//!
//! Parsing is stateless: each packet's descriptor stands alone (rtc-rtp
//! 0.21's `Vp9Packet` kept the P_DIFF list across packets; see
//! `docs/architecture.md`).

use std::fmt;

/// At most this many reference indices (P_DIFF) follow one descriptor.
pub const MAX_REFERENCES: usize = 3;

/// Why a payload descriptor could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescriptorError {
    /// The payload ended inside the descriptor; names the field.
    Truncated(&'static str),
    /// More than [`MAX_REFERENCES`] P_DIFF octets (the N bit of the third was set).
    TooManyReferences,
    /// Nothing follows the descriptor.
    NoPayload,
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescriptorError::Truncated(field) => {
                write!(f, "VP9 payload descriptor truncated in {field}")
            }
            DescriptorError::TooManyReferences => {
                write!(
                    f,
                    "VP9 payload descriptor has more than {MAX_REFERENCES} references"
                )
            }
            DescriptorError::NoPayload => write!(f, "VP9 payload descriptor without payload"),
        }
    }
}

impl std::error::Error for DescriptorError {}

/// The layer indices octet (L=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerIndices {
    /// Temporal layer id (TID).
    pub temporal_id: u8,
    /// Switching up point (U): from this frame on, the temporal layer can be
    /// switched up to a higher one.
    pub switching_up: bool,
    /// Spatial layer id (SID).
    pub spatial_id: u8,
    /// Inter-layer dependency (D): this layer frame predicts from the
    /// spatial layer below in the same picture.
    pub inter_layer_dependency: bool,
}

/// One picture of the picture group described in a scalability structure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PictureGroupEntry {
    /// Temporal layer id of the picture.
    pub temporal_id: u8,
    /// Whether it is a switching up point.
    pub switching_up: bool,
    /// Reference indices (P_DIFF) of the picture.
    pub references: Vec<u8>,
}

/// The scalability structure (V=1, RFC 9628 section 4.2.1), sent on key
/// pictures: how many spatial layers the stream has, their sizes, and the
/// picture group of the non-flexible mode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScalabilityStructure {
    /// Number of spatial layers (N_S + 1).
    pub spatial_layers: u8,
    /// Width and height of each spatial layer, lowest first (empty when Y=0).
    pub resolutions: Vec<(u16, u16)>,
    /// The picture group (G=1); `None` when not described.
    pub picture_group: Option<Vec<PictureGroupEntry>>,
}

/// A parsed VP9 payload descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vp9Descriptor {
    /// Picture id (I=1), 7 or 15 bits.
    pub picture_id: Option<u16>,
    /// Whether the picture id has 15 bits (M=1).
    pub long_picture_id: bool,
    /// Inter-picture predicted (P): the frame predicts from an earlier picture.
    pub inter_picture_predicted: bool,
    /// Flexible mode (F): references are listed per frame.
    pub flexible: bool,
    /// Start of a layer frame (B).
    pub start_of_frame: bool,
    /// End of a layer frame (E).
    pub end_of_frame: bool,
    /// Not used for inter-layer prediction by the spatial layer above (Z).
    pub not_upper_reference: bool,
    /// Layer indices (L=1).
    pub layer: Option<LayerIndices>,
    /// Temporal layer 0 picture index (non-flexible mode with L=1).
    pub tl0_pic_idx: Option<u8>,
    /// Reference indices (P_DIFF, flexible mode with P=1): the frame predicts
    /// from the pictures this many picture ids back.
    pub references: Vec<u8>,
    /// The scalability structure (V=1).
    pub scalability: Option<ScalabilityStructure>,
    /// Length of the descriptor in bytes: the VP9 bitstream follows.
    pub len: usize,
}

impl Vp9Descriptor {
    /// Spatial layer id of the frame (0 without layer indices).
    pub fn spatial_id(&self) -> u8 {
        self.layer.map_or(0, |l| l.spatial_id)
    }

    /// Temporal layer id of the frame (0 without layer indices).
    #[allow(dead_code)] // for layer selection in the bridge (issue 17)
    pub fn temporal_id(&self) -> u8 {
        self.layer.map_or(0, |l| l.temporal_id)
    }

    /// Reads the descriptor at the start of `payload`; the VP9 bitstream
    /// starts at [`len`](Self::len), which is before the end of `payload`.
    pub fn parse(payload: &[u8]) -> Result<Vp9Descriptor, DescriptorError> {
        let mut r = Reader {
            data: payload,
            pos: 0,
        };
        let first = r.byte("the first octet")?;
        let bit = |n: u8| first & (1 << n) != 0;
        let (has_pid, has_layer, has_ss) = (bit(7), bit(5), bit(1));
        let mut d = Vp9Descriptor {
            inter_picture_predicted: bit(6),
            // RFC 9628 4.2: F must be 0 without a picture id and is ignored then.
            flexible: bit(4) && has_pid,
            start_of_frame: bit(3),
            end_of_frame: bit(2),
            not_upper_reference: bit(0),
            ..Default::default()
        };
        if has_pid {
            let b = r.byte("the picture id")?;
            if b & 0x80 != 0 {
                let low = r.byte("the extended picture id")?;
                d.picture_id = Some(u16::from(b & 0x7f) << 8 | u16::from(low));
                d.long_picture_id = true;
            } else {
                d.picture_id = Some(u16::from(b));
            }
        }
        if has_layer {
            let b = r.byte("the layer indices")?;
            d.layer = Some(LayerIndices {
                temporal_id: b >> 5,
                switching_up: b & 0x10 != 0,
                spatial_id: (b >> 1) & 0x07,
                inter_layer_dependency: b & 0x01 != 0,
            });
            if !d.flexible {
                d.tl0_pic_idx = Some(r.byte("TL0PICIDX")?);
            }
        }
        if d.flexible && d.inter_picture_predicted {
            loop {
                if d.references.len() == MAX_REFERENCES {
                    return Err(DescriptorError::TooManyReferences);
                }
                let b = r.byte("the reference indices")?;
                d.references.push(b >> 1);
                if b & 0x01 == 0 {
                    break;
                }
            }
        }
        if has_ss {
            d.scalability = Some(parse_scalability(&mut r)?);
        }
        d.len = r.pos;
        if d.len >= payload.len() {
            return Err(DescriptorError::NoPayload);
        }
        Ok(d)
    }
}

fn parse_scalability(r: &mut Reader<'_>) -> Result<ScalabilityStructure, DescriptorError> {
    let b = r.byte("the scalability structure")?;
    let spatial_layers = (b >> 5) + 1;
    let (has_sizes, has_group) = (b & 0x10 != 0, b & 0x08 != 0);
    let mut ss = ScalabilityStructure {
        spatial_layers,
        ..Default::default()
    };
    if has_sizes {
        for _ in 0..spatial_layers {
            let width = r.u16("a spatial layer's width")?;
            let height = r.u16("a spatial layer's height")?;
            ss.resolutions.push((width, height));
        }
    }
    if has_group {
        let count = r.byte("the picture group size")?;
        let mut group = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let b = r.byte("a picture group entry")?;
            let mut entry = PictureGroupEntry {
                temporal_id: b >> 5,
                switching_up: b & 0x10 != 0,
                references: Vec::new(),
            };
            for _ in 0..(b >> 2) & 0x03 {
                entry.references.push(r.byte("a picture group reference")?);
            }
            group.push(entry);
        }
        ss.picture_group = Some(group);
    }
    Ok(ss)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self, field: &'static str) -> Result<u8, DescriptorError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(DescriptorError::Truncated(field))?;
        self.pos += 1;
        Ok(b)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DescriptorError> {
        Ok(u16::from(self.byte(field)?) << 8 | u16::from(self.byte(field)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp_dump;

    fn descriptors(name: &str) -> Vec<Vp9Descriptor> {
        rtp_dump::read(name)
            .iter()
            .map(|p| Vp9Descriptor::parse(&p.payload).expect("descriptor"))
            .collect()
    }

    #[test]
    fn chromium_key_picture_with_three_spatial_layers() {
        let all = descriptors("chromium-vp9-l3t3-key.rtp");
        let first = &all[0];
        assert_eq!(first.picture_id, Some(18085));
        assert!(first.long_picture_id && first.flexible && first.start_of_frame);
        assert!(!first.inter_picture_predicted && !first.end_of_frame);
        assert_eq!(
            first.layer,
            Some(LayerIndices {
                temporal_id: 0,
                switching_up: true,
                spatial_id: 0,
                inter_layer_dependency: false,
            })
        );
        assert_eq!(first.tl0_pic_idx, None, "flexible mode has no TL0PICIDX");
        let ss = first.scalability.as_ref().expect("SS on the key picture");
        assert_eq!(ss.spatial_layers, 3);
        assert_eq!(ss.resolutions, vec![(320, 180), (640, 360), (1280, 720)]);
        assert_eq!(ss.picture_group, None);
        assert_eq!(first.len, 17);
        // The upper layers of the key picture predict from the layer below.
        let key_layers: Vec<_> = all
            .iter()
            .filter(|d| d.picture_id == Some(18085) && d.start_of_frame)
            .map(|d| (d.spatial_id(), d.layer.unwrap().inter_layer_dependency))
            .collect();
        assert_eq!(key_layers, vec![(0, false), (1, true), (2, true)]);
        // Delta pictures: temporal layers 2, 1, 2, … each with one reference.
        let delta = all
            .iter()
            .find(|d| d.picture_id == Some(18086))
            .expect("picture 18086");
        assert!(delta.inter_picture_predicted);
        assert_eq!(delta.temporal_id(), 2);
        assert_eq!(delta.references, vec![1]);
        assert!(delta.scalability.is_none());
    }

    /// rtc-rtp 0.21's `Vp9Packet` appended every packet's P_DIFF to one list
    /// and refused the third: every packet here stands alone.
    #[test]
    fn references_belong_to_their_own_packet() {
        let all = descriptors("chromium-vp9-l1t1.rtp");
        let inter: Vec<_> = all.iter().filter(|d| d.inter_picture_predicted).collect();
        assert!(inter.len() > 10);
        assert!(inter.iter().all(|d| d.references == vec![1]));
        // Frames in two packets repeat the reference in each.
        let continued = all
            .iter()
            .filter(|d| d.inter_picture_predicted && !d.start_of_frame)
            .count();
        assert!(continued >= 2, "{continued} continuation packets");
        assert!(all.iter().all(|d| d.layer.is_none()));
    }

    /// The upstream depacketizer this replaces fails on the same packets
    /// (drop this test when rtc-rtp fixes `Vp9Packet`).
    #[test]
    fn rtc_rtp_vp9_packet_still_fails_on_chromium_inter_frames() {
        use rtc::rtp::codec::vp9::Vp9Packet;
        use rtc::rtp::packetizer::Depacketizer;
        let mut upstream = Vp9Packet::default();
        let failures = rtp_dump::read("chromium-vp9-l1t1.rtp")
            .iter()
            .filter(|p| upstream.depacketize(&p.payload).is_err())
            .count();
        assert!(failures > 0, "rtc-rtp's Vp9Packet no longer fails");
    }

    /// A real inter packet's descriptor, rewritten to list `n` references.
    fn with_references(n: usize) -> Vec<u8> {
        let packet = &rtp_dump::read("chromium-vp9-l1t1.rtp")[4];
        let original = Vp9Descriptor::parse(&packet.payload).unwrap();
        assert_eq!(original.references.len(), 1);
        let reference_at = original.len - 1; // I, PID(2), then the P_DIFF octet
        let mut payload = packet.payload[..reference_at].to_vec();
        for i in 0..n {
            let more = u8::from(i + 1 < n);
            payload.push(((i as u8 + 1) << 1) | more);
        }
        payload.extend_from_slice(&packet.payload[original.len..]);
        payload
    }

    #[test]
    fn three_references_are_valid_and_a_fourth_is_not() {
        let two = Vp9Descriptor::parse(&with_references(2)).unwrap();
        assert_eq!(two.references, vec![1, 2]);
        let three = Vp9Descriptor::parse(&with_references(3)).unwrap();
        assert_eq!(three.references, vec![1, 2, 3]);
        assert_eq!(three.len, 3 + 3);
        assert_eq!(
            Vp9Descriptor::parse(&with_references(4)),
            Err(DescriptorError::TooManyReferences)
        );
    }

    #[test]
    fn non_flexible_mode_with_a_picture_group() {
        let all = descriptors("gstreamer-vp9-non-flexible.rtp");
        let first = &all[0];
        assert!(!first.flexible && first.start_of_frame && !first.end_of_frame);
        assert_eq!(first.picture_id, Some(4729));
        let ss = first.scalability.as_ref().expect("SS");
        assert_eq!(ss.spatial_layers, 1);
        assert_eq!(ss.resolutions, vec![(320, 240)]);
        assert_eq!(
            ss.picture_group,
            Some(vec![PictureGroupEntry {
                temporal_id: 0,
                switching_up: false,
                references: vec![1],
            }])
        );
        // Non-flexible mode lists no references in the packets themselves.
        assert!(all.iter().all(|d| d.references.is_empty()));
        assert!(all[4].inter_picture_predicted);
        assert_eq!(all.iter().filter(|d| d.end_of_frame).count(), 4);
    }

    #[test]
    fn scalability_structure_on_a_non_key_picture() {
        let d = &descriptors("chromium-vp9-l3t3-layer-added.rtp")[0];
        assert!(d.inter_picture_predicted);
        assert_eq!(d.references, vec![4]);
        let ss = d.scalability.as_ref().expect("SS");
        assert_eq!(ss.resolutions, vec![(320, 180), (640, 360)]);
        assert_eq!(d.len, 14);
    }

    #[test]
    fn truncated_descriptors_are_errors_not_panics() {
        for name in [
            "chromium-vp9-l3t3-key.rtp",
            "chromium-vp9-l1t1.rtp",
            "gstreamer-vp9-non-flexible.rtp",
            "chromium-vp9-l3t3-layer-added.rtp",
        ] {
            for packet in rtp_dump::read(name) {
                let full = Vp9Descriptor::parse(&packet.payload).unwrap();
                for cut in 0..=full.len {
                    assert!(Vp9Descriptor::parse(&packet.payload[..cut]).is_err());
                }
            }
        }
        assert_eq!(
            Vp9Descriptor::parse(&[0x80]),
            Err(DescriptorError::Truncated("the picture id"))
        );
    }
}
