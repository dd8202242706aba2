//! Reassembles one VP9 picture from the payloads of its RTP packets (RFC
//! 9628): each packet's descriptor says whether it starts (B) or ends (E) a
//! layer frame and which spatial layer that is; the picture's layer frames
//! up to a chosen spatial layer become one chunk, a superframe with its
//! index when there are several (as libvpx writes them), so that FFmpeg and
//! libvpx decode it the same way.
//!
//! Sans-I/O and stateless across pictures: a lost or malformed packet
//! costs its picture, never the pictures after it.

use std::fmt;

use bytes::{Bytes, BytesMut};

use super::descriptor::{DescriptorError, Vp9Descriptor};
use super::frame_header::{FrameHeader, RefSlots, hide};
use super::superframe;

/// Why a picture could not be reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vp9Error {
    /// A payload descriptor could not be read.
    Descriptor(DescriptorError),
    /// A packet continues a layer frame whose start (B) never came.
    NotStarted {
        /// Spatial layer of the packet.
        spatial_id: u8,
    },
    /// A layer frame started (B), or the picture ended, before the previous
    /// layer frame's end (E).
    Unfinished {
        /// Spatial layer of the unfinished frame.
        spatial_id: u8,
    },
    /// Spatial layers came out of order or twice in one picture.
    LayerOrder {
        /// The spatial layer that came.
        spatial_id: u8,
    },
    /// A layer frame predicts from the layer below (D=1), which the picture lacks.
    MissingLowerLayer {
        /// The layer frame that depends on it.
        spatial_id: u8,
    },
    /// More frames than a superframe index can list.
    TooManyFrames,
    /// A frame's uncompressed header could not be read (needed to hide the
    /// lower layers of a picture from the decoder's output).
    Header {
        /// Spatial layer of the frame.
        spatial_id: u8,
    },
}

impl fmt::Display for Vp9Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vp9Error::Descriptor(e) => e.fmt(f),
            Vp9Error::NotStarted { spatial_id } => write!(
                f,
                "VP9 packet continues a layer frame (S{spatial_id}) that never started"
            ),
            Vp9Error::Unfinished { spatial_id } => {
                write!(f, "VP9 layer frame S{spatial_id} did not end")
            }
            Vp9Error::LayerOrder { spatial_id } => {
                write!(f, "VP9 spatial layer S{spatial_id} out of order")
            }
            Vp9Error::MissingLowerLayer { spatial_id } => write!(
                f,
                "VP9 layer frame S{spatial_id} predicts from a lower layer the picture lacks"
            ),
            Vp9Error::TooManyFrames => write!(f, "VP9 picture has more than 8 frames"),
            Vp9Error::Header { spatial_id } => {
                write!(f, "VP9 frame header of layer S{spatial_id} unreadable")
            }
        }
    }
}

impl std::error::Error for Vp9Error {}

impl From<DescriptorError> for Vp9Error {
    fn from(e: DescriptorError) -> Self {
        Vp9Error::Descriptor(e)
    }
}

struct LayerFrame {
    spatial_id: u8,
    inter_layer_dependency: bool,
    data: BytesMut,
}

/// The layer frames of the picture being received.
#[derive(Default)]
pub struct Vp9Depacketizer {
    max_spatial_layer: Option<u8>,
    done: Vec<LayerFrame>,
    open: Option<LayerFrame>,
    /// The reference slots of a decoder fed with what `finish` returned.
    slots: RefSlots,
}

impl Vp9Depacketizer {
    /// Keeps spatial layers up to `layer` (0 = the lowest); `None` keeps all.
    pub fn set_max_spatial_layer(&mut self, layer: Option<u8>) {
        self.max_spatial_layer = layer;
    }

    /// Whether `payload` starts a layer frame (B=1), so a picture can start there.
    pub fn is_frame_start(payload: &[u8]) -> bool {
        payload.first().is_some_and(|b| b & 0x08 != 0)
    }

    /// Adds the next packet's payload of the current picture.
    pub fn push(&mut self, payload: &[u8]) -> Result<(), Vp9Error> {
        let descriptor = Vp9Descriptor::parse(payload)?;
        let spatial_id = descriptor.spatial_id();
        let body = &payload[descriptor.len..];
        if descriptor.start_of_frame {
            if let Some(open) = &self.open {
                return Err(Vp9Error::Unfinished {
                    spatial_id: open.spatial_id,
                });
            }
            if self.done.last().is_some_and(|l| l.spatial_id >= spatial_id) {
                return Err(Vp9Error::LayerOrder { spatial_id });
            }
            self.open = Some(LayerFrame {
                spatial_id,
                inter_layer_dependency: descriptor.layer.is_some_and(|l| l.inter_layer_dependency),
                data: BytesMut::with_capacity(body.len() * 2),
            });
        }
        let open = match self.open.as_mut() {
            Some(open) if open.spatial_id == spatial_id => open,
            _ => return Err(Vp9Error::NotStarted { spatial_id }),
        };
        open.data.extend_from_slice(body);
        if descriptor.end_of_frame {
            let frame = self.open.take().expect("open layer frame");
            self.done.push(frame);
        }
        Ok(())
    }

    /// Ends the picture: its layer frames up to the chosen spatial layer as
    /// one chunk. `Ok(None)` when the picture has no frame in those layers.
    pub fn finish(&mut self) -> Result<Option<Bytes>, Vp9Error> {
        let open = self.open.take();
        let layers = std::mem::take(&mut self.done);
        if let Some(open) = open {
            return Err(Vp9Error::Unfinished {
                spatial_id: open.spatial_id,
            });
        }
        let max = self.max_spatial_layer.unwrap_or(u8::MAX);
        let kept: Vec<&LayerFrame> = layers.iter().filter(|l| l.spatial_id <= max).collect();
        for (i, layer) in kept.iter().enumerate() {
            let below = i.checked_sub(1).map(|j| kept[j].spatial_id);
            if layer.inter_layer_dependency && below != layer.spatial_id.checked_sub(1) {
                return Err(Vp9Error::MissingLowerLayer {
                    spatial_id: layer.spatial_id,
                });
            }
        }
        let mut frames: Vec<(u8, &[u8])> = Vec::new();
        for layer in &kept {
            frames.extend(
                superframe::split(&layer.data)
                    .into_iter()
                    .map(|f| (layer.spatial_id, f)),
            );
        }
        if frames.len() > superframe::MAX_FRAMES {
            return Err(Vp9Error::TooManyFrames);
        }
        // Every frame but the last is hidden, so that decoders output one
        // picture at one size (Chromium shows every layer frame).
        let mut out: Vec<Vec<u8>> = Vec::with_capacity(frames.len());
        let last = frames.len().saturating_sub(1);
        for (i, (spatial_id, frame)) in frames.into_iter().enumerate() {
            let header =
                FrameHeader::parse(frame, &self.slots).ok_or(Vp9Error::Header { spatial_id })?;
            let frame = if i == last {
                frame.to_vec()
            } else {
                hide(frame, &header).ok_or(Vp9Error::Header { spatial_id })?
            };
            self.slots.update(&header);
            out.push(frame);
        }
        let refs: Vec<&[u8]> = out.iter().map(Vec::as_slice).collect();
        match refs.len() {
            0 => Ok(None),
            1 => Ok(out.pop().map(Bytes::from)),
            _ => superframe::join(&refs)
                .map(|joined| Some(Bytes::from(joined)))
                .ok_or(Vp9Error::TooManyFrames),
        }
    }

    /// Forgets the picture being received (after a loss).
    pub fn reset(&mut self) {
        self.open = None;
        self.done.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp_dump;

    /// The pictures of a vector, with spatial layers up to `max`.
    fn pictures(name: &str, max: Option<u8>) -> Vec<Bytes> {
        let mut d = Vp9Depacketizer::default();
        d.set_max_spatial_layer(max);
        let mut out = Vec::new();
        for packet in rtp_dump::read(name) {
            d.push(&packet.payload).expect("packet");
            if packet.header.marker {
                out.push(d.finish().expect("picture").expect("frames"));
            }
        }
        out
    }

    fn headers(chunk: &[u8]) -> Vec<FrameHeader> {
        // Sizes of inter frames come from their references: follow them.
        let slots = RefSlots::default();
        superframe::split(chunk)
            .into_iter()
            .map(|f| FrameHeader::parse(f, &slots).expect("a VP9 frame"))
            .collect()
    }

    #[test]
    fn a_key_picture_becomes_a_superframe_showing_only_its_top_layer() {
        let all = pictures("chromium-vp9-l3t3-key.rtp", None);
        assert_eq!(all.len(), 7);
        let frames = superframe::split(&all[0]);
        assert_eq!(frames.len(), 3, "S0, S1, S2 with an index");
        let key = headers(&all[0]);
        let sizes: Vec<_> = key.iter().map(|h| h.size).collect();
        assert_eq!(
            sizes,
            vec![Some((320, 180)), Some((640, 360)), Some((1280, 720))]
        );
        let shown: Vec<_> = key.iter().map(|h| h.show_frame).collect();
        assert_eq!(shown, vec![false, false, true]);
        assert!(key[0].key && !key[1].key && !key[1].intra_only);
        assert!(crate::media::keyframe::is_keyframe(
            crate::codec::Codec::Vp9,
            &all[0]
        ));
        // Delta pictures carry their three layers too (K-SVC: only the key
        // picture predicts between layers, but every layer is kept).
        assert!(all[1..].iter().all(|p| superframe::split(p).len() == 3));
    }

    /// Hiding a frame changes its first header bits only: an inter frame
    /// gains the intra_only bit, and everything after the uncompressed
    /// header is the same bytes.
    #[test]
    fn hidden_layer_frames_keep_their_coded_data() {
        let mut d = Vp9Depacketizer::default();
        let mut layers: Vec<Vec<u8>> = Vec::new();
        let mut current = Vec::new();
        for packet in rtp_dump::read("chromium-vp9-l3t3-key.rtp") {
            let desc = Vp9Descriptor::parse(&packet.payload).unwrap();
            current.extend_from_slice(&packet.payload[desc.len..]);
            if desc.end_of_frame {
                layers.push(std::mem::take(&mut current));
            }
            d.push(&packet.payload).unwrap();
            if packet.header.marker {
                break;
            }
        }
        let picture = d.finish().unwrap().unwrap();
        let out = superframe::split(&picture);
        let slots = RefSlots::default();
        assert_eq!(out.len(), 3);
        for (original, written) in layers.iter().zip(&out).take(2) {
            let before = FrameHeader::parse(original, &slots).unwrap();
            let after = FrameHeader::parse(written, &slots).unwrap();
            let (b, a) = (before.header_bits.unwrap(), after.header_bits.unwrap());
            assert_eq!(a, b + usize::from(!before.key));
            assert_eq!(
                &original[b.div_ceil(8)..],
                &written[a.div_ceil(8)..],
                "compressed header and tiles unchanged"
            );
            assert_eq!((after.size, after.key), (before.size, before.key));
        }
        assert_eq!(out[2], &layers[2][..], "the shown top layer is untouched");
    }

    #[test]
    fn a_lower_spatial_layer_can_be_chosen() {
        for (max, size) in [(0, (320, 180)), (1, (640, 360))] {
            let all = pictures("chromium-vp9-l3t3-key.rtp", Some(max));
            assert_eq!(all.len(), 7);
            let key = headers(&all[0]);
            assert_eq!(key.len(), usize::from(max) + 1);
            let top = key.last().unwrap();
            assert_eq!((top.size, top.show_frame), (Some(size), true));
            assert!(key[..key.len() - 1].iter().all(|h| !h.show_frame));
        }
    }

    #[test]
    fn single_layer_streams_pass_unchanged() {
        for name in ["chromium-vp9-l1t1.rtp", "gstreamer-vp9-non-flexible.rtp"] {
            let packets = rtp_dump::read(name);
            let all = pictures(name, None);
            let ends = packets.iter().filter(|p| p.header.marker).count();
            assert_eq!(all.len(), ends, "{name}: one frame per picture");
            for picture in &all {
                assert_eq!(superframe::split(picture).len(), 1);
                assert!(
                    FrameHeader::parse(picture, &RefSlots::default())
                        .unwrap()
                        .show_frame
                );
            }
        }
    }

    #[test]
    fn broken_pictures_are_errors() {
        let packets = rtp_dump::read("chromium-vp9-l3t3-key.rtp");
        let key: Vec<_> = packets
            .iter()
            .take_while(|p| p.header.timestamp == packets[0].header.timestamp)
            .collect();
        // A continuation packet without its start.
        let mut d = Vp9Depacketizer::default();
        assert_eq!(
            d.push(&key[1].payload),
            Err(Vp9Error::NotStarted { spatial_id: 0 })
        );
        // S0's end lost, S1 starts.
        let mut d = Vp9Depacketizer::default();
        d.push(&key[0].payload).unwrap();
        assert_eq!(
            d.push(&key[2].payload),
            Err(Vp9Error::Unfinished { spatial_id: 0 })
        );
        // S0 missing entirely: S1 predicts from it.
        let mut d = Vp9Depacketizer::default();
        for p in key.iter().skip(2) {
            d.push(&p.payload).unwrap();
        }
        assert_eq!(
            d.finish(),
            Err(Vp9Error::MissingLowerLayer { spatial_id: 1 })
        );
        // The picture ends inside a layer frame.
        let mut d = Vp9Depacketizer::default();
        d.push(&key[0].payload).unwrap();
        assert_eq!(d.finish(), Err(Vp9Error::Unfinished { spatial_id: 0 }));
        // After an error the next picture starts clean.
        let next: Vec<_> = packets.iter().skip(key.len()).take(3).collect();
        for p in &next {
            d.push(&p.payload).unwrap();
        }
        assert!(d.finish().unwrap().is_some());
    }

    /// FFmpeg's VP9 decoder and libvpx decode the reassembled pictures to
    /// the same images, one per picture, at the top layer's size. Needs
    /// `ffmpeg` with libvpx (installed by `.ci/setup`).
    #[test]
    fn ffmpeg_and_libvpx_decode_the_same_pictures() {
        for max in [None, Some(1)] {
            let all = pictures("chromium-vp9-l3t3-key.rtp", max);
            let dir = std::env::temp_dir().join(format!("rtcgate-vp9-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let ivf = dir.join(format!("l3t3-{max:?}.ivf"));
            std::fs::write(&ivf, ivf_file(&all)).unwrap();
            let decode = |decoder: &str| -> Vec<String> {
                let out = std::process::Command::new("ffmpeg")
                    .args(["-v", "error", "-xerror", "-c:v", decoder, "-i"])
                    .arg(&ivf)
                    .args(["-f", "framemd5", "-"])
                    .output()
                    .expect("ffmpeg (run .ci/setup)");
                assert!(
                    out.status.success(),
                    "{decoder}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout)
                    .unwrap()
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(|l| l.rsplit(',').next().unwrap().trim().to_owned())
                    .collect()
            };
            let ffmpeg = decode("vp9");
            let libvpx = decode("libvpx-vp9");
            assert_eq!(ffmpeg.len(), all.len(), "one image per picture");
            assert_eq!(ffmpeg, libvpx, "max layer {max:?}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// An IVF file holding `frames` (picture size in the file header unused by decoders).
    fn ivf_file(frames: &[Bytes]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"DKIF");
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&32u16.to_le_bytes());
        out.extend_from_slice(b"VP90");
        out.extend_from_slice(&1280u16.to_le_bytes());
        out.extend_from_slice(&720u16.to_le_bytes());
        out.extend_from_slice(&30u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for (i, frame) in frames.iter().enumerate() {
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&(i as u64).to_le_bytes());
            out.extend_from_slice(frame);
        }
        out
    }
}
