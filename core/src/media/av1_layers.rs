//! Spatial layer selection in an AV1 temporal unit: the OBUs of spatial
//! layers above the chosen one are left out, as an SFU forwarding the lower
//! layers would (their OBU extension headers carry the layer ids; Chromium
//! 156 sends `L1T3`/`L3T3` with them and without the dependency descriptor
//! extension, which rtcgate does not negotiate).

use bytes::Bytes;

use super::bitstream::av1_obus;

/// `unit` without the OBUs of spatial layers above `max` (OBUs without an
/// extension header belong to every layer and stay).
pub(crate) fn keep_spatial_layers(unit: Bytes, max: u8) -> Bytes {
    let above = |whole: &[u8]| {
        let header = whole[0];
        header & 0x04 != 0 && whole.get(1).is_some_and(|ext| (ext >> 3) & 0x03 > max)
    };
    if !av1_obus(&unit).any(|obu| above(obu.whole)) {
        return unit;
    }
    let mut out = Vec::with_capacity(unit.len());
    for obu in av1_obus(&unit) {
        if !above(obu.whole) {
            out.extend_from_slice(obu.whole);
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::media::frame_assembler::FrameAssembler;

    /// Chromium's AV1 L3T3, reassembled with spatial layers up to `max`.
    fn units(max: Option<u8>) -> Vec<Bytes> {
        let mut a = FrameAssembler::new(Codec::Av1, FrameAssembler::DEFAULT_WINDOW);
        a.set_max_spatial_layer(max);
        for packet in crate::media::rtp_dump::read("chromium-av1-l3t3.rtp") {
            a.push(packet);
        }
        a.flush();
        std::iter::from_fn(|| a.poll_frame())
            .map(|f| f.data)
            .collect()
    }

    fn spatial_ids(unit: &[u8]) -> Vec<u8> {
        av1_obus(unit)
            .filter(|o| o.whole[0] & 0x04 != 0)
            .map(|o| (o.whole[1] >> 3) & 0x03)
            .collect()
    }

    #[test]
    fn upper_spatial_layers_are_left_out() {
        let all = units(None);
        assert!(
            all.iter().any(|u| spatial_ids(u).contains(&2)),
            "the vector has S2"
        );
        for max in [0, 1] {
            let kept = units(Some(max));
            assert_eq!(kept.len(), all.len(), "every temporal unit stays");
            for (unit, whole) in kept.iter().zip(&all) {
                assert!(spatial_ids(unit).iter().all(|&s| s <= max));
                let expected: Vec<u8> = spatial_ids(whole)
                    .into_iter()
                    .filter(|&s| s <= max)
                    .collect();
                assert_eq!(spatial_ids(unit), expected);
            }
        }
        // The sequence header (no extension) stays with the first unit.
        assert!(crate::media::keyframe::is_keyframe(
            Codec::Av1,
            &units(Some(0))[0]
        ));
    }
}
