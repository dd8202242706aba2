//! VP9 into RTP payloads (RFC 9628) the way Chromium sends it: flexible
//! mode with a 15-bit picture id, one reference to the previous picture on
//! predicted frames, the scalability structure (with the layer sizes) on
//! key pictures. A sample holding the spatial layers of a picture (a libvpx
//! SVC superframe: frames of increasing size) is sent one layer frame after
//! the other with their layer indices; any other sample as one frame.

use bytes::{BufMut, Bytes, BytesMut};
use rtc::rtp::packetizer::Payloader;

use super::frame_header::{FrameHeader, RefSlots};
use super::superframe;

/// Sends VP9 samples as RTP payloads.
#[derive(Debug, Clone)]
pub struct Vp9Payloader {
    picture_id: u16,
    slots: RefSlots,
}

impl Default for Vp9Payloader {
    fn default() -> Self {
        Self {
            picture_id: rand::random::<u16>() & 0x7fff,
            slots: RefSlots::default(),
        }
    }
}

/// One frame to send and what its descriptor says.
struct LayerFrame<'a> {
    data: &'a [u8],
    key: bool,
    predicted: bool,
    size: Option<(u32, u32)>,
}

impl Vp9Payloader {
    /// The frames of `sample` to send as layers of one picture: the frames
    /// of a superframe whose frames grow in size (spatial layers), else the
    /// whole sample as one frame.
    fn layers<'a>(&mut self, sample: &'a [u8]) -> Vec<LayerFrame<'a>> {
        let frames = superframe::split(sample);
        let mut slots = self.slots;
        let mut parsed = Vec::with_capacity(frames.len());
        for frame in &frames {
            let Some(header) = FrameHeader::parse(frame, &slots) else {
                break;
            };
            slots.update(&header);
            parsed.push((*frame, header));
        }
        let growing = parsed.len() == frames.len()
            && frames.len() > 1
            && parsed.windows(2).all(|w| match (w[0].1.size, w[1].1.size) {
                (Some((w0, h0)), Some((w1, h1))) => w1 > w0 && h1 > h0,
                _ => false,
            });
        if growing {
            self.slots = slots;
            let key = parsed[0].1.key;
            return parsed
                .into_iter()
                .map(|(data, h)| LayerFrame {
                    data,
                    key: h.key,
                    // Upper layers of a key picture predict from the layer
                    // below, not from an earlier picture.
                    predicted: !key,
                    size: h.size,
                })
                .collect();
        }
        // One frame (or a superframe of one layer, such as a hidden
        // alt-ref and its shown frame): the first header tells the type.
        let header = FrameHeader::parse(sample, &self.slots);
        for (_, h) in &parsed {
            self.slots.update(h);
        }
        let key = header.is_some_and(|h| h.key);
        vec![LayerFrame {
            data: sample,
            key,
            predicted: header.is_some_and(|h| !h.key && !h.intra_only),
            size: header.and_then(|h| h.size),
        }]
    }
}

impl Payloader for Vp9Payloader {
    fn payload(&mut self, mtu: usize, sample: &Bytes) -> rtc::shared::error::Result<Vec<Bytes>> {
        if sample.is_empty() {
            return Ok(Vec::new());
        }
        let layers = self.layers(sample);
        let spatial = layers.len() > 1;
        let picture_id = self.picture_id;
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        let mut out = Vec::new();
        for (sid, layer) in layers.iter().enumerate() {
            // The scalability structure on the first packet of a key picture.
            let ss = (sid == 0 && layers[0].key).then(|| {
                let mut ss = vec![(((layers.len() - 1) as u8) << 5) | 0x10];
                for l in &layers {
                    let (w, h) = l.size.unwrap_or((0, 0));
                    ss.extend_from_slice(&(w as u16).to_be_bytes());
                    ss.extend_from_slice(&(h as u16).to_be_bytes());
                }
                ss
            });
            let fixed = 3 + usize::from(spatial) + usize::from(layer.predicted);
            let first_overhead = fixed + ss.as_ref().map_or(0, Vec::len);
            if mtu <= first_overhead {
                return Err(rtc::shared::error::Error::ErrShortPacket);
            }
            let mut rest = layer.data;
            let mut first = true;
            while !rest.is_empty() {
                let overhead = if first { first_overhead } else { fixed };
                let take = rest.len().min(mtu - overhead);
                let (chunk, tail) = rest.split_at(take);
                let mut b = BytesMut::with_capacity(overhead + take);
                let mut head = 0x80 | 0x10; // I, F
                if layer.predicted {
                    head |= 0x40; // P
                }
                if spatial {
                    head |= 0x20; // L
                }
                if first {
                    head |= 0x08; // B
                }
                if tail.is_empty() {
                    head |= 0x04; // E
                }
                if first && ss.is_some() {
                    head |= 0x02; // V
                }
                b.put_u8(head);
                b.put_u16(0x8000 | picture_id); // M, 15-bit picture id
                if spatial {
                    // TID 0, U 0, SID, D: upper layers depend on the one below.
                    b.put_u8(((sid as u8) << 1) | u8::from(sid > 0));
                }
                if layer.predicted {
                    b.put_u8(1 << 1); // P_DIFF 1: the previous picture
                }
                if first && let Some(ss) = &ss {
                    b.put_slice(ss);
                }
                b.put_slice(chunk);
                out.push(b.freeze());
                rest = tail;
                first = false;
            }
        }
        Ok(out)
    }

    fn clone_to(&self) -> Box<dyn Payloader> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp_dump;
    use crate::media::vp9::descriptor::Vp9Descriptor;
    use crate::media::vp9::{Vp9Depacketizer, superframe};

    /// Chromium's L3T3_KEY pictures as an SVC encoder hands them over: a
    /// superframe of the layer frames as sent (every layer shown).
    fn chromium_superframes() -> Vec<Vec<u8>> {
        let mut pictures = Vec::new();
        let mut layers: Vec<Vec<u8>> = Vec::new();
        let mut current = Vec::new();
        for packet in rtp_dump::read("chromium-vp9-l3t3-key.rtp") {
            let d = Vp9Descriptor::parse(&packet.payload).unwrap();
            current.extend_from_slice(&packet.payload[d.len..]);
            if d.end_of_frame {
                layers.push(std::mem::take(&mut current));
            }
            if packet.header.marker {
                let refs: Vec<&[u8]> = layers.iter().map(Vec::as_slice).collect();
                pictures.push(superframe::join(&refs).unwrap());
                layers.clear();
            }
        }
        pictures
    }

    #[test]
    fn svc_superframes_go_out_as_layer_frames_like_chromium_sends_them() {
        let mut payloader = Vp9Payloader::default();
        let mut depacketizer = Vp9Depacketizer::default();
        let pictures = chromium_superframes();
        for (i, picture) in pictures.iter().enumerate() {
            let payloads = payloader
                .payload(1200, &Bytes::from(picture.clone()))
                .unwrap();
            let descriptors: Vec<_> = payloads
                .iter()
                .map(|p| Vp9Descriptor::parse(p).unwrap())
                .collect();
            let starts: Vec<u8> = descriptors
                .iter()
                .filter(|d| d.start_of_frame)
                .map(|d| d.spatial_id())
                .collect();
            assert_eq!(
                starts,
                vec![0, 1, 2],
                "picture {i}: one layer frame per layer"
            );
            let key = crate::media::keyframe::is_keyframe(crate::codec::Codec::Vp9, picture);
            assert!(key || i > 0, "the vector starts at a key picture");
            if key {
                let ss = descriptors[0]
                    .scalability
                    .as_ref()
                    .expect("SS on a key picture");
                assert_eq!(ss.resolutions, vec![(320, 180), (640, 360), (1280, 720)]);
                assert!(!descriptors[0].inter_picture_predicted);
            } else {
                assert!(descriptors.iter().all(|d| d.scalability.is_none()));
                assert!(descriptors.iter().all(|d| d.references == vec![1]));
            }
            assert!(descriptors[1..].iter().all(|d| d.scalability.is_none()));
            for payload in &payloads {
                depacketizer.push(payload).unwrap();
            }
            // Our own receiver makes the same picture, lower layers hidden.
            let received = depacketizer.finish().unwrap().unwrap();
            let frames = superframe::split(&received);
            assert_eq!(frames.len(), 3);
            assert_eq!(frames[2], superframe::split(picture)[2]);
        }
    }

    #[test]
    fn single_frames_go_out_as_chromium_l1t1() {
        let clip = crate::media::Clip::open(format!(
            "{}/../examples/media/testsrc-vp9.ivf",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut payloader = Vp9Payloader::default();
        for (i, sample) in clip.samples(0).take(3).enumerate() {
            let payloads = payloader.payload(300, &sample.data).unwrap();
            let d: Vec<_> = payloads
                .iter()
                .map(|p| Vp9Descriptor::parse(p).unwrap())
                .collect();
            assert!(
                d.iter()
                    .all(|d| d.layer.is_none() && d.flexible && d.long_picture_id)
            );
            assert!(d[0].start_of_frame && d.last().unwrap().end_of_frame);
            assert_eq!(
                d[0].scalability.is_some(),
                i == 0,
                "SS on the key frame only"
            );
            assert_eq!(d[0].inter_picture_predicted, i > 0);
            let body: Vec<u8> = payloads
                .iter()
                .zip(&d)
                .flat_map(|(p, d)| p[d.len..].to_vec())
                .collect();
            assert_eq!(body, sample.data.to_vec());
        }
    }
}
