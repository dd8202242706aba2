//! What a forwarding decision needs to know about one RTP packet, read from
//! its payload descriptor without depacketizing and without allocating:
//! whether it starts a frame or a keyframe, its spatial and temporal layer,
//! whether it is a temporal switching-up point, and for VP8 where the picture
//! id and TL0PICIDX sit (a forwarding leg rewrites them).
//!
//! - VP8 (RFC 7741 section 4.2): the payload descriptor, then the first byte
//!   of the VP8 payload header (its P bit is 0 on keyframes).
//! - VP9 (RFC 9628 section 4.2): the first octets of the payload descriptor,
//!   read here for what layer selection needs (`media::vp9::descriptor`
//!   reads all of it, references and scalability structure included, for
//!   depacketizing).
//! - H.264 (RFC 6184): single NAL units, STAP-A and FU-A; IDR slices and
//!   sequence parameter sets start keyframes.
//! - AV1 (the AV1 RTP specification, section 4.4): the aggregation header's N
//!   bit starts a coded video sequence; OBU extension headers carry the layer ids.
//! - Opus: every packet stands alone.

use crate::codec::Codec;

/// Where the VP8 picture id and TL0PICIDX are in a payload, and their values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Vp8Ids {
    /// Picture id, 7 or 15 bits; `None` when the descriptor has none.
    pub picture_id: Option<u16>,
    /// Whether the picture id has 15 bits (M=1).
    pub long_picture_id: bool,
    /// Offset of the picture id's first byte in the payload.
    pub picture_id_at: usize,
    /// TL0PICIDX (L=1).
    pub tl0_pic_idx: Option<u8>,
    /// Offset of TL0PICIDX in the payload.
    pub tl0_at: usize,
}

/// The facts about one packet that layer selection and rewriting use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PacketInfo {
    /// The packet carries no media (empty payload, e.g. padding for bandwidth probing).
    pub empty: bool,
    /// First packet of a frame (VP8/VP9: of a picture's layer frame).
    pub frame_start: bool,
    /// Last packet of a layer frame (VP9 E bit; other codecs: the RTP marker).
    pub frame_end: bool,
    /// First packet of a frame that decodes without earlier frames of its
    /// layer: the point where a leg may start or switch to this stream.
    pub keyframe: bool,
    /// Spatial layer id (VP9, AV1; 0 otherwise).
    pub spatial_id: u8,
    /// Temporal layer id (VP8, VP9, AV1; 0 otherwise).
    pub temporal_id: u8,
    /// A temporal switching-up point (VP8 Y, VP9 U): frames of higher
    /// temporal layers may be added from here on.
    pub layer_sync: bool,
    /// VP8 picture ids (for rewriting).
    pub vp8: Option<Vp8Ids>,
    /// Where the codec's own bitstream starts in the payload (after the VP8
    /// payload descriptor; 0 for the other codecs).
    pub media_at: usize,
}

impl PacketInfo {
    /// Reads `payload` (an RTP payload of `codec`, padding removed); `marker`
    /// is the packet's RTP marker bit.
    pub(crate) fn read(codec: Codec, payload: &[u8], marker: bool) -> PacketInfo {
        let mut info = match codec {
            Codec::Opus => PacketInfo {
                frame_start: true,
                keyframe: true,
                ..Default::default()
            },
            Codec::Vp8 => vp8(payload),
            Codec::Vp9 => vp9(payload),
            Codec::H264 => h264(payload),
            Codec::Av1 => av1(payload),
        };
        if codec != Codec::Vp9 {
            info.frame_end = marker;
        }
        info.empty = payload.is_empty();
        if info.empty {
            info.frame_start = false;
            info.keyframe = false;
        }
        info
    }
}

/// VP8 payload descriptor (RFC 7741 4.2):
///
/// ```text
///      X R N S R PID      (PID: partition index, 3 bits)
///  X:  I L T K RSV
///  I:  M PICTURE ID (7 or 15 bits)
///  L:  TL0PICIDX
///  T/K: TID(2) Y(1) KEYIDX(5)
/// ```
fn vp8(payload: &[u8]) -> PacketInfo {
    let mut info = PacketInfo::default();
    let Some(&first) = payload.first() else {
        return info;
    };
    let start_of_partition = first & 0x10 != 0;
    let partition = first & 0x07;
    let mut at = 1;
    let mut ids = Vp8Ids::default();
    if first & 0x80 != 0 {
        let Some(&x) = payload.get(at) else {
            return info;
        };
        at += 1;
        if x & 0x80 != 0 {
            let Some(&b) = payload.get(at) else {
                return info;
            };
            ids.picture_id_at = at;
            if b & 0x80 != 0 {
                let Some(&low) = payload.get(at + 1) else {
                    return info;
                };
                ids.picture_id = Some(u16::from(b & 0x7f) << 8 | u16::from(low));
                ids.long_picture_id = true;
                at += 2;
            } else {
                ids.picture_id = Some(u16::from(b));
                at += 1;
            }
        }
        if x & 0x40 != 0 {
            let Some(&tl0) = payload.get(at) else {
                return info;
            };
            ids.tl0_at = at;
            ids.tl0_pic_idx = Some(tl0);
            at += 1;
        }
        if x & 0x30 != 0 {
            let Some(&tk) = payload.get(at) else {
                return info;
            };
            if x & 0x20 != 0 {
                info.temporal_id = tk >> 6;
                info.layer_sync = tk & 0x20 != 0;
            }
            at += 1;
        }
    }
    info.frame_start = start_of_partition && partition == 0;
    // The VP8 payload header's P bit (inverse key frame flag) is 0 on keyframes.
    info.keyframe = info.frame_start && payload.get(at).is_some_and(|b| b & 0x01 == 0);
    info.media_at = at;
    if info.keyframe {
        info.layer_sync = true;
    }
    info.vp8 = Some(ids);
    info
}

/// The first octets of the VP9 payload descriptor (RFC 9628 4.2):
/// `I|P|L|F|B|E|V|Z`, the picture id, then the layer indices `TID(3) U SID(3) D`.
fn vp9(payload: &[u8]) -> PacketInfo {
    let mut info = PacketInfo::default();
    let Some(&first) = payload.first() else {
        return info;
    };
    let inter_picture = first & 0x40 != 0;
    info.frame_start = first & 0x08 != 0;
    info.frame_end = first & 0x04 != 0;
    let mut at = 1;
    if first & 0x80 != 0 {
        match payload.get(at) {
            Some(b) if b & 0x80 != 0 => at += 2,
            Some(_) => at += 1,
            None => return info,
        }
    }
    if first & 0x20 != 0 {
        let Some(&b) = payload.get(at) else {
            return info;
        };
        info.temporal_id = b >> 5;
        info.layer_sync = b & 0x10 != 0;
        info.spatial_id = (b >> 1) & 0x07;
    }
    // A layer frame that predicts from no earlier picture: the base layer of
    // a key picture, or an upper layer that at most predicts from the layer
    // below in the same picture (which a leg switching up forwards as well).
    info.keyframe = info.frame_start && !inter_picture;
    if info.keyframe {
        info.layer_sync = true;
    }
    info
}

/// H.264: an IDR slice or a sequence parameter set at the start of the
/// packet (single NAL unit, STAP-A, or the first fragment of an FU-A).
fn h264(payload: &[u8]) -> PacketInfo {
    let mut info = PacketInfo::default();
    let Some(&first) = payload.first() else {
        return info;
    };
    let starts_key = |nal_type: u8| nal_type == 5 || nal_type == 7;
    match first & 0x1f {
        24 => {
            // STAP-A: [size(2) NAL]...
            info.frame_start = true;
            let mut at = 1;
            while at + 2 < payload.len() {
                let size = usize::from(u16::from_be_bytes([payload[at], payload[at + 1]]));
                if size == 0 {
                    break;
                }
                if starts_key(payload[at + 2] & 0x1f) {
                    info.keyframe = true;
                    break;
                }
                at += 2 + size;
            }
        }
        28 => {
            // FU-A: indicator, then S E R type.
            if let Some(&fu) = payload.get(1) {
                info.frame_start = fu & 0x80 != 0;
                info.keyframe = info.frame_start && starts_key(fu & 0x1f);
            }
        }
        nal_type @ 1..=23 => {
            info.frame_start = true;
            info.keyframe = starts_key(nal_type);
        }
        _ => {}
    }
    info
}

/// AV1: the aggregation header `Z Y W(2) N ...`; the first OBU that starts in
/// the packet gives the layer ids (its extension header).
fn av1(payload: &[u8]) -> PacketInfo {
    let mut info = PacketInfo::default();
    let Some(&aggregation) = payload.first() else {
        return info;
    };
    let continues = aggregation & 0x80 != 0;
    let count = (aggregation >> 4) & 0x03;
    info.frame_start = !continues;
    info.keyframe = aggregation & 0x08 != 0;
    // The first OBU element: a continued fragment (Z=1) has no OBU header.
    let mut at = 1;
    if continues {
        return info;
    }
    if count != 1 {
        // Elements are preceded by their LEB128 length (W=0 or more than one element).
        while payload.get(at).is_some_and(|b| b & 0x80 != 0) {
            at += 1;
        }
        at += 1;
    }
    if let Some(&header) = payload.get(at)
        && header & 0x04 != 0
        && let Some(&extension) = payload.get(at + 1)
    {
        info.temporal_id = extension >> 5;
        info.spatial_id = (extension >> 3) & 0x03;
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VP8 payload: descriptor with a 15-bit picture id, TL0PICIDX and TID,
    /// then a payload header byte.
    fn vp8_packet(
        start: bool,
        picture_id: u16,
        tl0: u8,
        tid: u8,
        sync: bool,
        key: bool,
    ) -> Vec<u8> {
        vec![
            0x80 | if start { 0x10 } else { 0 },
            0x80 | 0x40 | 0x20,
            0x80 | (picture_id >> 8) as u8,
            picture_id as u8,
            tl0,
            tid << 6 | if sync { 0x20 } else { 0 },
            if key { 0x10 } else { 0x11 },
            0x02,
        ]
    }

    #[test]
    fn vp8_descriptor_fields_and_keyframes() {
        let key = PacketInfo::read(
            Codec::Vp8,
            &vp8_packet(true, 0x1234, 7, 0, false, true),
            false,
        );
        assert!(key.frame_start && key.keyframe && key.layer_sync);
        let ids = key.vp8.unwrap();
        assert_eq!(ids.picture_id, Some(0x1234));
        assert!(ids.long_picture_id);
        assert_eq!(
            (ids.picture_id_at, ids.tl0_at, ids.tl0_pic_idx),
            (2, 4, Some(7))
        );

        let delta = PacketInfo::read(Codec::Vp8, &vp8_packet(true, 5, 8, 2, true, false), true);
        assert!(delta.frame_start && !delta.keyframe && delta.frame_end);
        assert_eq!((delta.temporal_id, delta.layer_sync), (2, true));

        let middle = PacketInfo::read(Codec::Vp8, &vp8_packet(false, 5, 8, 2, false, true), false);
        assert!(!middle.frame_start && !middle.keyframe);

        // Minimal descriptor (no extensions): a keyframe with the payload header right after.
        let plain = PacketInfo::read(Codec::Vp8, &[0x10, 0x10, 0x02], false);
        assert!(plain.keyframe);
        assert_eq!(plain.vp8.unwrap().picture_id, None);
        // Truncated descriptors are not keyframes and do not panic.
        for len in 0..7 {
            let p = vp8_packet(true, 0x1234, 7, 0, false, true);
            assert!(!PacketInfo::read(Codec::Vp8, &p[..len], false).keyframe);
        }
    }

    #[test]
    fn vp9_layers_and_key_pictures() {
        // I P L F B E V Z, 15-bit picture id, layer indices TID U SID D, TL0PICIDX.
        let layer = |tid: u8, u: bool, sid: u8, d: bool| {
            tid << 5 | u8::from(u) << 4 | sid << 1 | u8::from(d)
        };
        let key_base = [0xA8, 0x80, 0x01, layer(0, false, 0, false), 0, 0x82];
        let info = PacketInfo::read(Codec::Vp9, &key_base, false);
        assert!(info.keyframe && info.frame_start && !info.frame_end);
        let key_upper = [0xAC, 0x80, 0x01, layer(0, false, 2, true), 0, 0x82];
        let info = PacketInfo::read(Codec::Vp9, &key_upper, false);
        assert!(info.keyframe && info.frame_end);
        assert_eq!(info.spatial_id, 2);
        let inter = [0xEC, 0x80, 0x02, layer(2, true, 1, false), 0, 0x86];
        let info = PacketInfo::read(Codec::Vp9, &inter, true);
        assert!(!info.keyframe);
        assert_eq!(
            (info.temporal_id, info.spatial_id, info.layer_sync),
            (2, 1, true)
        );
        // An upper layer frame of an inter picture predicts from its past.
        let upper_inter = [0x68, layer(0, false, 1, false), 0, 0x82];
        assert!(!PacketInfo::read(Codec::Vp9, &upper_inter, false).keyframe);
    }

    #[test]
    fn h264_keyframes_in_every_packetization() {
        assert!(PacketInfo::read(Codec::H264, &[0x65, 0x88], false).keyframe);
        assert!(!PacketInfo::read(Codec::H264, &[0x41, 0x9a], false).keyframe);
        // STAP-A with SPS + PPS.
        let stap = [0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce];
        assert!(PacketInfo::read(Codec::H264, &stap, false).keyframe);
        // FU-A: start of an IDR slice, middle of one, start of a P slice.
        assert!(PacketInfo::read(Codec::H264, &[0x7c, 0x85, 0], false).keyframe);
        assert!(!PacketInfo::read(Codec::H264, &[0x7c, 0x05, 0], false).keyframe);
        assert!(!PacketInfo::read(Codec::H264, &[0x7c, 0x81, 0], false).keyframe);
        assert!(PacketInfo::read(Codec::H264, &[0x7c, 0x81, 0], false).frame_start);
    }

    #[test]
    fn av1_new_sequences_and_layer_ids() {
        // N=1, W=1: one OBU without length; sequence header with an extension.
        // Extension byte: temporal id 2 (3 bits), spatial id 1 (2 bits), reserved.
        let key = [0x18, 0x0c, (2 << 5) | (1 << 3), 0];
        let info = PacketInfo::read(Codec::Av1, &key, false);
        assert!(info.keyframe && info.frame_start);
        assert_eq!((info.temporal_id, info.spatial_id), (2, 1));
        // W=0: a length before the OBU; frame OBU with extension tid 1 sid 0.
        let delta = [0x00, 0x03, 0x34, 1 << 5, 0];
        let info = PacketInfo::read(Codec::Av1, &delta, true);
        assert!(!info.keyframe && info.frame_end);
        assert_eq!(info.temporal_id, 1);
        // Z=1: a continued fragment.
        assert!(!PacketInfo::read(Codec::Av1, &[0x90, 1, 2], false).frame_start);
    }

    #[test]
    fn empty_payloads_carry_nothing() {
        for codec in [Codec::Opus, Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
            let info = PacketInfo::read(codec, &[], true);
            assert!(
                info.empty && !info.keyframe && !info.frame_start,
                "{codec:?}"
            );
        }
    }
}
