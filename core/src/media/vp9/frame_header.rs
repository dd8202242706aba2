//! A VP9 frame's uncompressed header (VP9 bitstream specification 6.2),
//! read to the end: frame type, whether the frame is shown, its size, the
//! reference slots it refreshes, and how long the header is, which is what
//! [`hide`] needs to turn a shown frame into a hidden one.
//!
//! An inter frame may take its size from a reference slot (`found_ref`),
//! and the size decides how many tile bits follow, so [`RefSlots`] follows
//! the slot sizes through the stream as a decoder does.

use crate::media::bitstream::BitReader;

const SYNC_CODE: u32 = 0x49_83_42;

/// What a VP9 frame's uncompressed header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Profile 0–3.
    pub profile: u8,
    /// The frame only shows an earlier frame (no new picture).
    pub show_existing_frame: bool,
    /// A key frame (frame_type 0): decodable on its own, refreshes every slot.
    pub key: bool,
    /// An intra-only frame (decodable on its own, keeps the other slots).
    pub intra_only: bool,
    /// Whether the decoder outputs the frame.
    pub show_frame: bool,
    /// Error-resilient mode.
    pub error_resilient: bool,
    /// The reference slots the frame refreshes (a bit per slot).
    pub refresh_frame_flags: u8,
    /// Width and height: stated by the header, or those of the reference
    /// slot it names (when [`RefSlots`] knows them).
    pub size: Option<(u32, u32)>,
    /// Length of the uncompressed header in bits, without its trailing
    /// alignment bits; `None` when it could not be read to the end.
    pub header_bits: Option<usize>,
}

/// The picture sizes in a decoder's eight reference slots, as far as known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefSlots([Option<(u32, u32)>; 8]);

impl RefSlots {
    /// Records what decoding `header` leaves in the slots.
    pub fn update(&mut self, header: &FrameHeader) {
        for (i, slot) in self.0.iter_mut().enumerate() {
            if header.refresh_frame_flags & (1 << i) != 0 {
                *slot = header.size;
            }
        }
    }
}

impl FrameHeader {
    /// Reads the header at the start of `frame`, with the slot sizes
    /// `slots` for inter frames; `None` when it is not a VP9 frame.
    pub fn parse(frame: &[u8], slots: &RefSlots) -> Option<FrameHeader> {
        let mut r = BitReader::new(frame);
        if r.bits(2)? != 2 {
            return None;
        }
        let profile = (r.bit()? | (r.bit()? << 1)) as u8;
        if profile == 3 {
            r.bit()?; // reserved_zero
        }
        let mut h = FrameHeader {
            profile,
            show_existing_frame: r.bit()? == 1,
            key: false,
            intra_only: false,
            show_frame: true,
            error_resilient: false,
            refresh_frame_flags: 0,
            size: None,
            header_bits: None,
        };
        if h.show_existing_frame {
            r.bits(3)?; // frame_to_show_map_idx
            h.header_bits = Some(r.position());
            return Some(h);
        }
        h.key = r.bit()? == 0;
        h.show_frame = r.bit()? == 1;
        h.error_resilient = r.bit()? == 1;
        // The rest is best effort: a header cut short still tells the above.
        let _ = read_rest(&mut r, &mut h, slots);
        Some(h)
    }
}

/// Everything after error_resilient_mode; fills `h` as it goes.
fn read_rest(r: &mut BitReader<'_>, h: &mut FrameHeader, slots: &RefSlots) -> Option<()> {
    if h.key {
        sync_code(r)?;
        color_config(r, h.profile)?;
        h.refresh_frame_flags = 0xff;
        h.size = Some(frame_size(r)?);
        render_size(r)?;
    } else {
        h.intra_only = !h.show_frame && r.bit()? == 1;
        if !h.error_resilient {
            r.bits(2)?; // reset_frame_context
        }
        if h.intra_only {
            sync_code(r)?;
            if h.profile > 0 {
                color_config(r, h.profile)?;
            }
            h.refresh_frame_flags = r.bits(8)? as u8;
            h.size = Some(frame_size(r)?);
            render_size(r)?;
        } else {
            h.refresh_frame_flags = r.bits(8)? as u8;
            let mut refs = [0usize; 3];
            for slot in &mut refs {
                *slot = r.bits(3)? as usize;
                r.bit()?; // ref_frame_sign_bias
            }
            let mut size = None;
            for slot in refs {
                if r.bit()? == 1 {
                    size = Some(slots.0[slot]);
                    break;
                }
            }
            h.size = match size {
                Some(known) => known,
                None => Some(frame_size(r)?),
            };
            render_size(r)?;
            r.bit()?; // allow_high_precision_mv
            if r.bit()? == 0 {
                r.bits(2)?; // raw_interpolation_filter
            }
        }
    }
    if !h.error_resilient {
        r.bits(2)?; // refresh_frame_context, frame_parallel_decoding_mode
    }
    r.bits(2)?; // frame_context_idx
    loop_filter_params(r)?;
    quantization_params(r)?;
    segmentation_params(r)?;
    let (width, _) = h.size?;
    tile_info(r, width)?;
    r.bits(16)?; // header_size_in_bytes
    h.header_bits = Some(r.position());
    Some(())
}

fn sync_code(r: &mut BitReader<'_>) -> Option<()> {
    (r.bits(24)? == SYNC_CODE).then_some(())
}

fn color_config(r: &mut BitReader<'_>, profile: u8) -> Option<()> {
    if profile >= 2 {
        r.bit()?; // ten_or_twelve_bit
    }
    let color_space = r.bits(3)?;
    if color_space != 7 {
        r.bit()?; // color_range
        if profile == 1 || profile == 3 {
            r.bits(3)?; // subsampling_x, subsampling_y, reserved_zero
        }
    } else if profile == 1 || profile == 3 {
        r.bit()?; // reserved_zero
    }
    Some(())
}

fn frame_size(r: &mut BitReader<'_>) -> Option<(u32, u32)> {
    let width = r.bits(16)? + 1;
    let height = r.bits(16)? + 1;
    Some((width, height))
}

fn render_size(r: &mut BitReader<'_>) -> Option<()> {
    if r.bit()? == 1 {
        r.bits(32)?; // render_width_minus_1, render_height_minus_1
    }
    Some(())
}

/// A signed value: `bits` of magnitude, then the sign.
fn signed(r: &mut BitReader<'_>, bits: u32) -> Option<()> {
    r.bits(bits + 1).map(|_| ())
}

fn loop_filter_params(r: &mut BitReader<'_>) -> Option<()> {
    r.bits(6 + 3)?; // loop_filter_level, loop_filter_sharpness
    if r.bit()? == 1 && r.bit()? == 1 {
        // loop_filter_delta_enabled, loop_filter_delta_update
        for _ in 0..4 + 2 {
            if r.bit()? == 1 {
                signed(r, 6)?;
            }
        }
    }
    Some(())
}

fn quantization_params(r: &mut BitReader<'_>) -> Option<()> {
    r.bits(8)?; // base_q_idx
    for _ in 0..3 {
        if r.bit()? == 1 {
            signed(r, 4)?; // delta_q
        }
    }
    Some(())
}

fn segmentation_params(r: &mut BitReader<'_>) -> Option<()> {
    if r.bit()? == 0 {
        return Some(()); // segmentation_enabled
    }
    if r.bit()? == 1 {
        // segmentation_update_map: tree probabilities, then temporal update.
        for _ in 0..7 {
            read_prob(r)?;
        }
        if r.bit()? == 1 {
            for _ in 0..3 {
                read_prob(r)?;
            }
        }
    }
    if r.bit()? == 1 {
        // segmentation_update_data
        r.bit()?; // segmentation_abs_or_delta_update
        const FEATURE_BITS: [u32; 4] = [8, 6, 2, 0];
        const FEATURE_SIGNED: [bool; 4] = [true, true, false, false];
        for _ in 0..8 {
            for (bits, is_signed) in FEATURE_BITS.into_iter().zip(FEATURE_SIGNED) {
                if r.bit()? == 1 {
                    r.bits(bits)?;
                    if is_signed {
                        r.bit()?;
                    }
                }
            }
        }
    }
    Some(())
}

fn read_prob(r: &mut BitReader<'_>) -> Option<()> {
    if r.bit()? == 1 {
        r.bits(8)?;
    }
    Some(())
}

fn tile_info(r: &mut BitReader<'_>, width: u32) -> Option<()> {
    let sb64_cols = (width.div_ceil(8)).div_ceil(8);
    let mut min_log2 = 0;
    while (64 << min_log2) < sb64_cols {
        min_log2 += 1;
    }
    let mut max_log2 = 1;
    while (sb64_cols >> max_log2) >= 4 {
        max_log2 += 1;
    }
    max_log2 -= 1;
    let mut cols_log2 = min_log2;
    while cols_log2 < max_log2 {
        if r.bit()? == 1 {
            cols_log2 += 1;
        } else {
            break;
        }
    }
    if r.bit()? == 1 {
        r.bit()?; // increment_tile_rows_log2
    }
    Some(())
}

/// `frame` with show_frame cleared, so that a decoder updates its
/// references with it but does not output it: what libvpx writes for the
/// lower layers of a picture. An inter frame gains the intra_only bit that
/// hidden frames carry (set to 0), which shifts the rest of its
/// uncompressed header by one bit. Returns `None` when the header could not
/// be read to its end.
pub fn hide(frame: &[u8], header: &FrameHeader) -> Option<Vec<u8>> {
    if !header.show_frame || header.show_existing_frame {
        return Some(frame.to_vec());
    }
    let header_bits = header.header_bits?;
    let show_frame_bit = if header.profile == 3 { 7 } else { 6 };
    let insert_at = show_frame_bit + 2; // after error_resilient_mode
    let header_bytes = header_bits.div_ceil(8);
    if frame.len() < header_bytes {
        return None;
    }
    let bit = |i: usize| (frame[i / 8] >> (7 - i % 8)) & 1;
    let mut out = BitWriter::default();
    for i in 0..header_bits {
        if !header.key && i == insert_at {
            out.push(0); // intra_only
        }
        out.push(if i == show_frame_bit { 0 } else { bit(i) });
    }
    let mut bytes = out.finish();
    bytes.extend_from_slice(&frame[header_bytes..]);
    Some(bytes)
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    fn push(&mut self, bit: u8) {
        if self.bits.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit != 0 {
            *self.bytes.last_mut().expect("a byte") |= 0x80 >> (self.bits % 8);
        }
        self.bits += 1;
    }

    /// The bytes written, the last one padded with zero bits.
    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}
