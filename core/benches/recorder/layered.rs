//! Synthetic scalable video with real headers, for the recorder benchmark:
//! VP9 with three spatial layers (Chromium's own layer frames, from the test
//! vector `core/tests/data/rtp/chromium-vp9-l3t3-key.rtp`, grown with filler
//! to the target size), sent by `LocalTrack` as Chromium sends `L3T3_KEY`
//! (layer indices, scalability structure); and AV1 temporal units with three
//! spatial layers (a real sequence header, frame OBUs with extension headers
//! carrying the layer ids), as Chromium sends `L3T3`. Nobody decodes them;
//! the recorder reads exactly what it reads from a browser.

use bytes::Bytes;
use rtcgate_core::media::Clip;

/// Which video the senders send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoKind {
    /// Synthetic VP8, one layer.
    Vp8,
    /// VP9 with three spatial layers.
    Vp9Svc,
    /// AV1 with three spatial layers.
    Av1Svc,
}

impl VideoKind {
    pub fn parse(word: &str) -> Option<VideoKind> {
        match word {
            "vp8" => Some(VideoKind::Vp8),
            "vp9" | "vp9-svc" => Some(VideoKind::Vp9Svc),
            "av1" | "av1-svc" => Some(VideoKind::Av1Svc),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            VideoKind::Vp8 => "vp8",
            VideoKind::Vp9Svc => "vp9-l3",
            VideoKind::Av1Svc => "av1-l3",
        }
    }

    /// FFmpeg's name of the codec in the files.
    pub fn ffprobe_name(self) -> &'static str {
        match self {
            VideoKind::Vp8 => "vp8",
            VideoKind::Vp9Svc => "vp9",
            VideoKind::Av1Svc => "av1",
        }
    }
}

/// Share of a picture's bytes per spatial layer, lowest first.
const LAYER_SHARE: [usize; 3] = [10, 25, 65];

fn fill(data: &mut Vec<u8>, len: usize, seed: u32) {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.push(x as u8);
    }
}

/// Makes VP9 pictures of three spatial layers.
pub struct Vp9Svc {
    /// Layer frames of Chromium's key picture, then of two delta pictures.
    key: Vec<Vec<u8>>,
    deltas: Vec<Vec<Vec<u8>>>,
}

impl Vp9Svc {
    pub fn load() -> Vp9Svc {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rtp/chromium-vp9-l3t3-key.rtp"
        );
        let data = std::fs::read(path).expect("the VP9 test vector");
        let mut pictures: Vec<Vec<Vec<u8>>> = Vec::new();
        let (mut layers, mut current) = (Vec::new(), Vec::new());
        let mut rest = &data[..];
        while rest.len() >= 4 {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let packet = &rest[4..4 + len];
            rest = &rest[4 + len..];
            let marker = packet[1] & 0x80 != 0;
            let payload = rtp_payload(packet);
            let (start, end, header) = vp9_descriptor(payload);
            if start {
                current = Vec::new();
            }
            current.extend_from_slice(&payload[header..]);
            if end {
                layers.push(std::mem::take(&mut current));
            }
            if marker {
                pictures.push(std::mem::take(&mut layers));
            }
        }
        assert!(pictures.len() >= 3 && pictures[..3].iter().all(|p| p.len() == 3));
        Vp9Svc {
            key: pictures[0].clone(),
            deltas: vec![pictures[1].clone(), pictures[2].clone()],
        }
    }

    /// Picture `index` of `len` bytes: a superframe of its three layer frames.
    pub fn picture(&self, index: u32, keyframe: bool, len: usize) -> Bytes {
        let source = if keyframe {
            &self.key
        } else {
            &self.deltas[index as usize % 2]
        };
        let frames: Vec<Vec<u8>> = source
            .iter()
            .zip(LAYER_SHARE)
            .map(|(frame, share)| {
                let mut out = frame.clone();
                fill(&mut out, len * share / 100, index);
                out
            })
            .collect();
        Bytes::from(superframe(&frames))
    }
}

/// The payload of an RTP packet (after CSRCs and extensions, without padding).
fn rtp_payload(packet: &[u8]) -> &[u8] {
    let cc = usize::from(packet[0] & 0x0f);
    let mut offset = 12 + 4 * cc;
    if packet[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([packet[offset + 2], packet[offset + 3]]) as usize;
        offset += 4 + 4 * words;
    }
    let padding = if packet[0] & 0x20 != 0 {
        usize::from(packet[packet.len() - 1])
    } else {
        0
    };
    &packet[offset..packet.len() - padding]
}

/// B, E and the length of a VP9 payload descriptor in flexible mode without
/// a scalability structure beyond sizes (what the vector holds).
fn vp9_descriptor(p: &[u8]) -> (bool, bool, usize) {
    let b = p[0];
    let mut len = 1;
    if b & 0x80 != 0 {
        len += if p[1] & 0x80 != 0 { 2 } else { 1 };
    }
    let flexible = b & 0x10 != 0;
    if b & 0x20 != 0 {
        len += if flexible { 1 } else { 2 };
    }
    if flexible && b & 0x40 != 0 {
        while p[len] & 1 != 0 {
            len += 1;
        }
        len += 1;
    }
    if b & 0x02 != 0 {
        let ss = p[len];
        len += 1;
        let layers = usize::from(ss >> 5) + 1;
        if ss & 0x10 != 0 {
            len += 4 * layers;
        }
        assert_eq!(ss & 0x08, 0, "no picture group in Chromium's vector");
    }
    (b & 0x08 != 0, b & 0x04 != 0, len)
}

/// `frames` as a VP9 superframe with its index (4-byte sizes).
fn superframe(frames: &[Vec<u8>]) -> Vec<u8> {
    let marker = 0xc0 | (3 << 3) | (frames.len() as u8 - 1);
    let mut out: Vec<u8> = frames.concat();
    out.push(marker);
    for frame in frames {
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    }
    out.push(marker);
    out
}

/// Makes AV1 temporal units of three spatial layers.
pub struct Av1Svc {
    sequence_header: Vec<u8>,
}

impl Av1Svc {
    pub fn load() -> Av1Svc {
        let clip = Clip::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/media/testsrc-av1.ivf"
        ))
        .expect("the AV1 clip");
        let first = clip.samples(0).next().expect("a temporal unit").data;
        // OBUs of the first unit: keep the sequence header (type 1).
        let mut pos = 0;
        let mut sequence_header = None;
        while pos < first.len() {
            let header = first[pos];
            let ext = usize::from(header & 0x04 != 0);
            let (size, leb) = leb128(&first[pos + 1 + ext..]);
            let end = pos + 1 + ext + leb + size;
            if (header >> 3) & 0x0f == 1 {
                sequence_header = Some(first[pos..end].to_vec());
            }
            pos = end;
        }
        Av1Svc {
            sequence_header: sequence_header.expect("a sequence header"),
        }
    }

    /// Temporal unit `index` of `len` bytes: (on keyframes) the sequence
    /// header, then one frame OBU per spatial layer with its extension header.
    pub fn unit(&self, index: u32, keyframe: bool, len: usize) -> Bytes {
        let mut out = Vec::with_capacity(len + 32);
        if keyframe {
            out.extend_from_slice(&self.sequence_header);
        }
        let temporal_id = if keyframe {
            0
        } else {
            [2, 1, 2, 0][index as usize % 4]
        };
        for (spatial_id, share) in LAYER_SHARE.into_iter().enumerate() {
            let mut payload = Vec::new();
            fill(&mut payload, (len * share / 100).max(8), index);
            // Frame OBU (type 6) with an extension header and a size field.
            out.push((6 << 3) | 0x04 | 0x02);
            out.push(((temporal_id as u8) << 5) | ((spatial_id as u8) << 3));
            let mut size = payload.len();
            loop {
                let byte = (size & 0x7f) as u8;
                size >>= 7;
                out.push(if size > 0 { byte | 0x80 } else { byte });
                if size == 0 {
                    break;
                }
            }
            out.extend_from_slice(&payload);
        }
        Bytes::from(out)
    }
}

fn leb128(data: &[u8]) -> (usize, usize) {
    let mut value = 0usize;
    for (i, byte) in data.iter().enumerate().take(8) {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    (value, 8)
}
